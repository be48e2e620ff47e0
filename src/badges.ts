/**
 * A small "+12.3 MB" badge on each tracked cell, from that cell's latest
 * record, coloured by size: the change of the metric the sidebar shows ("—"
 * where the record lacks it). Follows the model; off with the `badges` setting.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatDelta, sizeClass, Units } from './format';
import { metricName, missingReason } from './metric';
import { IMemtrackRecord, isReleaseRecord, Metric, recordDelta, recordPeak } from './record';

const BADGE_CLASS = 'jp-Memtrack-badge';

/** The latest record of each cell id (a release ran in no cell). */
export function latestByCell(records: IMemtrackRecord[]): Map<string, IMemtrackRecord> {
  const latest = new Map<string, IMemtrackRecord>();
  for (const record of records) {
    if (record.cell_id && !isReleaseRecord(record)) {
      latest.set(record.cell_id, record);
    }
  }
  return latest;
}

/** Put (or remove) badges on the cells of one notebook. */
export function renderBadges(
  panel: NotebookPanel,
  records: IMemtrackRecord[],
  options: { enabled: boolean; units: Units; metric: Metric; trans: TranslationBundle }
): void {
  const { metric, units, trans } = options;
  const latest = options.enabled ? latestByCell(records) : new Map<string, IMemtrackRecord>();
  for (const cell of panel.content.widgets) {
    const existing = cell.node.querySelector(`:scope > .${BADGE_CLASS}`);
    const record = latest.get(cell.model.id);
    if (!record) {
      existing?.remove();
      continue;
    }
    const badge = (existing as HTMLElement | null) ?? document.createElement('span');
    const delta = recordDelta(record, metric);
    badge.className = BADGE_CLASS;
    badge.dataset.size = sizeClass(delta);
    badge.dataset.metric = metric;
    badge.textContent = formatDelta(delta, units);
    badge.title =
      delta === null
        ? trans.__(
            'memtrack [%1], %2: %3',
            record.execution_count ?? ' ',
            metricName(metric, trans),
            missingReason(record, metric, 'delta', trans)
          )
        : trans.__(
            'memtrack [%1]: %2 %3, peak %4',
            record.execution_count ?? ' ',
            metricName(metric, trans),
            formatDelta(delta, units),
            formatBytes(recordPeak(record, metric), units)
          );
    if (!existing) {
      cell.node.append(badge);
    }
  }
}

/**
 * Keeps the badges of every open notebook in step with the model, at most
 * once per frame per notebook: a burst of records costs one pass.
 */
export class BadgeUpdater {
  constructor(
    private _render: (key: string) => void,
    private _schedule: (callback: () => void) => void = callback =>
      void requestAnimationFrame(callback)
  ) {}

  /** Ask for the badges of this notebook to be brought up to date. */
  invalidate(key: string): void {
    if (this._pending.has(key)) {
      return;
    }
    this._pending.add(key);
    this._schedule(() => {
      this._pending.delete(key);
      this._render(key);
    });
  }

  private _pending = new Set<string>();
}
