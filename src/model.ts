/**
 * DOM-free store of every notebook's memory history. The kernel bridge
 * writes into it; the sidebar (and anything else) listens to its signals.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { recordTitle } from './format';
import { mergeEarlierSessions } from './earlierSessions';
import { LiveModel } from './liveModel';
import { IEarlierSession } from './protocol';
import { IMemtrackRecord, isDeathRecord, runKey, startedAtMs } from './record';
import {
  BridgeStatus,
  HistoryEntry,
  IHistoryChange,
  IKernelInfo,
  IMemtrackModel,
  TrackingMode
} from './tokens';

/** One notebook's history: records of successive kernels, split by restarts. */
class NotebookHistory {
  readonly entries: HistoryEntry[] = [];
  /** Index where the current kernel's records begin. */
  segmentStart = 0;
  /** Entries at the start read back from the notebook's cell metadata (runs and separator). */
  savedCount = 0;
  /** Highest seq seen from the current kernel, to drop replayed duplicates. */
  lastSeq = 0;
  status: BridgeStatus = 'no-kernel';
  detail = '';
  tracking: TrackingMode = 'off';
  kernel: IKernelInfo | null = null;
}

export class MemtrackModel implements IMemtrackModel {
  /** What runs now in each notebook's kernel, and its memory limit. */
  readonly live = new LiveModel();

  get changed(): ISignal<IMemtrackModel, IHistoryChange> {
    return this._changed;
  }

  get currentChanged(): ISignal<IMemtrackModel, string | null> {
    return this._currentChanged;
  }

  get currentKey(): string | null {
    return this._currentKey;
  }

  setCurrent(key: string | null): void {
    if (key === this._currentKey) {
      return;
    }
    this._currentKey = key;
    this._currentChanged.emit(key);
  }

  entries(key: string | null): readonly HistoryEntry[] {
    return (key !== null && this._histories.get(key)?.entries) || [];
  }

  records(key: string | null): IMemtrackRecord[] {
    const records: IMemtrackRecord[] = [];
    for (const entry of this.entries(key)) {
      if (entry.kind === 'record') {
        records.push(entry.record);
      }
    }
    return records;
  }

  status(key: string | null): { status: BridgeStatus; detail: string } {
    const history = key === null ? undefined : this._histories.get(key);
    return history
      ? { status: history.status, detail: history.detail }
      : { status: 'no-kernel', detail: '' };
  }

  setStatus(key: string, status: BridgeStatus, detail = ''): void {
    const history = this._history(key);
    if (history.status === status && history.detail === detail) {
      return;
    }
    history.status = status;
    history.detail = detail;
    this._changed.emit({ key, kind: 'status' });
  }

  tracking(key: string | null): TrackingMode {
    return (key !== null && this._histories.get(key)?.tracking) || 'off';
  }

  setTracking(key: string, mode: TrackingMode): void {
    const history = this._history(key);
    if (history.tracking !== mode) {
      history.tracking = mode;
      this._changed.emit({ key, kind: 'status' });
    }
  }

  kernelInfo(key: string | null): IKernelInfo | null {
    return (key !== null && this._histories.get(key)?.kernel) || null;
  }

  setKernelInfo(key: string, info: IKernelInfo | null): void {
    this._history(key).kernel = info;
    if (info?.memory_limit) {
      this.live.setLimit(key, info.memory_limit);
    }
  }

  /** Add a new record from the current kernel; a replayed one is ignored. */
  appendRecord(key: string, record: IMemtrackRecord): void {
    this.appendRecords(key, [record]);
  }

  /**
   * Add new records from the current kernel, in order, with one change signal
   * for the batch (listeners update once per batch); replayed ones are ignored.
   */
  appendRecords(key: string, records: readonly IMemtrackRecord[]): void {
    const history = this._history(key);
    let count = 0;
    for (const record of records) {
      if (record.seq <= history.lastSeq) {
        continue;
      }
      history.entries.push({ kind: 'record', record });
      history.lastSeq = record.seq;
      this._labelDeath(history, history.entries.length - 1);
      this.live.recordArrived(key, record);
      count++;
    }
    if (count > 0) {
      this._changed.emit({ key, kind: 'append', count });
    }
  }

  /**
   * Replace the current kernel's records with its full history (sent when the
   * comm opens): records from before a restart are kept. `earlier`: the
   * records of the kernel's earlier processes, shown as their own segments
   * before the current one without repeating rows already shown
   * (earlierSessions.ts says how they are matched).
   */
  replaceKernelHistory(
    key: string,
    records: IMemtrackRecord[],
    earlier: readonly IEarlierSession[] = []
  ): void {
    const history = this._history(key);
    history.entries.splice(history.segmentStart);
    if (earlier.length) {
      const region = history.entries.slice(history.savedCount, history.segmentStart);
      const merged = mergeEarlierSessions(region, earlier);
      history.entries.splice(history.savedCount, region.length, ...merged);
      history.segmentStart = history.entries.length;
    }
    const ordered = [...records].sort((a, b) => a.seq - b.seq);
    for (const record of ordered) {
      history.entries.push({ kind: 'record', record });
    }
    history.lastSeq = ordered.length ? ordered[ordered.length - 1].seq : 0;
    this._dropSavedDuplicates(history, [
      ...earlier.flatMap(session => session.records),
      ...ordered
    ]);
    history.entries.forEach((_, index) => this._labelDeath(history, index));
    this._changed.emit({ key, kind: 'replace' });
  }

