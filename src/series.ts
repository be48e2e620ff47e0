/**
 * Pure data preparation for the memory plot: what each point means, with no
 * plotting library involved (plot.ts draws it; jest tests it here).
 */
import { escapePlotlyText, formatBytes, formatDelta, formatDuration, recordTitle } from './format';
import { HistoryEntry, IMemtrackRecord } from './tokens';

export interface IPlotSeries {
  /** 1-based position of each record on the x axis. */
  x: number[];
  /** Tick labels: "[n] label", escaped for plotly. */
  labels: string[];
  /** RSS after each cell (bytes), null where unknown. */
  rss: (number | null)[];
  /** Running sum of traced deltas (bytes), null before any deep cell. */
  tracedCumulative: (number | null)[];
  /** Per-cell net change (traced when measured, RSS otherwise). */
  delta: (number | null)[];
  /** Hover text per point, escaped for plotly (it joins lines with <br>). */
  hover: string[];
  /** x positions (between points) where the kernel restarted. */
  restarts: number[];
  /** Whether any record carries tracemalloc figures. */
  hasTraced: boolean;
  /** The records in plotting order, for click-to-cell. */
  records: IMemtrackRecord[];
}

/** The net change a record stands for: traced when measured, else RSS. */
export function recordDelta(record: IMemtrackRecord): number | null {
  if (record.traced_delta !== null) {
    return record.traced_delta;
  }
  if (record.rss_before !== null && record.rss_after !== null) {
    return record.rss_after - record.rss_before;
  }
  return null;
}

function hoverText(record: IMemtrackRecord): string {
  const parts = [
    escapePlotlyText(recordTitle(record)),
    `delta ${formatDelta(recordDelta(record))}`,
    `RSS ${formatBytes(record.rss_after)} (peak ${formatBytes(record.rss_peak)})`
  ];
  if (record.traced_peak !== null) {
    parts.push(`traced peak ${formatBytes(record.traced_peak)}`);
  }
  parts.push(formatDuration(record.duration_s));
  if (record.error) {
    parts.push(`raised ${escapePlotlyText(record.error)}`);
  }
  return parts.join('<br>');
}

export function buildSeries(entries: readonly HistoryEntry[]): IPlotSeries {
  const series: IPlotSeries = {
    x: [],
    labels: [],
    rss: [],
    tracedCumulative: [],
    delta: [],
    hover: [],
    restarts: [],
    hasTraced: false,
    records: []
  };
  let traced: number | null = null;
  for (const entry of entries) {
    if (entry.kind === 'restart') {
      if (series.x.length > 0) {
        series.restarts.push(series.x.length + 0.5);
      }
      // A new kernel starts from nothing traced.
      traced = null;
      continue;
    }
    const record = entry.record;
    if (record.traced_delta !== null) {
      traced = (traced ?? 0) + record.traced_delta;
      series.hasTraced = true;
    }
    series.x.push(series.x.length + 1);
    series.labels.push(escapePlotlyText(recordTitle(record)));
    series.rss.push(record.rss_after);
    series.tracedCumulative.push(traced);
    series.delta.push(recordDelta(record));
    series.hover.push(hoverText(record));
    series.records.push(record);
  }
  return series;
}
