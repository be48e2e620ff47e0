/**
 * The `cellMetadata` setting: a compact summary of each cell's last runs saved
 * under `metadata.memtrack`, so that a reopened notebook shows its memory
 * history without running again. Converts between wire records and that
 * summary, and reads and writes it on a notebook's cells.
 *
 * Saved format: {"version": 1, "runs": [run, ...]}, oldest run first, at most
 * MAX_RUNS runs; a run holds the record's scalar fields (bytes as integers),
 * its first top lines and types, and its leak suspects' names. Strings are
 * cut so that a run stays well under 2 kB of JSON.
 * schema/metadata/cell-runs.schema.json describes it (tested against this module).
 */
import { IDisposable } from '@lumino/disposable';

import { BYTE_KEYS, ByteKey, IMemtrackRecord, ITopLine, ITypeDelta, startedAtMs } from './record';
import { IHistoryChange, IMemtrackModel } from './tokens';

export const METADATA_KEY = 'memtrack';
export const METADATA_VERSION = 1;
/** Runs kept per cell. */
export const MAX_RUNS = 5;
/** Top lines, types and leak names kept per run. */
export const MAX_ITEMS = 3;
/** Longest strings kept, in characters. */
const MAX_LABEL = 60;
const MAX_ERROR = 100;
const MAX_CODE = 72;
const MAX_TYPE = 48;
const MAX_LEAK_NAME = 32;

/** One run as saved in a cell's metadata: the record's scalars, and its first items cut short. */
export interface ISavedRun extends Pick<
  IMemtrackRecord,
  | 'execution_count'
  | 'label'
  | 'mode'
  | 'started_at'
  | 'duration_s'
  | ByteKey
  | 'error'
  | 'top_lines'
> {
  types: { type: string; count_delta: number; size_delta: number | null }[];
  /** Names of the run's leak suspects. */
  leaks: string[];
}

/** The value under `metadata.memtrack`. */
export interface ISavedMetadata {
  version: number;
  runs: ISavedRun[];
}

/** The part of a cell model this module uses (JupyterLab 4's ICellModel has it). */
export interface IMetadataCell {
  readonly id: string;
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: any): void;
}

