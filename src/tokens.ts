import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/** The comm target shared with the kernel extension (python_ext/memtrack/bridge.py). */
export const COMM_TARGET = 'jupyterlab-memtrack';

/** Plugin ids. The settings schema file is named after the main plugin's suffix. */
export const PLUGIN_ID = 'jupyterlab-memtrack:plugin';

/** Command ids. */
export namespace CommandIDs {
  export const openSidebar = 'memtrack:open-sidebar';
  export const toggleSidebar = 'memtrack:toggle-sidebar';
  export const toggleTracking = 'memtrack:toggle-tracking';
  export const clear = 'memtrack:clear';
  export const exportJson = 'memtrack:export-json';
  export const exportCsv = 'memtrack:export-csv';
  export const exportHtml = 'memtrack:export-html';
  export const toggleBadges = 'memtrack:toggle-badges';
}

/** How the kernel tracks cells that do not start with %%memtrack. */
export type TrackingMode = 'off' | 'light' | 'deep';

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
  /** Read back from the notebook's cell metadata (src/cellMetadata.ts), not from a kernel. */
  saved?: boolean;
}

/** What the kernel says about itself in a history message. */
export interface IKernelInfo {
  pid?: number;
  python?: string;
  memtrack?: string;
}

/**
 * An entry of a notebook's history: a record, or a kernel restart marker
 * (saved: the one closing the runs read back from the notebook's cell metadata).
 */
export type HistoryEntry =
  { kind: 'record'; record: IMemtrackRecord } | { kind: 'restart'; at: string; saved?: boolean };

/** How a notebook's history changed. */
export interface IHistoryChange {
  key: string;
  kind: 'append' | 'replace' | 'restart' | 'clear' | 'remove' | 'status';
  /** For 'append': how many records were added, 1 when absent. */
  count?: number;
}

/** Where a notebook's connection to the kernel extension stands. */
export type BridgeStatus =
  'no-kernel' | 'connecting' | 'connected' | 'unsupported-kernel' | 'not-loaded' | 'error';

/** The DOM-free store of every notebook's memory history. */
export interface IMemtrackModel {
  readonly changed: ISignal<IMemtrackModel, IHistoryChange>;
  readonly currentChanged: ISignal<IMemtrackModel, string | null>;
  readonly currentKey: string | null;
  setCurrent(key: string | null): void;
  entries(key: string | null): readonly HistoryEntry[];
  records(key: string | null): IMemtrackRecord[];
  status(key: string | null): { status: BridgeStatus; detail: string };
  tracking(key: string | null): TrackingMode;
  kernelInfo(key: string | null): IKernelInfo | null;
}

/** The model as a service other plugins can use. */
export const IMemtrackModel = new Token<IMemtrackModel>(
  'jupyterlab-memtrack:IMemtrackModel',
  'Per-notebook memory history recorded by the memtrack kernel extension.'
);
