/**
 * The tracked-execution record: its TypeScript shape, its key lists and the
 * figures derived from it. schema/wire/message.schema.json
 * (definitions.record) is the source of truth; this module is the one TS
 * statement of it, so that the protocol check, the saved cell metadata, the
 * CSV export, the table, the badges and the plot cannot drift apart.
 * record.spec.ts checks the key lists against the schema.
 */
import { gpuDelta, gpuLevel, gpuPeak } from './gpuFigures';

/** One line of the cell's allocation table (memory_profiler style). */
export interface ITopLine {
  line: number;
  code: string;
  increment: number;
  occurrences: number;
  /** A line inside a block, estimated from sampled allocations (part of its block's row). */
  sampled?: boolean;
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
  /** In live messages while a GPU library is in use: its devices' total memory (null: unknown). */
  gpu_capacity?: number | null;
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

/** What a record stands for: a tracked cell (deep: tracemalloc on), or a release from the leak list. */
export type RecordMode = 'light' | 'deep' | 'release';

export const RECORD_MODES: readonly RecordMode[] = ['light', 'deep', 'release'];

/**
 * What the allocated figures read (the schema's alloc_method): an allocator's
 * counter, or why there are none in this session ('too-slow', 'unavailable').
 */
export type AllocMethod =
  'mallinfo2' | 'malloc_zone_statistics' | 'native' | 'too-slow' | 'unavailable';

/**
 * What counted a deep record's traced figures (the schema's traced_engine):
 * memtrack's native hooks, or tracemalloc (the fallback).
 */
export type TracedEngine = 'native' | 'tracemalloc';

export const TRACED_ENGINES: readonly TracedEngine[] = ['native', 'tracemalloc'];

export const ALLOC_METHODS: readonly AllocMethod[] = [
  'mallinfo2',
  'malloc_zone_statistics',
  'native',
  'too-slow',
  'unavailable'
];

/** On a 'release' record: what the leak list released, expected to free and measured freeing. */
export interface IRelease {
  action: string;
  expected_bytes: number | null;
  freed_bytes: number | null;
  /** What freed_bytes measured: traced memory while tracemalloc traces, else RSS. */
  freed_measure?: 'traced' | 'rss' | null;
}

/** What became of one dask worker over the cell (record.cluster.workers[].status). */
export type WorkerStatus = 'stayed' | 'joined' | 'gone' | 'unreadable';

export const WORKER_STATUSES: readonly WorkerStatus[] = ['stayed', 'joined', 'gone', 'unreadable'];

/** One dask worker's memory over the cell (null: not read at that end). */
export interface IClusterWorker {
  address: string;
  name?: string;
  status: WorkerStatus;
  rss_before?: number | null;
  rss_after?: number | null;
  rss_peak?: number | null;
  managed_before?: number | null;
  managed_after?: number | null;
}

/** How a record's cluster reading went (record.cluster.status). */
export type ClusterStatus = 'measured' | 'skipped' | 'unreachable';

export const CLUSTER_STATUSES: readonly ClusterStatus[] = ['measured', 'skipped', 'unreachable'];

/** The byte figures of a cluster reading: totals over its workers, and each worker's. */
export const CLUSTER_BYTE_KEYS = [
  'rss_before',
  'rss_after',
  'rss_peak',
  'managed_before',
  'managed_after'
] as const;

/**
 * A dask cluster's memory over the cell (record.cluster), when the kernel had
 * an active client: totals (sums over the workers read at each end; rss_peak
 * the sum of each worker's own peak) and at most 8 workers.
 */
export interface ICluster {
  scheduler: string;
  status: ClusterStatus;
  reason?: string;
  workers_total?: number;
  rss_before?: number | null;
  rss_after?: number | null;
  rss_peak?: number | null;
  managed_before?: number | null;
  managed_after?: number | null;
  memory_limit?: number | null;
  /** 'ends': some worker could not reset its peak, so its peak is the larger of its ends. */
  peak_scope?: 'cell' | 'ends';
  workers?: IClusterWorker[];
  read_s?: number;
}

/** The GPU libraries whose memory a record may carry (record.gpu[].library). */
export const GPU_LIBRARIES = ['torch', 'cupy', 'jax'] as const;

/** The byte figures of a record.gpu entry. */
export const GPU_BYTE_KEYS = [
  'allocated_before',
  'allocated_after',
  'peak',
  'peak_bound',
  'reserved_before',
  'reserved_after',
  'capacity',
  'process_used_before',
  'process_used_after'
] as const;

/**
 * One GPU library's memory on one device over the cell (record.gpu): its
 * allocator's counters; peak exact with peak_scope 'cell' or 'reset', at least
 * peak and at most peak_bound with 'bounded', a lower bound with 'ends'.
 */
export interface IGpuEntry {
  library: (typeof GPU_LIBRARIES)[number];
  /** null on an entry that only says why the library could not be read. */
  device: number | null;
  name?: string;
  allocated_before?: number | null;
  allocated_after?: number | null;
  peak?: number | null;
  peak_scope?: 'cell' | 'reset' | 'bounded' | 'ends';
  peak_bound?: number | null;
  reserved_before?: number | null;
  reserved_after?: number | null;
  capacity?: number | null;
  process_used_before?: number | null;
  process_used_after?: number | null;
  read_s?: number;
  error?: string;
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
  mode: RecordMode;
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
  /** 'process': rss_peak could not be reset for the cell, so it is the process's lifetime peak. */
  rss_peak_scope?: 'cell' | 'process' | null;
  /** With 'cell+freed-estimate': older memory the cell freed, already in traced_delta. */
  freed_estimate?: number | null;
  /** The allocated metric (see the schema): absent where the kernel does not read it. */
  alloc_before?: number | null;
  alloc_after?: number | null;
  alloc_delta?: number | null;
  alloc_peak?: number | null;
  alloc_method?: AllocMethod;
  traced_engine?: TracedEngine | null;
  /** tracemalloc's own tables at the end of a deep cell: the tracer's memory, not the user's. */
  tracer_memory?: number | null;
  /** How much of rss_after is tracemalloc's own memory. */
  rss_after_tracer?: number | null;
  /** Only on a 'release' record. */
  release?: IRelease;
  /** Only on the record of the cell during which the previous kernel process died. */
  died?: IKernelDeath;
  /** Only while the kernel has an active dask client. */
  cluster?: ICluster;
  /** Only when a GPU library was initialised on a GPU (absent or null otherwise). */
  gpu?: IGpuEntry[] | null;
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
 * The optional byte fields (the schema's other nullableBytes properties): the
 * protocol check rejects anything but an integer or null when one is present.
 */
export const OPTIONAL_BYTE_KEYS = [
  'freed_estimate',
  'alloc_before',
  'alloc_after',
  'alloc_delta',
  'alloc_peak',
  'tracer_memory',
  'rss_after_tracer'
] as const satisfies readonly Exclude<keyof IMemtrackRecord, RecordKey>[];

/**
 * Columns of the CSV export, in order: the schema's `x-csv-columns` (the
 * kernel's export writes the same), scalar fields with bytes as integers and
 * the leak suspects as their count; `cluster.x` is that key of the cluster.
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
  'leaks',
  'alloc_delta',
  'alloc_method',
  ...CLUSTER_BYTE_KEYS.map(key => `cluster.${key}` as const)
] as const;

/** A CSV column's value in the record (`cluster.x`: that key of its cluster). */
export function csvValue(record: IMemtrackRecord, column: (typeof CSV_COLUMNS)[number]): unknown {
  if (column.startsWith('cluster.')) {
    const key = column.slice('cluster.'.length) as (typeof CLUSTER_BYTE_KEYS)[number];
    return record.cluster?.[key];
  }
  return record[column as keyof IMemtrackRecord];
}

/**
 * The figures a record offers, each with one meaning (METRICS in
 * python_ext/memtrack/record.py): 'rss' the process's resident memory as the
 * OS counts it, 'allocated' what the allocators hold for live blocks,
 * 'traced' what tracemalloc saw the cell allocate (deep cells only), 'gpu'
 * what the GPU libraries' allocators hold, summed over devices (gpuFigures.ts).
 */
export type Metric = 'rss' | 'allocated' | 'traced' | 'gpu';

export const METRICS: readonly Metric[] = ['rss', 'allocated', 'traced', 'gpu'];

/** RSS after the cell less tracemalloc's own memory in it: the user's part of the process. */
function rssLevel(record: IMemtrackRecord): number | null {
  return record.rss_after === null ? null : record.rss_after - (record.rss_after_tracer ?? 0);
}

/**
 * The record's change over the cell in `metric`, or null where the record
 * lacks that metric: never another metric in its place (record_delta in
 * python_ext/memtrack/record.py).
 */
export function recordDelta(record: IMemtrackRecord, metric: Metric): number | null {
  switch (metric) {
    case 'rss':
      // Both ends alike: rss_after_tracer is the plot level's correction only (with tracing
      // going on, rss_before holds the tracer's tables too).
      return record.rss_after === null || record.rss_before === null
        ? null
        : record.rss_after - record.rss_before;
    case 'allocated':
      return record.alloc_delta ?? null;
    case 'traced':
      return record.traced_delta;
    case 'gpu':
      return gpuDelta(record);
  }
}

/**
 * The peak of `metric` during the cell, in bytes above the cell's start, or
 * null where the record lacks it (record_peak in python_ext/memtrack/record.py).
 */
export function recordPeak(record: IMemtrackRecord, metric: Metric): number | null {
  switch (metric) {
    case 'rss':
      return record.rss_peak === null || record.rss_before === null
        ? null
        : Math.max(0, record.rss_peak - record.rss_before);
    case 'allocated':
      return record.alloc_peak ?? null;
    case 'traced':
      return record.traced_peak;
    case 'gpu':
      return gpuPeak(record);
  }
}

/**
 * The absolute level of `metric` at the cell's end and start (the plot's
 * line), or null: traced memory has none (tracemalloc counts from when it
 * starts), so the plot sums its deltas instead (series.ts).
 */
export function recordLevel(
  record: IMemtrackRecord,
  metric: Metric,
  at: 'before' | 'after' = 'after'
): number | null {
  switch (metric) {
    case 'rss':
      return at === 'after' ? rssLevel(record) : record.rss_before;
    case 'allocated':
      return (at === 'after' ? record.alloc_after : record.alloc_before) ?? null;
    case 'traced':
      return null;
    case 'gpu':
      return gpuLevel(record, at);
  }
}

/** Whether the record is a release done from the leak list (no cell ran). */
export function isReleaseRecord(record: IMemtrackRecord): boolean {
  return record.mode === 'release';
}

/** What identifies a leak suspect from one record to the next. */
export function leakKey(leak: Record<string, unknown>): string {
  return `${String(leak.kind)}:${String(leak.name)}`;
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
