/**
 * The line above the table that shows the running cell while it runs: its RSS
 * now, its peak, how long it has run and the headroom under the memory limit;
 * or, when the kernel stopped sending because the cell holds the GIL in native
 * code, since when. textContent only: a label never becomes markup.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatDelta, formatDuration, recordTitle, Units } from './format';
import { ILiveState } from './liveModel';
import { latestGpuSample } from './gpuFigures';
import type { IPlotLimit, IPlotLive } from './plot';
import { IMemoryLimit, IMemtrackRecord, Metric } from './record';

/** The label the running cell had at its last tracked run (live messages carry none). */
export function runningCellLabel(
  records: readonly IMemtrackRecord[],
  cellId: string | null
): string | null {
  if (cellId === null) {
    return null;
  }
  for (let i = records.length - 1; i >= 0; i--) {
    if (records[i].cell_id === cellId) {
      return records[i].label;
    }
  }
  return null;
}

/** "[12] load" for the running cell. */
export function runningCellTitle(
  state: Pick<ILiveState, 'executionCount'>,
  label: string | null
): string {
  return recordTitle({ execution_count: state.executionCount, label });
}

/** Bytes left under the limit: the kernel's headroom, else the limit less the usage or RSS. */
export function headroomOf(limit: IMemoryLimit | null, rss: number | null): number | null {
  if (!limit || limit.bytes === null || limit.source === 'none') {
    return null;
  }
  if (limit.headroom !== undefined && limit.headroom !== null) {
    return limit.headroom;
  }
  const usage = limit.usage ?? rss;
  return usage === null ? null : limit.bytes - usage;
}

/** A time of day as HH:MM:SS (the page's locale and zone). */
export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false
  });
}

export interface ILiveLineOptions {
  trans: TranslationBundle;
  /** The line was activated (click, Enter or Space): go to the running cell. */
  onActivate: (state: ILiveState) => void;
}

export class LiveLine {
  readonly node = document.createElement('div');

  constructor(options: ILiveLineOptions) {
    this._trans = options.trans;
    this.node.className = 'jp-Memtrack-live';
    this.node.hidden = true;
    this.node.tabIndex = 0;
    // Updated 5 times a second: a live region would flood a screen reader.
    // The label is read when the line is focused.
    this.node.setAttribute('role', 'button');
    this._title.className = 'jp-Memtrack-liveTitle';
    this._figures.className = 'jp-Memtrack-liveFigures';
    this.node.append(this._title, this._figures);
    const activate = () => {
      if (this._state) {
        options.onActivate(this._state);
      }
    };
    this.node.addEventListener('click', activate);
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        activate();
      }
    });
  }

  /**
   * Show the running cell (state null: none runs, the line hides); with the
   * GPU metric, its GPU bytes too where the samples carry them.
   */
  render(
    state: ILiveState | null,
    label: string | null,
    limit: IMemoryLimit | null,
    units: Units,
    metric: Metric = 'rss'
  ): void {
    this._state = state;
    this.node.hidden = state === null;
    if (state === null) {
      delete this.node.dataset.state;
      return;
    }
    const t = this._trans;
    const cell = runningCellTitle(state, label);
    const busy = state.busySince !== null;
    this.node.dataset.state = busy ? 'native' : 'running';
    this.node.dataset.rss = String(state.rss ?? '');
    this._title.textContent = busy
      ? t.__('%1 busy in native code since %2', cell, clockTime(state.busySince!))
      : t.__('%1 running for %2', cell, formatDuration(state.elapsedS));
    const figures = [
      t.__('RSS %1', formatBytes(state.rss, units)),
      t.__('peak %1', formatBytes(state.peak, units))
    ];
    if (state.rss !== null && state.rssBefore !== null) {
      figures.push(formatDelta(state.rss - state.rssBefore, units));
    }
    const headroom = headroomOf(limit, state.rss);
    if (headroom !== null && limit?.bytes) {
      figures.push(
        t.__('%1 left of %2', formatBytes(headroom, units), formatBytes(limit.bytes, units))
      );
    }
    const gpu = metric === 'gpu' ? latestGpuSample(state.samples) : null;
    if (gpu !== null) {
      const capacity = limit?.gpu_capacity ?? null;
      figures.push(
        capacity === null
          ? t.__('GPU %1', formatBytes(gpu, units))
          : t.__('GPU %1 of %2', formatBytes(gpu, units), formatBytes(capacity, units))
      );
    }
    if (busy) {
      figures.push(t.__('no samples while it holds the GIL'));
    }
    this._figures.textContent = figures.join(' · ');
    const text = `${this._title.textContent}: ${this._figures.textContent}`;
    this.node.title = `${text}\n${t.__('Enter: go to the cell')}`;
    this.node.setAttribute('aria-label', text);
  }

  private _trans: TranslationBundle;
  private _state: ILiveState | null = null;
  private _title = document.createElement('span');
  private _figures = document.createElement('span');
}

/** The plot's limit line, when the kernel knows a limit (source none: it does not). */
export function plotLimit(
  limit: IMemoryLimit | null,
  units: Units,
  trans: TranslationBundle
): IPlotLimit | null {
  if (!limit || limit.bytes === null || limit.source === 'none') {
    return null;
  }
  return {
    bytes: limit.bytes,
    label: trans.__('limit %1 (%2)', formatBytes(limit.bytes, units), limit.source)
  };
}

/** The running cell's point and bar on the plot. */
export function plotLive(
  state: ILiveState | null,
  label: string | null,
  limit: IMemoryLimit | null,
  units: Units,
  trans: TranslationBundle
): IPlotLive | null {
  if (!state) {
    return null;
  }
  const title = runningCellTitle(state, label);
  const hover = [
    trans.__('%1 running for %2', title, formatDuration(state.elapsedS)),
    trans.__('RSS %1', formatBytes(state.rss, units)),
    trans.__('peak %1', formatBytes(state.peak, units))
  ];
  const headroom = headroomOf(limit, state.rss);
  if (headroom !== null) {
    hover.push(trans.__('%1 left', formatBytes(headroom, units)));
  }
  const gpu = latestGpuSample(state.samples);
  if (gpu !== null) {
    hover.push(trans.__('GPU %1', formatBytes(gpu, units)));
  }
  return {
    rss: state.rss,
    gpu,
    delta: state.rss !== null && state.rssBefore !== null ? state.rss - state.rssBefore : null,
    title: trans.__('%1 (running)', title),
    hover
  };
}
