/**
 * What plugins share: the comm target, the plugin id and the model's service
 * interface and token. The record itself is defined in record.ts.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import { IMemoryLimit, IMemtrackRecord } from './record';

/** The comm target shared with the kernel extension (python_ext/memtrack/shell/bridge.py). */
export const COMM_TARGET = 'jupyterlab-memtrack';

/** Plugin ids. The settings schema file is named after the main plugin's suffix. */
export const PLUGIN_ID = 'jupyterlab-memtrack:plugin';

/** How the kernel tracks cells that do not start with %%memtrack. */
export type TrackingMode = 'off' | 'light' | 'deep';

/** What the kernel says about itself in a history message. */
export interface IKernelInfo {
  pid?: number;
  python?: string;
  memtrack?: string;
  /** The memory limit that will kill the kernel, as it read it when the comm opened. */
  memory_limit?: IMemoryLimit;
  /** The guard's share of the limit at which a running cell is interrupted (null: off). */
  guard?: number | null;
}

/**
 * An entry of a notebook's history: a record, or a kernel restart marker
 * (saved: the one closing the runs read back from the notebook's cell metadata;
 * died: the kernel process before it died, rather than being restarted; cell:
 * the title of the cell it died during, when known).
 */
export type HistoryEntry =
  | { kind: 'record'; record: IMemtrackRecord }
  | { kind: 'restart'; at: string; saved?: boolean; died?: boolean; cell?: string };

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
