/**
 * The "Cluster" part of an expanded cell-table row (record.cluster): the
 * scheduler and how the reading went, the cluster's totals over the cell, and
 * a small table of the listed workers; and the line the row's tooltip gives
 * it. textContent only: addresses, names and the reason come from the
 * cluster, and must stay text.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import {
  listedWorkers,
  managedChange,
  peakAboveStart,
  rssChange,
  workerLabel,
  workerPeakAbove,
  workersTotal
} from './clusterFigures';
import { formatBytes, formatDelta, MISSING, recordTitle, Units } from './format';
import { ClusterStatus, ICluster, IClusterWorker, IMemtrackRecord, WorkerStatus } from './record';

export interface IClusterDetailOptions {
  units: Units;
  trans: TranslationBundle;
}

/** How the reading went, in words. */
export function clusterStatusText(status: ClusterStatus, trans: TranslationBundle): string {
  switch (status) {
    case 'measured':
      return trans.__('measured');
    case 'skipped':
      return trans.__('not read');
    case 'unreachable':
      return trans.__('unreachable');
  }
}

/** What became of a worker over the cell, in words (the table marks it by text, not colour). */
export function workerStatusText(status: WorkerStatus, trans: TranslationBundle): string {
  switch (status) {
    case 'stayed':
      return trans.__('stayed');
    case 'joined':
      return trans.__('joined');
    case 'gone':
      return trans.__('gone');
    case 'unreadable':
      return trans.__('unreadable');
  }
}

