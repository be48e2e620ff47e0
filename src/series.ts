/**
 * Pure data preparation for the memory plot: what each point means, with no
 * plotting library involved (plot.ts draws it; jest tests it here).
 */
import {
  escapePlotlyText,
  formatBytes,
  formatDelta,
  formatDuration,
  recordTitle,
  Units
} from './format';
import { deathSummary } from './death';
import { IMemtrackRecord, isDeathRecord, recordDelta } from './record';
import { PlotMetric } from './settings';
import { HistoryEntry } from './tokens';

export interface ISeriesOptions {
  metric: PlotMetric;
  /** Most points to return; longer histories are decimated. */
  maxPoints: number;
  units: Units;
}

export interface IPlotSeries {
  metric: PlotMetric;
  /** 1-based position of each kept record in the full history. */
  x: number[];
  /** Tick labels: "[n] label", escaped for plotly. */
  labels: string[];
  /** The cumulative metric after each cell (bytes), null where unknown. */
  cumulative: (number | null)[];
  /** The highest value of the metric during each cell, null where unknown. */
  peak: (number | null)[];
  /** Per-cell net change (traced when measured, RSS otherwise). */
  delta: (number | null)[];
  /** Hover text per point, escaped for plotly (it joins lines with <br>). */
  hover: string[];
  /** Whether each kept record carries leak suspects. */
  leaking: boolean[];
  /** x positions (between points) where the kernel restarted. */
  restarts: number[];
  /** The same separators with what each stands for (restarts[i] is separators[i].x). */
  separators: IPlotSeparator[];
  /** Positions (in the kept arrays) of the records of cells during which the kernel died. */
  deaths: number[];
  /** Where each kept record's death marker sits (its last RSS, or the traced sum before it). */
  markerY: (number | null)[];
  /** The kept records, in plotting order, for click-to-cell. */
  records: IMemtrackRecord[];
  /** Records in the history, before decimation. */
  total: number;
}

/** A vertical line between two points: a restart, a death, or the end of the saved runs. */
export interface IPlotSeparator {
  x: number;
  kind: 'restart' | 'died' | 'saved';
  /** For a death: the cell it happened during, "[12] label", escaped for plotly. */
  cell: string | null;
}

function hoverText(record: IMemtrackRecord, units: Units): string {
  const parts = [
    escapePlotlyText(recordTitle(record)),
    `delta ${formatDelta(recordDelta(record), units)}`,
    `RSS ${formatBytes(record.rss_after, units)} (peak ${formatBytes(record.rss_peak, units)})`
  ];
  if (record.traced_peak !== null) {
    parts.push(`traced peak ${formatBytes(record.traced_peak, units)}`);
  }
  parts.push(formatDuration(record.duration_s));
  for (const line of record.top_lines.slice(0, 3)) {
    const code = line.code.length > 40 ? `${line.code.slice(0, 39)}…` : line.code;
    parts.push(
      `line ${line.line}: ${formatDelta(line.increment, units)} ${escapePlotlyText(code.trim())}`
    );
  }
  for (const type of record.types.slice(0, 3)) {
    const sign = type.count_delta > 0 ? '+' : '';
    parts.push(`${escapePlotlyText(type.type)} ${sign}${type.count_delta}`);
  }
  if (isDeathRecord(record)) {
    parts.push(escapePlotlyText(deathSummary(record, units)));
  } else if (record.error) {
    parts.push(`raised ${escapePlotlyText(record.error)}`);
  }
  if (record.leaks.length) {
    parts.push(`${record.leaks.length} leak suspect(s)`);
  }
  return parts.join('<br>');
}

/**
 * Indices of the records to draw: all of them up to maxPoints; beyond that one
 * per bucket (the largest change in it), plus every leaking record and the last.
 */
export function decimate(records: IMemtrackRecord[], maxPoints: number): number[] {
  const n = records.length;
  if (n <= maxPoints) {
    return records.map((_, i) => i);
  }
  const keep = new Set<number>();
  const bucket = n / maxPoints;
  for (let b = 0; b < maxPoints; b++) {
    const start = Math.floor(b * bucket);
    const end = Math.min(n, Math.floor((b + 1) * bucket));
    let best = start;
    let bestSize = -1;
    for (let i = start; i < end; i++) {
      const size = Math.abs(recordDelta(records[i]) ?? 0);
      if (size > bestSize) {
        best = i;
        bestSize = size;
      }
      if (records[i].leaks.length) {
        keep.add(i);
      }
    }
    keep.add(best);
  }
  keep.add(n - 1);
  return [...keep].sort((a, b) => a - b);
}

export function buildSeries(
  entries: readonly HistoryEntry[],
  options: Partial<ISeriesOptions> = {}
): IPlotSeries {
  const metric = options.metric ?? 'rss';
  const units = options.units ?? 'decimal';
  const all: IMemtrackRecord[] = [];
  const cumulative: (number | null)[] = [];
  const peak: (number | null)[] = [];
  const markerY: (number | null)[] = [];
  const separators: IPlotSeparator[] = [];
  let traced: number | null = null;
  for (const entry of entries) {
    if (entry.kind === 'restart') {
      if (all.length > 0) {
        separators.push({
          x: all.length + 0.5,
          kind: entry.saved ? 'saved' : entry.died ? 'died' : 'restart',
          cell: entry.cell ? escapePlotlyText(entry.cell) : null
        });
      }
      // A new kernel starts from nothing traced.
      traced = null;
      continue;
    }
    const record = entry.record;
    if (metric === 'rss') {
      cumulative.push(record.rss_after);
      peak.push(record.rss_peak);
      markerY.push(record.died?.last_rss ?? record.rss_peak ?? record.rss_before);
    } else {
      markerY.push(traced ?? 0);
      const before: number = traced ?? 0;
      if (record.traced_delta !== null) {
        traced = before + record.traced_delta;
      }
      cumulative.push(traced);
      peak.push(record.traced_peak === null ? null : before + record.traced_peak);
    }
    all.push(record);
  }

  const kept = decimate(all, Math.max(1, options.maxPoints ?? Infinity));
  const series: IPlotSeries = {
    metric,
    x: [],
    labels: [],
    cumulative: [],
    peak: [],
    delta: [],
    hover: [],
    leaking: [],
    restarts: separators.map(separator => separator.x),
    separators,
    deaths: [],
    markerY: [],
    records: [],
    total: all.length
  };
  for (const i of kept) {
    const record = all[i];
    series.x.push(i + 1);
    series.labels.push(escapePlotlyText(recordTitle(record)));
    series.cumulative.push(cumulative[i]);
    series.peak.push(peak[i]);
    series.delta.push(recordDelta(record));
    series.hover.push(hoverText(record, units));
    series.leaking.push(record.leaks.length > 0);
    series.markerY.push(markerY[i]);
    if (isDeathRecord(record)) {
      series.deaths.push(series.records.length);
    }
    series.records.push(record);
  }
  return series;
}