  /**
   * Put runs read back from the notebook's cell metadata before everything
   * else, closed by a restart-style separator, so that the kernel's records
   * (and its replayed history) come after them. Seeding again replaces the
   * saved segment; runs the kernel still has are shown once, as its own.
   * Saved records get negative seqs in started_at order: never a live seq.
   */
  seedSaved(key: string, records: IMemtrackRecord[]): void {
    const history = this._history(key);
    const live = new Set<string>();
    for (const entry of history.entries.slice(history.savedCount)) {
      if (entry.kind === 'record') {
        live.add(runKey(entry.record));
      }
    }
    const kept = records
      .filter(record => !live.has(runKey(record)))
      .sort((a, b) => startedAtMs(a) - startedAtMs(b));
    const segment: HistoryEntry[] = kept.map((record, index) => ({
      kind: 'record',
      record: { ...record, seq: index - kept.length, saved: true }
    }));
    if (kept.length) {
      segment.push({ kind: 'restart', at: kept[kept.length - 1].started_at, saved: true });
    }
    if (segment.length === 0 && history.savedCount === 0) {
      return;
    }
    history.entries.splice(0, history.savedCount, ...segment);
    history.segmentStart += segment.length - history.savedCount;
    history.savedCount = segment.length;
    this._changed.emit({ key, kind: 'replace' });
  }

  /** The kernel restarted or changed: later records start a new segment. */
  markRestart(key: string, at: Date = new Date()): void {
    const history = this._history(key);
    this.live.clear(key);
    const last = history.entries[history.entries.length - 1];
    if (last === undefined || last.kind === 'restart') {
      // Nothing to separate: the next kernel simply starts the history.
      history.segmentStart = history.entries.length;
      history.lastSeq = 0;
      return;
    }
    history.entries.push({ kind: 'restart', at: at.toISOString() });
    history.segmentStart = history.entries.length;
    history.lastSeq = 0;
    this._changed.emit({ key, kind: 'restart' });
  }

  /**
   * The kernel process died (the server restarts it by itself): the separator
   * closing its records reads as a death. Its KernelDied record, when the new
   * process sends it, names the cell.
   */
  markDeath(key: string, at: Date = new Date()): void {
    this.markRestart(key, at);
    const history = this._history(key);
    const index = history.segmentStart - 1;
    const separator = history.entries[index];
    if (index >= history.savedCount && separator?.kind === 'restart' && !separator.died) {
      history.entries[index] = { ...separator, died: true };
      this._changed.emit({ key, kind: 'restart' });
    }
  }

  /**
   * The separator right before the current process's records: how the
   * previous process ended. null when there is none (or only saved runs).
   */
  previousKernelEnd(key: string | null): Extract<HistoryEntry, { kind: 'restart' }> | null {
    const history = key === null ? undefined : this._histories.get(key);
    const separator = history?.entries[history.segmentStart - 1];
    return separator?.kind === 'restart' && !separator.saved ? separator : null;
  }

  /** Forget a notebook's history (the kernel's copy is untouched). */
  clear(key: string): void {
    const history = this._history(key);
    history.entries.length = 0;
    history.segmentStart = 0;
    history.savedCount = 0;
    history.lastSeq = 0;
    this._changed.emit({ key, kind: 'clear' });
  }

  /** The notebook closed. */
  remove(key: string): void {
    this.live.remove(key);
    if (this._histories.delete(key)) {
      this._changed.emit({ key, kind: 'remove' });
    }
    if (this._currentKey === key) {
      this.setCurrent(null);
    }
  }

  /**
   * A KernelDied record right after a separator: the separator is a death,
   * during that record's cell (saved separators close saved runs, not a process).
   */
  private _labelDeath(history: NotebookHistory, index: number): void {
    const entry = history.entries[index];
    const before = history.entries[index - 1];
    if (
      entry?.kind === 'record' &&
      isDeathRecord(entry.record) &&
      before?.kind === 'restart' &&
      !before.saved
    ) {
      history.entries[index - 1] = { ...before, died: true, cell: recordTitle(entry.record) };
    }
  }

  /** Saved runs that the kernel reports too (the notebook was reopened, the kernel kept). */
  private _dropSavedDuplicates(history: NotebookHistory, records: IMemtrackRecord[]): void {
    if (history.savedCount === 0) {
      return;
    }
    const live = new Set(records.map(runKey));
    const saved = history.entries.slice(0, history.savedCount - 1);
    const kept = saved.filter(entry => entry.kind !== 'record' || !live.has(runKey(entry.record)));
    if (kept.length === saved.length) {
      return;
    }
    // Without saved runs left, the separator has nothing to separate.
    const segment = kept.length ? [...kept, history.entries[history.savedCount - 1]] : [];
    history.entries.splice(0, history.savedCount, ...segment);
    history.segmentStart -= history.savedCount - segment.length;
    history.savedCount = segment.length;
  }

  private _history(key: string): NotebookHistory {
    let history = this._histories.get(key);
    if (!history) {
      history = new NotebookHistory();
      this._histories.set(key, history);
    }
    return history;
  }

  private _histories = new Map<string, NotebookHistory>();
  private _currentKey: string | null = null;
  private _changed = new Signal<IMemtrackModel, IHistoryChange>(this);
  private _currentChanged = new Signal<IMemtrackModel, string | null>(this);
}