/** The row tooltip's line about the cluster: its total after and change, or why it has none. */
export function clusterSummary(cluster: ICluster, units: Units, trans: TranslationBundle): string {
  if (cluster.status === 'measured') {
    const workers = workersTotal(cluster);
    return trans.__(
      'Cluster: %1 RSS after (%2), %3',
      formatBytes(cluster.rss_after, units),
      formatDelta(rssChange(cluster), units),
      trans._n('%1 worker', '%1 workers', workers)
    );
  }
  const what =
    cluster.status === 'skipped' ? trans.__('Cluster not read') : trans.__('Cluster unreachable');
  return cluster.reason ? `${what}: ${cluster.reason}` : what;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/** "Cluster · measured · tcp://127.0.0.1:8786", the address last (a narrow panel cuts it). */
function headLine(cluster: ICluster, trans: TranslationBundle): HTMLElement {
  const head = element('p', 'jp-Memtrack-clusterHead');
  const status = element(
    'span',
    'jp-Memtrack-clusterStatus',
    clusterStatusText(cluster.status, trans)
  );
  const scheduler = element('code', 'jp-Memtrack-clusterScheduler', cluster.scheduler);
  scheduler.title = trans.__('Scheduler %1', cluster.scheduler);
  head.append(
    element('span', 'jp-Memtrack-clusterTitle', trans.__('Cluster')),
    ' · ',
    status,
    ' · ',
    scheduler
  );
  return head;
}

/** The cluster's totals, one figure a line (data-figure names which, for tests and styles). */
function totals(cluster: ICluster, options: IClusterDetailOptions): HTMLElement {
  const { units, trans } = options;
  const list = element('ul', 'jp-Memtrack-clusterTotals');
  const add = (figure: string, text: string, title: string): void => {
    const item = element('li', 'jp-Memtrack-clusterFigure', text);
    item.dataset.figure = figure;
    item.title = title;
    list.append(item);
  };
  add(
    'rss',
    trans.__(
      'RSS %1 → %2 (%3)',
      formatBytes(cluster.rss_before, units),
      formatBytes(cluster.rss_after, units),
      formatDelta(rssChange(cluster), units)
    ),
    trans.__("The workers' RSS summed, at the cell's start and at its end")
  );
  const peakTitle = trans.__(
    "The sum of each worker's own peak during the cell, less their RSS at the start: the workers need not have peaked at once, so the cluster held at most this much more at any moment"
  );
  add(
    'peak',
    trans.__('Peak %1 above the start', formatBytes(peakAboveStart(cluster), units)),
    cluster.peak_scope === 'ends'
      ? `${peakTitle}\n${trans.__('Some workers could not reset their peak: theirs is the larger of their two readings')}`
      : peakTitle
  );
  add(
    'managed',
    trans.__(
      'Managed %1 (%2 → %3)',
      formatDelta(managedChange(cluster), units),
      formatBytes(cluster.managed_before, units),
      formatBytes(cluster.managed_after, units)
    ),
    trans.__("Task results dask holds in the workers' memory (spilled data excluded)")
  );
  const listed = listedWorkers(cluster).length;
  const total = workersTotal(cluster);
  add(
    'workers',
    trans._n('%2 of %1 worker listed', '%2 of %1 workers listed', total, listed),
    trans.__('Workers seen at either end; those that changed most are listed first')
  );
  if (typeof cluster.memory_limit === 'number') {
    add(
      'limit',
      trans.__('Limit %1', formatBytes(cluster.memory_limit, units)),
      trans.__('The memory limits of the workers there at the end, summed')
    );
  }
  return list;
}

/** One figure of a worker: the text, or "—" with why it is missing as its tooltip. */
interface IWorkerFigure {
  text: string;
  title: string;
}

/** Why a worker lacks a figure that needs both ends. */
function missingWhy(worker: IClusterWorker, options: IClusterDetailOptions): string {
  const { units, trans } = options;
  switch (worker.status) {
    case 'joined':
      return trans.__(
        'Joined during the cell: no reading at its start (RSS %1 at the end, peak %2)',
        formatBytes(worker.rss_after, units),
        formatBytes(worker.rss_peak, units)
      );
    case 'gone':
      return trans.__(
        'Left or died during the cell: no reading at its end (RSS %1 at the start)',
        formatBytes(worker.rss_before, units)
      );
    case 'unreadable':
      return trans.__('Its reading failed');
    default:
      return trans.__('Not read at both ends');
  }
}

function workerFigures(worker: IClusterWorker, options: IClusterDetailOptions): IWorkerFigure[] {
  const { units, trans } = options;
  const figure = (value: number | null, text: (value: number) => string): IWorkerFigure =>
    value === null
      ? { text: MISSING, title: missingWhy(worker, options) }
      : { text: text(value), title: trans.__('%1 bytes', value.toLocaleString('en-US')) };
  return [
    figure(rssChange(worker), value => formatDelta(value, units)),
    figure(workerPeakAbove(worker), value => formatBytes(value, units)),
    figure(managedChange(worker), value => formatDelta(value, units))
  ];
}

/**
 * The listed workers: name, RSS change, peak above its start, managed change.
 * A worker that did not stay through the cell has what became of it written
 * after its name (a column of "stayed" would not fit a 250 px panel).
 */
function workersTable(
  record: IMemtrackRecord,
  workers: readonly IClusterWorker[],
  options: IClusterDetailOptions
): HTMLTableElement {
  const { trans } = options;
  const table = element('table', 'jp-Memtrack-clusterWorkers');
  table.setAttribute('aria-label', trans.__('Dask workers during %1', recordTitle(record)));
  const headRow = document.createElement('tr');
  const columns: [string, string][] = [
    [
      trans.__('Worker'),
      trans.__(
        "The worker's dask name, else its address; marked joined, gone or unreadable when it did not stay through the cell"
      )
    ],
    [trans.__('RSS'), trans.__("The worker's RSS change over the cell")],
    [trans.__('Peak'), trans.__("The worker's peak RSS above its start")],
    [trans.__('Managed'), trans.__('The change of the task results the worker holds')]
  ];
  columns.forEach(([title, help], index) => {
    // The figures' headers align with them, to the right.
    const th = element('th', index === 0 ? '' : 'jp-Memtrack-numeric', title);
    th.scope = 'col';
    th.title = help;
    headRow.append(th);
  });
  const head = document.createElement('thead');
  head.append(headRow);
  const body = document.createElement('tbody');
  for (const worker of workers) {
    const row = element('tr', 'jp-Memtrack-clusterWorker');
    row.dataset.status = worker.status;
    const who = element('td', 'jp-Memtrack-clusterWorkerCell');
    who.title = worker.name ? `${worker.name} (${worker.address})` : worker.address;
    who.append(element('span', 'jp-Memtrack-clusterWorkerName', workerLabel(worker)));
    if (worker.status !== 'stayed') {
      const status = workerStatusText(worker.status, trans);
      who.append(' ', element('span', 'jp-Memtrack-clusterWorkerStatus', status));
    }
    row.append(who);
    for (const figure of workerFigures(worker, options)) {
      const td = element('td', 'jp-Memtrack-numeric', figure.text);
      td.title = figure.title;
      row.append(td);
    }
    body.append(row);
  }
  table.append(head, body);
  return table;
}

/**
 * The Cluster part of a record's detail. A reading that was skipped or found
 * the scheduler unreachable has its status and reason only.
 */
export function clusterDetail(
  record: IMemtrackRecord,
  cluster: ICluster,
  options: IClusterDetailOptions
): HTMLElement {
  const part = element('div', 'jp-Memtrack-cluster');
  part.dataset.status = cluster.status;
  part.setAttribute('role', 'group');
  part.setAttribute('aria-label', options.trans.__('Cluster memory of %1', recordTitle(record)));
  part.append(headLine(cluster, options.trans));
  if (cluster.reason) {
    part.append(element('p', 'jp-Memtrack-clusterReason', cluster.reason));
  }
  if (cluster.status !== 'measured') {
    return part;
  }
  part.append(totals(cluster, options));
  const workers = listedWorkers(cluster);
  if (workers.length) {
    part.append(workersTable(record, workers, options));
  }
  return part;
}
