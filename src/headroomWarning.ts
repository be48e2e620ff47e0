/**
 * Warns while a cell runs that the kernel is about to run out of memory: once
 * per cell, when the headroom under the memory limit falls below the
 * headroomWarning share of the limit, naming the cell and how fast it grows;
 * and when the kernel's guard interrupted a cell. How the warning is shown is
 * the caller's (index.ts: a JupyterLab notification).
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, Units } from './format';
import { headroomOf, runningCellLabel, runningCellTitle } from './liveLine';
import { ILiveChange, LiveModel } from './liveModel';
import { MemtrackModel } from './model';
import { ILiveSample } from './protocol';

/** The growth rate is taken over the samples of this last stretch of the cell. */
export const GROWTH_WINDOW_S = 2;

/**
 * Bytes per second the running cell grows by: the change between the first
 * and last samples of the last GROWTH_WINDOW_S seconds; null with fewer than
 * two samples there.
 */
export function growthRate(samples: readonly ILiveSample[]): number | null {
  const last = samples[samples.length - 1];
  if (!last) {
    return null;
  }
  let first = last;
  for (let i = samples.length - 2; i >= 0 && last.t - samples[i].t <= GROWTH_WINDOW_S; i--) {
    first = samples[i];
  }
  const seconds = last.t - first.t;
  return seconds > 0 ? (last.rss - first.rss) / seconds : null;
}

export interface IHeadroomWarningOptions {
  model: MemtrackModel;
  /** The headroomWarning setting (percent of the limit; 0: off). */
  threshold: () => number;
  units: () => Units;
  trans: TranslationBundle;
  /** Show one warning. */
  notify: (message: string) => void;
}

export class HeadroomWarning {
  constructor(options: IHeadroomWarningOptions) {
    this._options = options;
    options.model.live.changed.connect(this._onLiveChanged, this);
  }

  dispose(): void {
    this._options.model.live.changed.disconnect(this._onLiveChanged, this);
  }

  private _onLiveChanged(live: LiveModel, change: ILiveChange): void {
    const { key } = change;
    if (change.kind === 'end') {
      this._warned.delete(key);
      if (change.done?.guard_tripped) {
        this._guardTripped(key, change);
      }
      return;
    }
    const state = live.state(key);
    const limit = live.limit(key);
    const percent = this._options.threshold();
    if (!state || !limit?.bytes || percent <= 0 || this._warned.get(key) === state.startedAt) {
      return;
    }
    const headroom = headroomOf(limit, state.rss);
    if (headroom === null || headroom >= (limit.bytes * percent) / 100) {
      return;
    }
    this._warned.set(key, state.startedAt);
    const { trans, units } = this._options;
    const cell = runningCellTitle(state, this._label(key, state.cellId));
    const rate = growthRate(state.samples);
    const growth =
      rate !== null && rate > 0
        ? trans.__('growing %1/s', formatBytes(rate, units()))
        : trans.__('not growing now');
    this._options.notify(
      trans.__(
        '%1 is close to the memory limit: %2 left of %3 (%4), %5.',
        cell,
        formatBytes(Math.max(0, headroom), units()),
        formatBytes(limit.bytes, units()),
        limit.source,
        growth
      )
    );
  }

  private _guardTripped(key: string, change: ILiveChange): void {
    const done = change.done!;
    const { trans, units } = this._options;
    const cell = runningCellTitle(
      { executionCount: done.execution_count },
      this._label(key, done.cell_id)
    );
    this._options.notify(
      trans.__(
        'The memory guard interrupted %1 at %2, before the kernel ran out of memory.',
        cell,
        formatBytes(done.peak ?? done.rss, units())
      )
    );
  }

  private _label(key: string, cellId: string | null): string | null {
    return runningCellLabel(this._options.model.records(key), cellId);
  }

  private _options: IHeadroomWarningOptions;
  /** Per notebook, the start of the cell last warned about: one warning per cell. */
  private _warned = new Map<string, string>();
}
