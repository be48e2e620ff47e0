/**
 * The tracked-execution record: its TypeScript shape, its key lists and the
 * figures derived from it. schema/wire/message.schema.json
 * (definitions.record) is the source of truth; this module is the one TS
 * statement of it, so that the protocol check, the saved cell metadata, the
 * CSV export, the table, the badges and the plot cannot drift apart.
 * record.spec.ts checks the key lists against the schema.
 */

/** One line of the cell's allocation table (memory_profiler style). */
export interface ITopLine {
  line: number;
  code: string;
  increment: number;
  occurrences: number;
}

/** Object count change for one type during the cell. */
export interface ITypeDelta {
  type: string;
  count_delta: number;
  size_delta?: number | null;
}

/** A user variable created, rebound or resized by the cell. */
export interface IVariableSize {
  name: string;
  type: string;
  size: number | null;
  delta?: number | null;
  partial?: boolean;
}

/** Garbage collector activity during the cell. */
export interface IGcStats {
  collections?: number[];
  collected?: number;
  uncollectable?: number;
}

/** Where the kernel read its memory limit (the schema's memoryLimit.source). */
export type LimitSource = 'cgroup-v2' | 'cgroup-v1' | 'meminfo' | 'none';

export const LIMIT_SOURCES: readonly LimitSource[] = ['cgroup-v2', 'cgroup-v1', 'meminfo', 'none'];

/**
 * The memory limit that will kill the kernel (definitions.memoryLimit): the
 * cgroup's when one is set, else the machine's memory; bytes null when unknown.
 */
export interface IMemoryLimit {
  bytes: number | null;
  source: LimitSource;
  /** What counts against the limit now: the cgroup's usage, else the kernel's RSS. */
  usage?: number | null;
  /** bytes - usage (may be negative). */
  headroom?: number | null;
}

/**
 * What the flight record of a kernel that died during a cell last said: on the
 * KernelDied record the kernel adds when it starts again (record.died).
 */
export interface IKernelDeath {
  /** true: the out-of-memory killer; false: killed otherwise; null: no counter to read. */
  oom_killed: boolean | null;
  last_rss: number | null;
  peak: number | null;
  memory_limit: number | null;
  limit_source?: LimitSource;
  last_sample_at: string | null;
  pid?: number | null;
}

/**
 * One tracked execution, as defined by schema/wire/message.schema.json.
 * Bytes are integers; null means "not measured".
 */
export interface IMemtrackRecord {
  seq: number;
  execution_count: number | null;
  cell_id: string | null;
  label: string | null;
  mode: 'light' | 'deep';
  started_at: string;
  duration_s: number;
  rss_before: number | null;
  rss_after: number | null;
  rss_peak: number | null;
  traced_delta: number | null;
  traced_peak: number | null;
  top_lines: ITopLine[];
  types: ITypeDelta[];
  variables: IVariableSize[];
  gc: IGcStats | null;
  error: string | null;
  leaks: Record<string, unknown>[];
  /** Only on the record of the cell during which the previous kernel process died. */
  died?: IKernelDeath;
  /** Read back from the notebook's cell metadata (src/cellMetadata.ts), not from a kernel. */
  saved?: boolean;
}

/**
 * The keys every record carries, in the schema's order (its `required`): the
 * protocol check walks them, so a key added here without a check does not compile.
 */
export const RECORD_KEYS = [
  'seq',
  'execution_count',
  'cell_id',
  'label',
  'mode',
  'started_at',
  'duration_s',
  'rss_before',
  'rss_after',
  'rss_peak',
  'traced_delta',
  'traced_peak',
  'top_lines',
  'types',
  'variables',
  'gc',
  'error',
  'leaks'
] as const satisfies readonly (keyof IMemtrackRecord)[];

export type RecordKey = (typeof RECORD_KEYS)[number];

/** The byte fields: integers, or null when not measured. */
export const BYTE_KEYS = [
  'rss_before',
  'rss_after',
  'rss_peak',
  'traced_delta',
  'traced_peak'
] as const satisfies readonly RecordKey[];

export type ByteKey = (typeof BYTE_KEYS)[number];

/**
 * Columns of the CSV export, in order: the schema's `x-csv-columns` (the
 * kernel's export writes the same), scalar fields with bytes as integers and
 * the leak suspects as their count.
 */
export const CSV_COLUMNS = [
  'seq',
  'execution_count',
  'cell_id',
  'label',
  'mode',
  'started_at',
  'duration_s',
  'rss_before',
  'rss_after',
  'rss_peak',
  'traced_delta',
  'traced_peak',
  'error',
  'leaks'
] as const satisfies readonly RecordKey[];

/**
 * The net change a record stands for: traced when measured, else RSS
 * (record_delta in python_ext/memtrack/record.py).
 */
export function recordDelta(record: IMemtrackRecord): number | null {
  if (record.traced_delta !== null) {
    return record.traced_delta;
  }
  if (record.rss_before !== null && record.rss_after !== null) {
    return record.rss_after - record.rss_before;
  }
  return null;
}

/**
 * The peak a record reached, in bytes above its start (traced) or absolute
 * (RSS) (record_peak in python_ext/memtrack/record.py).
 */
export function recordPeak(record: IMemtrackRecord): number | null {
  return record.traced_peak ?? record.rss_peak;
}

/**
 * A record's start time in ms, for ordering; unparsable times give 0, so they
 * sort first instead of making the comparison NaN (which breaks a sort).
 */
export function startedAtMs(record: { started_at: string }): number {
  const ms = Date.parse(record.started_at);
  return Number.isNaN(ms) ? 0 : ms;
}

/** Whether a record stands for a cell during which the kernel died. */
export function isDeathRecord(record: IMemtrackRecord): boolean {
  return record.died !== undefined || record.error === 'KernelDied';
}

/** What identifies one run of a cell across the kernel's history and the saved metadata. */
export function runKey(record: IMemtrackRecord): string {
  return `${record.cell_id}|${record.started_at}|${record.execution_count}`;
}
