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
import { clusterHoverLines, clusterLevel, clusterNote, measuredCluster } from './clusterFigures';
import { deathSummary } from './death';
import { formatGpuPeak, gpuHoverLines } from './gpuFigures';
import { leakingRecords } from './leakCells';
import {
  IMemtrackRecord,
  isDeathRecord,
  isReleaseRecord,
  Metric,
  METRICS,
  recordDelta,
  recordLevel,
  recordPeak
} from './record';
import { HistoryEntry } from './tokens';

export interface ISeriesOptions {
  /** The metric of the line, the peaks and the bars (resolved: see resolveMetric). */
  metric: Metric;
  /** Most points to return; longer histories are decimated. */
  maxPoints: number;
  units: Units;
}

export interface IPlotSeries {
  metric: Metric;
  /** 1-based position of each kept record in the full history. */
  x: number[];
  /** Tick labels: "[n] label" ("release" for a release), escaped for plotly. */
  labels: string[];
  /**
   * The metric's level after each record (bytes), null where unknown: RSS less
   * tracemalloc's own memory, the allocated memory, or for traced (which has no
   * absolute level) the running sum over the records that have a traced delta;
   * for GPU the bytes allocated over every GPU library and device.
   */
  cumulative: (number | null)[];
  /** The metric's highest value during each cell (its level before + its peak), null where unknown. */
  peak: (number | null)[];
  /** Per-record change of the metric, null where the record lacks it. */
  delta: (number | null)[];
  /** Hover text per point, escaped for plotly (it joins lines with <br>). */
  hover: string[];
  /**
   * The dask cluster's RSS after each kept record (cluster.rss_after), null
   * where the record has no measured cluster reading: a gap in the cluster
   * line, never another figure.
   */
  cluster: (number | null)[];
  /** Hover text of each point of the cluster line, escaped for plotly ('' where it has none). */
  clusterHover: string[];
  /** Whether any kept record has a point on the cluster line (else the line is not drawn). */
  hasCluster: boolean;
  /** Whether each kept record's cell created or grew a leak suspect current now (leakCells.ts). */
  leaking: boolean[];
  /** Positions (in the kept arrays) of the releases done from the leak list. */
  releases: number[];
  /** x positions (between points) where the kernel restarted. */
  restarts: number[];
  /** The same separators with what each stands for (restarts[i] is separators[i].x). */
  separators: IPlotSeparator[];
  /** Positions (in the kept arrays) of the records of cells during which the kernel died. */
  deaths: number[];
  /** Where each kept record's death marker sits (its last RSS, or the metric's level before it). */
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

/** Plain-text names of the metrics in the hover text (escaped with it). */
const HOVER_NAMES: Record<Metric, string> = {
  rss: 'RSS',
  allocated: 'allocated',
  traced: 'traced',
  gpu: 'GPU'
};

/** "allocated delta +30.0 MB, peak 31.0 MB": one metric's figures, named. */
function metricLine(record: IMemtrackRecord, metric: Metric, units: Units): string {
  // A GPU peak may be a lower bound (a device's bounded peak): marked "≥".
  const peak =
    metric === 'gpu'
      ? formatGpuPeak(record, units)
      : formatBytes(recordPeak(record, metric), units);
  return `${HOVER_NAMES[metric]} delta ${formatDelta(recordDelta(record, metric), units)}, peak ${peak}`;
}

function hoverText(record: IMemtrackRecord, metric: Metric, units: Units): string {
  // The plotted metric first; the others the record has after it, each named.
  const parts = [escapePlotlyText(recordTitle(record)), metricLine(record, metric, units)];
  for (const other of METRICS) {
    if (other !== metric && recordDelta(record, other) !== null) {
      parts.push(metricLine(record, other, units));
    }
  }
  parts.push(`RSS after ${formatBytes(recordLevel(record, 'rss'), units)}`);
  const release = record.release;
  if (release) {
    parts.push(
      escapePlotlyText(
        `released: ${release.action}; expected ${formatBytes(release.expected_bytes, units)}, freed ${formatBytes(release.freed_bytes, units)}`
      )
    );
  } else {
    parts.push(formatDuration(record.duration_s));
  }
  for (const line of record.top_lines.slice(0, 3)) {
    const code = line.code.length > 40 ? `${line.code.slice(0, 39)}…` : line.code;
    parts.push(
      `line ${line.line}: ${line.sampled ? '~' : ''}${formatDelta(line.increment, units)} ${escapePlotlyText(code.trim())}`
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
  if (record.cluster) {
    parts.push(escapePlotlyText(clusterNote(record.cluster, units)));
  }
  // Library, device name and error come from the kernel: each line escaped once.
  parts.push(...gpuHoverLines(record, units).map(escapePlotlyText));
  return parts.join('<br>');
}

/** The hover of a record's point on the cluster line ('' where it has none). */
function clusterHoverText(record: IMemtrackRecord, units: Units): string {
  const cluster = measuredCluster(record);
  if (!cluster || clusterLevel(record) === null) {
    return '';
  }
  // Addresses, names and the reason come from the cluster: each line escaped once.
  const lines = [recordTitle(record), ...clusterHoverLines(cluster, units)];
  return lines.map(escapePlotlyText).join('<br>');
}

/**
 * Indices of the records to draw: all of them up to maxPoints; beyond that one
 * per bucket (the largest change of the metric in it), plus every record that
 * made or grew a current leak suspect, every release and the last.
 */
export function decimate(records: IMemtrackRecord[], maxPoints: number, metric: Metric): number[] {
  const n = records.length;
  if (n <= maxPoints) {
    return records.map((_, i) => i);
  }
  const leaking = leakingRecords(records);
  const keep = new Set<number>();
  const bucket = n / maxPoints;
  for (let b = 0; b < maxPoints; b++) {
    const start = Math.floor(b * bucket);
    const end = Math.min(n, Math.floor((b + 1) * bucket));
    let best = start;
    let bestSize = -1;
    for (let i = start; i < end; i++) {
      const size = Math.abs(recordDelta(records[i], metric) ?? 0);
      if (size > bestSize) {
        best = i;
        bestSize = size;
      }
      if (leaking.has(records[i]) || isReleaseRecord(records[i])) {
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
  // The traced sum of this kernel process, and the metric's last known level (death markers).
  let traced: number | null = null;
  let lastLevel: number | null = null;
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
    const cellPeak = recordPeak(record, metric);
    let before: number | null;
    let level: number | null;
    if (metric === 'traced') {
      // No absolute level: the sum of the deltas of the records that have one (the others
      // are no point on the line, rather than a point that repeats the last sum).
      before = traced ?? 0;
      level = record.traced_delta === null ? null : before + record.traced_delta;
      traced = level ?? traced;
    } else {
      before = recordLevel(record, metric, 'before');
      level = recordLevel(record, metric, 'after');
    }
    cumulative.push(level);
    peak.push(before === null || cellPeak === null ? null : before + cellPeak);
    markerY.push(
      metric === 'rss'
        ? (record.died?.last_rss ?? record.rss_peak ?? record.rss_before)
        : (before ?? lastLevel)
    );
    lastLevel = level ?? lastLevel;
    all.push(record);
  }

  const kept = decimate(all, Math.max(1, options.maxPoints ?? Infinity), metric);
  const leaking = leakingRecords(all);
  const series: IPlotSeries = {
    metric,
    x: [],
    labels: [],
    cumulative: [],
    peak: [],
    delta: [],
    hover: [],
    cluster: [],
    clusterHover: [],
    hasCluster: false,
    leaking: [],
    releases: [],
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
    // A release's label is a sentence (its hover has it): its tick says what the point is.
    series.labels.push(isReleaseRecord(record) ? 'release' : escapePlotlyText(recordTitle(record)));
    series.cumulative.push(cumulative[i]);
    series.peak.push(peak[i]);
    series.delta.push(recordDelta(record, metric));
    series.hover.push(hoverText(record, metric, units));
    const clusterRss = clusterLevel(record);
    series.cluster.push(clusterRss);
    series.clusterHover.push(clusterHoverText(record, units));
    series.hasCluster = series.hasCluster || clusterRss !== null;
    series.leaking.push(leaking.has(record));
    series.markerY.push(markerY[i]);
    if (isDeathRecord(record)) {
      series.deaths.push(series.records.length);
    }
    if (isReleaseRecord(record)) {
      series.releases.push(series.records.length);
    }
    series.records.push(record);
  }
  return series;
}
