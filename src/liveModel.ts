/**
 * DOM-free store of what is happening now in each notebook's kernel: the
 * running cell as its live messages describe it, and the latest memory limit.
 * MemtrackModel owns one and feeds it (live messages, records, restarts); the
 * sidebar's live line, the plot and the headroom warning listen to it.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ILiveMessage, ILiveSample } from './protocol';
import { IMemoryLimit, IMemtrackRecord, startedAtMs } from './record';

/**
 * Without a live message for this long while a cell runs, the cell is taken to
 * hold the GIL in one long native call (the kernel's sampler cannot send):
 * about five intervals of the kernel's 5-a-second messages.
 */
export const NATIVE_BUSY_MS = 1200;

/**
 * Samples kept per running cell: enough for the growth rate and a sparkline,
 * bounded so that an hour-long cell does not grow the page (at 25 samples a
 * second, the last 80 s).
 */
export const MAX_LIVE_SAMPLES = 2000;

/** The running cell of one notebook, as its live messages describe it. */
export interface ILiveState {
  executionCount: number | null;
  cellId: string | null;
  startedAt: string;
  /** Seconds the cell had run when the last live message was sent. */
  elapsedS: number;
  /** The latest samples (t: seconds since the cell's start), oldest first, at most MAX_LIVE_SAMPLES. */
  samples: ILiveSample[];
  rss: number | null;
  peak: number | null;
  rssBefore: number | null;
  /** When (ms since the epoch, this page's clock) the last live message arrived. */
  receivedAt: number;
  /** Set when no live message came for NATIVE_BUSY_MS: the time of the last one. */
  busySince: number | null;
}

/** What changed in a notebook's live state. */
export interface ILiveChange {
  key: string;
  /**
   * update: a running cell's message; busy: the running cell stopped sending
   * (native code); end: the cell ended (its done message, its record, a restart).
   */
  kind: 'update' | 'busy' | 'end';
  /** For 'end' by a done message: that message (guard_tripped says whether the guard stopped it). */
  done?: ILiveMessage;
}

/** A running cell's start in ms (0 when unreadable, as for records). */
function stateStartMs(state: ILiveState): number {
  return startedAtMs({ started_at: state.startedAt });
}

/**
 * Whether a record is the one the running cell ended with: the same start (the
 * kernel stamps both from one clock reading), else the same cell and count.
 */
function isRecordOf(state: ILiveState, record: IMemtrackRecord): boolean {
  const start = stateStartMs(state);
  if (start !== 0 && startedAtMs(record) === start) {
    return true;
  }
  return record.execution_count === state.executionCount && record.cell_id === state.cellId;
}

export class LiveModel {
  /** Emitted at each live message, busy transition and end, with the notebook's key. */
  get changed(): ISignal<LiveModel, ILiveChange> {
    return this._changed;
  }

  /** The running cell of a notebook, or null when none runs (or no live message came). */
  state(key: string | null): ILiveState | null {
    return (key !== null && this._states.get(key)) || null;
  }

  /** The memory limit last reported by the kernel (live messages, history's kernel info). */
  limit(key: string | null): IMemoryLimit | null {
    return (key !== null && this._limits.get(key)) || null;
  }

  setLimit(key: string, limit: IMemoryLimit | null): void {
    if (limit) {
      this._limits.set(key, limit);
    } else {
      this._limits.delete(key);
    }
  }

  /** A live message from a notebook's kernel. */
  update(key: string, message: ILiveMessage, now: number = Date.now()): void {
    if (message.limit) {
      this._limits.set(key, message.limit);
    }
    if (message.state === 'done') {
      this._end(key, message);
      return;
    }
    let state = this._states.get(key);
    if (!state || state.startedAt !== message.started_at) {
      state = {
        executionCount: message.execution_count,
        cellId: message.cell_id,
        startedAt: message.started_at,
        elapsedS: 0,
        samples: [],
        rss: null,
        peak: null,
        rssBefore: null,
        receivedAt: now,
        busySince: null
      };
      this._states.set(key, state);
    }
    state.elapsedS = message.elapsed_s;
    state.rss = message.rss;
    state.peak = message.peak;
    state.rssBefore = message.rss_before ?? state.rssBefore;
    state.receivedAt = now;
    state.busySince = null;
    if (message.samples.length) {
      state.samples.push(...message.samples);
      if (state.samples.length > MAX_LIVE_SAMPLES) {
        state.samples.splice(0, state.samples.length - MAX_LIVE_SAMPLES);
      }
    }
    this._watchForSilence(key);
    this._changed.emit({ key, kind: 'update' });
  }

  /** A record arrived: if it is the running cell's, that cell is over. */
  recordArrived(key: string, record: IMemtrackRecord): void {
    const state = this._states.get(key);
    if (state && isRecordOf(state, record)) {
      this._end(key);
    }
  }

  /** The kernel restarted, died or changed: nothing runs any more, and its limit may differ. */
  clear(key: string): void {
    this._end(key);
  }

  /** The notebook closed. */
  remove(key: string): void {
    this._end(key, undefined, false);
    this._limits.delete(key);
  }

  dispose(): void {
    for (const timer of this._timers.values()) {
      window.clearTimeout(timer);
    }
    this._timers.clear();
    this._states.clear();
    Signal.clearData(this);
  }

  private _end(key: string, done?: ILiveMessage, emit = true): void {
    window.clearTimeout(this._timers.get(key));
    this._timers.delete(key);
    const had = this._states.delete(key);
    if (emit && (had || done)) {
      this._changed.emit({ key, kind: 'end', done });
    }
  }

  /** (Re)start the wait after which a silent running cell is shown as busy in native code. */
  private _watchForSilence(key: string): void {
    window.clearTimeout(this._timers.get(key));
    const timer = window.setTimeout(() => {
      this._timers.delete(key);
      const state = this._states.get(key);
      if (state && state.busySince === null) {
        state.busySince = state.receivedAt;
        this._changed.emit({ key, kind: 'busy' });
      }
    }, NATIVE_BUSY_MS);
    this._timers.set(key, timer);
  }

  private _states = new Map<string, ILiveState>();
  private _limits = new Map<string, IMemoryLimit>();
  private _timers = new Map<string, number>();
  private _changed = new Signal<LiveModel, ILiveChange>(this);
}
