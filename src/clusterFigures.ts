/**
 * A record's dask cluster reading (record.cluster) as the sidebar reads it:
 * which records have figures, the changes and peaks derived from the totals
 * and from each worker, and the plain-text lines of the plot's hover. No DOM
 * and no plotting library: the plot (series.ts) and the table's detail
 * (clusterDetail.ts) both read the figures from here, so they agree.
 */
import { formatBytes, formatDelta, MISSING, Units } from './format';
import {
  CLUSTER_BYTE_KEYS,
  ICluster,
  IClusterWorker,
  IMemtrackRecord,
  WORKER_STATUSES,
  WorkerStatus
} from './record';

/** The byte readings a cluster total and a worker both have. */
export type ClusterBytes = Partial<Record<(typeof CLUSTER_BYTE_KEYS)[number], number | null>>;

function bytes(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function difference(from: unknown, to: unknown): number | null {
  const start = bytes(from);
  const end = bytes(to);
  return start === null || end === null ? null : end - start;
}

/** The record's cluster reading when it has figures (status 'measured'), else null. */
export function measuredCluster(record: IMemtrackRecord): ICluster | null {
  return record.cluster?.status === 'measured' ? record.cluster : null;
}

/**
 * The cluster's RSS after the cell: the record's point on the cluster line.
 * Null (a gap in the line) where the reading was skipped, the scheduler did
 * not answer, or the kernel had no client.
 */
export function clusterLevel(record: IMemtrackRecord): number | null {
  return bytes(measuredCluster(record)?.rss_after);
}

/** RSS after less RSS before; null unless both ends were read. */
export function rssChange(figures: ClusterBytes): number | null {
  return difference(figures.rss_before, figures.rss_after);
}

/** The peak above the start (rss_peak less rss_before), as the table's Peak column is. */
export function peakAboveStart(figures: ClusterBytes): number | null {
  return difference(figures.rss_before, figures.rss_peak);
}

/**
 * A worker's peak above its start, for a worker read at both ends only: one
 * that left has no end, so its "peak" is its one reading, not a peak.
 */
export function workerPeakAbove(worker: IClusterWorker): number | null {
  return worker.status === 'stayed' ? peakAboveStart(worker) : null;
}

/** The change of dask's stored task results (managed memory) over the cell. */
export function managedChange(figures: ClusterBytes): number | null {
  return difference(figures.managed_before, figures.managed_after);
}

/** The workers the record lists (at most 8, those that changed most first), read defensively. */
export function listedWorkers(cluster: ICluster): IClusterWorker[] {
  return Array.isArray(cluster.workers) ? cluster.workers : [];
}

/** All the workers seen at either end, of which the record lists some. */
export function workersTotal(cluster: ICluster): number {
  return cluster.workers_total ?? listedWorkers(cluster).length;
}

/** A worker as people name it: its dask name, else its address. */
export function workerLabel(worker: IClusterWorker): string {
  return worker.name || worker.address;
}

/** How many listed workers joined, left or could not be read ('stayed' not counted). */
export function changedWorkers(cluster: ICluster): Map<WorkerStatus, number> {
  const counts = new Map<WorkerStatus, number>();
  for (const worker of listedWorkers(cluster)) {
    if (worker.status !== 'stayed' && WORKER_STATUSES.includes(worker.status)) {
      counts.set(worker.status, (counts.get(worker.status) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * A worker's RSS over the cell in words: its change when both ends were read,
 * else the one reading there is and which end it is (a worker that joined has
 * no start, one that left no end).
 */
export function workerRssText(worker: IClusterWorker, units: Units): string {
  const change = rssChange(worker);
  if (change !== null) {
    return formatDelta(change, units);
  }
  const after = bytes(worker.rss_after);
  if (after !== null) {
    return `${formatBytes(after, units)} at the end`;
  }
  const before = bytes(worker.rss_before);
  return before === null ? MISSING : `${formatBytes(before, units)} at the start`;
}

/** One listed worker on one line: "1 (stayed): +406.6 MB, peak 406.6 MB". */
function workerHoverLine(worker: IClusterWorker, units: Units): string {
  if (worker.status === 'unreadable') {
    return `${workerLabel(worker)} (unreadable): not read`;
  }
  const parts = [workerRssText(worker, units)];
  const peak = workerPeakAbove(worker);
  if (peak !== null) {
    parts.push(`peak ${formatBytes(peak, units)}`);
  }
  return `${workerLabel(worker)} (${worker.status}): ${parts.join(', ')}`;
}

/** "3 workers (1 joined, 1 gone)", or "8 of 20 workers listed". */
export function workersLine(cluster: ICluster): string {
  const total = workersTotal(cluster);
  const listed = listedWorkers(cluster).length;
  const changed = [...changedWorkers(cluster)].map(([status, n]) => `${n} ${status}`);
  const head = listed < total ? `${listed} of ${total} workers listed` : `${total} workers`;
  return changed.length ? `${head} (${changed.join(', ')})` : head;
}

/**
 * The hover of a record's point on the cluster line, plain text (series.ts
 * escapes each line): the total after and its change, the peak above the
 * start, the managed change, then one line per listed worker.
 */
export function clusterHoverLines(cluster: ICluster, units: Units): string[] {
  const lines = [
    `cluster RSS ${formatBytes(bytes(cluster.rss_after), units)} after, ${formatDelta(rssChange(cluster), units)} over the cell`,
    // Each worker's own peak, summed: the workers need not have peaked at the same time.
    `peak ${formatBytes(peakAboveStart(cluster), units)} above the start (the workers' peaks summed` +
      (cluster.peak_scope === 'ends' ? '; some read at the ends only)' : ')'),
    `managed ${formatDelta(managedChange(cluster), units)} (task results held by the workers)`,
    workersLine(cluster)
  ];
  for (const worker of listedWorkers(cluster)) {
    lines.push(workerHoverLine(worker, units));
  }
  return lines;
}

/**
 * The line about the cluster in the hover of the kernel's own point, plain
 * text: its total and change, or why it has none.
 */
export function clusterNote(cluster: ICluster, units: Units): string {
  if (cluster.status === 'measured') {
    return `cluster RSS ${formatBytes(bytes(cluster.rss_after), units)} (${formatDelta(rssChange(cluster), units)})`;
  }
  const what = cluster.status === 'skipped' ? 'cluster not read' : 'cluster unreachable';
  return cluster.reason ? `${what}: ${cluster.reason}` : what;
}