/** At most `max` characters (whole code points), with an ellipsis when cut. */
function cut(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

function cutOrNull(text: string | null, max: number): string | null {
  return text === null ? null : cut(text, max);
}

/** The compact summary of a record. */
export function toSavedRun(record: IMemtrackRecord): ISavedRun {
  const leakNames: string[] = [];
  for (const leak of record.leaks) {
    if (typeof leak.name === 'string' && leakNames.length < MAX_ITEMS) {
      leakNames.push(cut(leak.name, MAX_LEAK_NAME));
    }
  }
  return {
    execution_count: record.execution_count,
    label: cutOrNull(record.label, MAX_LABEL),
    mode: record.mode,
    started_at: record.started_at,
    duration_s: Math.round(record.duration_s * 10_000) / 10_000,
    rss_before: record.rss_before,
    rss_after: record.rss_after,
    rss_peak: record.rss_peak,
    traced_delta: record.traced_delta,
    traced_peak: record.traced_peak,
    error: cutOrNull(record.error, MAX_ERROR),
    top_lines: record.top_lines.slice(0, MAX_ITEMS).map(line => ({
      line: line.line,
      code: cut(line.code, MAX_CODE),
      increment: line.increment,
      occurrences: line.occurrences,
      ...(line.sampled ? { sampled: true } : {})
    })),
    types: record.types.slice(0, MAX_ITEMS).map((type: ITypeDelta) => ({
      type: cut(type.type, MAX_TYPE),
      count_delta: type.count_delta,
      size_delta: type.size_delta ?? null
    })),
    leaks: leakNames
  };
}

/**
 * The record a saved run stands for, in the cell `cellId`. seq is 0: the model
 * numbers saved records below every live seq (MemtrackModel.seedSaved).
 */
export function fromSavedRun(run: ISavedRun, cellId: string): IMemtrackRecord {
  return {
    seq: 0,
    execution_count: run.execution_count,
    cell_id: cellId,
    label: run.label,
    mode: run.mode,
    started_at: run.started_at,
    duration_s: run.duration_s,
    rss_before: run.rss_before,
    rss_after: run.rss_after,
    rss_peak: run.rss_peak,
    traced_delta: run.traced_delta,
    traced_peak: run.traced_peak,
    top_lines: run.top_lines.map(line => ({ ...line })),
    types: run.types.map(type => ({ ...type })),
    variables: [],
    gc: null,
    error: run.error,
    // Names only: no kind, so the sidebar offers no release for a run of another kernel.
    leaks: run.leaks.map(name => ({ name, kind: 'saved', reason: 'Reported before saving.' })),
    saved: true
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isInt = (value: unknown): value is number => Number.isInteger(value);
const isNullableInt = (value: unknown) => value === null || isInt(value);
const isNullableString = (value: unknown) => value === null || typeof value === 'string';

function isTopLine(value: unknown): value is ITopLine {
  return (
    isObject(value) &&
    isInt(value.line) &&
    typeof value.code === 'string' &&
    isInt(value.increment) &&
    isInt(value.occurrences)
  );
}

function isSavedType(value: unknown): value is ISavedRun['types'][number] {
  return (
    isObject(value) &&
    typeof value.type === 'string' &&
    isInt(value.count_delta) &&
    isNullableInt(value.size_delta ?? null)
  );
}

/** A run read from metadata, or a reason why it is not one. */
export function parseSavedRun(value: unknown): ISavedRun | string {
  if (!isObject(value)) {
    return 'a run is not an object';
  }
  const field = (name: string, fallback: unknown) => (name in value ? value[name] : fallback);
  if (!isNullableInt(field('execution_count', null))) {
    return 'execution_count is not an integer';
  }
  for (const name of ['label', 'error']) {
    if (!isNullableString(field(name, null))) {
      return `${name} is not a string`;
    }
  }
  if (value.mode !== 'light' && value.mode !== 'deep') {
    return 'mode is not light or deep';
  }
  if (typeof value.started_at !== 'string' || Number.isNaN(Date.parse(value.started_at))) {
    return 'started_at is not a date';
  }
  if (typeof value.duration_s !== 'number' || !(value.duration_s >= 0)) {
    return 'duration_s is not a non-negative number';
  }
  for (const name of BYTE_KEYS) {
    if (!isNullableInt(field(name, null))) {
      return `${name} is not an integer number of bytes`;
    }
  }
  const topLines = field('top_lines', []);
  const types = field('types', []);
  const leaks = field('leaks', []);
  if (!Array.isArray(topLines) || !topLines.every(isTopLine)) {
    return 'top_lines is not a list of lines';
  }
  if (!Array.isArray(types) || !types.every(isSavedType)) {
    return 'types is not a list of types';
  }
  if (!Array.isArray(leaks) || !leaks.every(name => typeof name === 'string')) {
    return 'leaks is not a list of names';
  }
  const bytes = (name: ByteKey) => field(name, null) as number | null;
  return {
    execution_count: field('execution_count', null) as number | null,
    label: field('label', null) as string | null,
    mode: value.mode,
    started_at: value.started_at,
    duration_s: value.duration_s,
    rss_before: bytes('rss_before'),
    rss_after: bytes('rss_after'),
    rss_peak: bytes('rss_peak'),
    traced_delta: bytes('traced_delta'),
    traced_peak: bytes('traced_peak'),
    error: field('error', null) as string | null,
    top_lines: topLines.map(line => ({ ...line })),
    types: types.map(type => ({ ...type, size_delta: type.size_delta ?? null })),
    leaks: [...leaks]
  };
}

/**
 * The valid runs of a metadata value; none when it is absent. Anything else
 * (another version, not an object, bad runs) is left out with a warning.
 */
export function parseSavedRuns(value: unknown, where = 'a cell'): ISavedRun[] {
  if (value === undefined || value === null) {
    return [];
  }
  const warn = (why: string) =>
    console.warn(`jupyterlab-memtrack: ignoring metadata.memtrack of ${where}: ${why}.`);
  if (!isObject(value)) {
    warn('not an object');
    return [];
  }
  if (value.version !== METADATA_VERSION) {
    warn(`version ${JSON.stringify(value.version)} is not ${METADATA_VERSION}`);
    return [];
  }
  if (!Array.isArray(value.runs)) {
    warn('runs is not a list');
    return [];
  }
  const runs: ISavedRun[] = [];
  for (const item of value.runs) {
    const run = parseSavedRun(item);
    if (typeof run === 'string') {
      warn(run);
    } else {
      runs.push(run);
    }
  }
  return runs;
}

const savedKey = (run: { started_at: string; execution_count: number | null }) =>
  `${run.started_at}|${run.execution_count}`;

/**
 * The metadata after adding these records of one cell to what it holds: runs
 * ordered by start, the last MAX_RUNS kept. null when there is nothing to
 * write: every record is already there (or too old to be kept), or the value
 * belongs to another version of the format, which is left alone.
 */
export function mergeRuns(existing: unknown, records: IMemtrackRecord[]): ISavedMetadata | null {
  if (isObject(existing) && existing.version !== METADATA_VERSION) {
    return null;
  }
  const runs = parseSavedRuns(existing);
  const known = new Set(runs.map(savedKey));
  const added = new Set<string>();
  for (const record of records) {
    const key = savedKey(record);
    if (!known.has(key)) {
      known.add(key);
      added.add(key);
      runs.push(toSavedRun(record));
    }
  }
  if (added.size === 0) {
    return null;
  }
  // A stable sort keeps runs with the same (or an unreadable) start in arrival order.
  const kept = runs.sort((a, b) => startedAtMs(a) - startedAtMs(b)).slice(-MAX_RUNS);
  if (!kept.some(run => added.has(savedKey(run)))) {
    return null;
  }
  return { version: METADATA_VERSION, runs: kept };
}

/** The records saved in these cells' metadata (each run given its cell's current id). */
export function readSavedRecords(cells: Iterable<IMetadataCell>): IMemtrackRecord[] {
  const records: IMemtrackRecord[] = [];
  for (const cell of cells) {
    const runs = parseSavedRuns(cell.getMetadata(METADATA_KEY), `cell ${cell.id}`);
    for (const run of runs) {
      records.push(fromSavedRun(run, cell.id));
    }
  }
  return records;
}

/**
 * Save records into their cells' metadata. Records of no cell, of a cell that
 * is gone, and read back from metadata are skipped. Returns the cells written.
 */
export function writeRecords(
  cells: Iterable<IMetadataCell>,
  records: readonly IMemtrackRecord[]
): number {
  const byCell = new Map<string, IMemtrackRecord[]>();
  for (const record of records) {
    // A release ran in no cell: it is no run of one (and the saved format has no such mode).
    if (record.cell_id && !record.saved && record.mode !== 'release') {
      const list = byCell.get(record.cell_id) ?? [];
      list.push(record);
      byCell.set(record.cell_id, list);
    }
  }
  if (byCell.size === 0) {
    return 0;
  }
  let written = 0;
  for (const cell of cells) {
    const cellRecords = byCell.get(cell.id);
    if (!cellRecords) {
      continue;
    }
    const next = mergeRuns(cell.getMetadata(METADATA_KEY), cellRecords);
    if (next) {
      cell.setMetadata(METADATA_KEY, next);
      written += 1;
    }
  }
  return written;
}

export interface ICellMetadataSyncOptions {
  model: IMemtrackModel;
  /** The cells of a notebook by model key; null when it is not open (or not ready). */
  cells: (key: string) => Iterable<IMetadataCell> | null;
  /** The cellMetadata setting. */
  enabled: () => boolean;
}

/**
 * Writes each notebook's new records into its cells while the setting is on.
 * A new record is written at once; a replayed history (the kernel's records
 * sent again after a reload) only adds the runs a cell lacks.
 */
export class CellMetadataSync implements IDisposable {
  constructor(options: ICellMetadataSyncOptions) {
    this._options = options;
    options.model.changed.connect(this._onChanged, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (!this._isDisposed) {
      this._isDisposed = true;
      this._options.model.changed.disconnect(this._onChanged, this);
    }
  }

  private _onChanged(model: IMemtrackModel, change: IHistoryChange): void {
    if ((change.kind !== 'append' && change.kind !== 'replace') || !this._options.enabled()) {
      return;
    }
    const cells = this._options.cells(change.key);
    if (!cells) {
      return;
    }
    const records = model.records(change.key);
    const written = change.kind === 'append' ? records.slice(-(change.count ?? 1)) : records;
    writeRecords(cells, written);
  }

  private _options: ICellMetadataSyncOptions;
  private _isDisposed = false;
}

/** Read the runs saved in a notebook's cells into its history (nothing saved: no change). */
export function seedFromCells(
  model: { seedSaved(key: string, records: IMemtrackRecord[]): void },
  key: string,
  cells: Iterable<IMetadataCell>
): number {
  const records = readSavedRecords(cells);
  if (records.length) {
    model.seedSaved(key, records);
  }
  return records.length;
}
