/**
 * What the tracked-cells table draws: its columns, its header and the row of
 * one record. Kept apart from CellTable (cellTable.ts), which decides which
 * rows are in the DOM (sorting, windowing, focus). textContent only, so
 * user-controlled strings (labels, errors) never become markup.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { disclosureButton, hasDetail } from './cellDetail';
import { cellVariables, variablesSummary } from './cellVariables';
import { clusterSummary } from './clusterDetail';
import { deathSummary } from './death';
import { formatGpuPeak, gpuPeakIsLowerBound } from './gpuFigures';
import {
  formatBytes,
  formatDelta,
  formatDuration,
  MISSING,
  recordTitle,
  sizeClass,
  Units
} from './format';
import { SessionEnd, sessionStartText } from './sessionStarts';
import { columnHelp, metricName, missingReason, releaseSummary, rssColumnHelp } from './metric';
import {
  IMemtrackRecord,
  isDeathRecord,
  isReleaseRecord,
  Metric,
  recordDelta,
  recordLevel,
  recordPeak
} from './record';

export type SortKey = 'order' | 'delta' | 'peak' | 'duration';

export interface IColumn {
  /** The sort this column's header button selects; null: not sortable. */
  key: SortKey | null;
  title: string;
  /** What the column's figures are (the header's tooltip). */
  help: string;
  numeric: boolean;
}

/** The table's columns for a metric, in order: recordRow writes one cell per column. */
export function tableColumns(trans: TranslationBundle, metric: Metric): IColumn[] {
  const help = columnHelp(metric, trans);
  return [
    {
      key: 'order',
      title: trans.__('Cell'),
      help: trans.__('The cell, as [execution count] label; a release from the leak list'),
      numeric: false
    },
    { key: 'delta', title: trans.__('Delta'), help: help.delta, numeric: true },
    { key: 'peak', title: trans.__('Peak'), help: help.peak, numeric: true },
    { key: null, title: trans.__('RSS'), help: rssColumnHelp(trans), numeric: true },
    {
      key: 'duration',
      title: trans.__('Time'),
      help: trans.__("Time: the cell's wall-clock duration"),
      numeric: true
    }
  ];
}

export interface ITableHeadOptions {
  columns: readonly IColumn[];
  sortKey: SortKey;
  descending: boolean;
  trans: TranslationBundle;
  /** A sortable column's header button was clicked. */
  onSort: (key: SortKey) => void;
}

/** The header row: a sort button per sortable column, the current sort marked. */
export function tableHead(options: ITableHeadOptions): HTMLElement {
  const { columns, sortKey, descending, trans, onSort } = options;
  const head = document.createElement('thead');
  const row = document.createElement('tr');
  row.setAttribute('aria-rowindex', '1');
  for (const column of columns) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.title = column.help;
    if (column.numeric) {
      th.classList.add('jp-Memtrack-numeric');
    }
    if (column.key === null) {
      th.textContent = column.title;
    } else {
      const key = column.key;
      const button = document.createElement('button');
      button.className = 'jp-Memtrack-sort';
      button.textContent = column.title;
      // The button covers the header: its tooltip says what the column is, then what it does.
      button.title = `${column.help}\n${trans.__('Sort by %1', column.title)}`;
      button.addEventListener('click', () => onSort(key));
      th.append(button);
      if (key === sortKey) {
        th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        button.dataset.direction = descending ? 'descending' : 'ascending';
      }
    }
    row.append(th);
  }
  head.append(row);
  return head;
}

/** An empty row standing for the rows above or below the rendered window. */
export function spacerRow(columnCount: number): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.className = 'jp-Memtrack-spacer';
  row.setAttribute('aria-hidden', 'true');
  const cell = document.createElement('td');
  cell.colSpan = columnCount;
  row.append(cell);
  return row;
}

export interface IRecordRowOptions {
  columns: readonly IColumn[];
  units: Units;
  /** The metric of the Delta and Peak columns. */
  metric: Metric;
  /** Whether the record's cell created or grew a leak suspect current now (highlighted). */
  leaking: boolean;
  /** How the kernel process before this record ended, when the record is the first after it. */
  sessionStart?: SessionEnd;
  /** Which run of its cell the record is; null for a cell's only run. */
  run: number | null;
  trans: TranslationBundle;
  /** The row was clicked. */
  onActivate: (record: IMemtrackRecord) => void;
  /** A key was pressed on the (focusable) row. */
  onKey: (event: KeyboardEvent, record: IMemtrackRecord) => void;
  /** Whether the row's detail (its variables, its cluster) is shown below it. */
  expanded?: boolean;
  /** The id of the row that shows its detail (the disclosure's aria-controls). */
  detailId?: string;
  /** The disclosure button was used: show or hide the row's detail. */
  onToggleVariables?: (record: IMemtrackRecord) => void;
}

/** A numeric cell: the figure, or "—" with why the record lacks it. */
interface IFigure {
  text: string;
  /** The cell's tooltip: the exact figure and its metric, or why it is missing. */
  title: string;
}

function figure(
  record: IMemtrackRecord,
  options: IRecordRowOptions,
  which: 'delta' | 'peak'
): IFigure {
  const { metric, units, trans } = options;
  const value = which === 'delta' ? recordDelta(record, metric) : recordPeak(record, metric);
  if (value === null) {
    return { text: MISSING, title: missingReason(record, metric, which, trans) };
  }
  const name = metricName(metric, trans);
  const bytes = value.toLocaleString('en-US');
  if (which === 'peak' && metric === 'gpu' && gpuPeakIsLowerBound(record)) {
    return {
      text: formatGpuPeak(record, units),
      title: trans.__(
        "%1 peak above the start: at least %2 bytes (some device's peak could only be bounded)",
        name,
        bytes
      )
    };
  }
  return which === 'delta'
    ? {
        text: formatDelta(value, units),
        title: trans.__('%1 delta: %2 bytes', name, value > 0 ? `+${bytes}` : bytes)
      }
    : {
        text: formatBytes(value, units),
        title:
          metric === 'rss' && record.rss_peak_scope === 'process'
            ? trans.__(
                "%1 peak above the start: %2 bytes at most (the process's lifetime peak: it could not be reset for the cell)",
                name,
                bytes
              )
            : trans.__('%1 peak above the start: %2 bytes', name, bytes)
      };
}

/** The row of one record: title, delta, peak, RSS and time, with notes as its tooltip. */
export function recordRow(
  record: IMemtrackRecord,
  options: IRecordRowOptions
): HTMLTableRowElement {
  const { columns, units, run, trans } = options;
  const row = document.createElement('tr');
  row.className = 'jp-Memtrack-row';
  row.tabIndex = 0;
  const delta = recordDelta(record, options.metric);
  row.dataset.size = sizeClass(delta);
  row.dataset.seq = String(record.seq);
  row.dataset.metric = options.metric;
  const notes: string[] = [];
  if (options.sessionStart) {
    // A line above the row (the style), and in words for the tooltip and screen readers.
    row.dataset.sessionStart = options.sessionStart;
    notes.push(sessionStartText(options.sessionStart, trans));
  }
  if (options.leaking) {
    row.classList.add('jp-Memtrack-leaking');
    notes.push(trans.__('This cell created or grew a current leak suspect'));
  }
  if (isDeathRecord(record)) {
    // One cell across the row: the sentence says what the columns would (RSS, limit, cause).
    const summary = deathSummary(record, units, trans);
    row.classList.add('jp-Memtrack-died');
    const td = document.createElement('td');
    td.colSpan = columns.length;
    td.textContent = summary;
    row.append(td);
    notes.push(summary);
  } else {
    let title = recordTitle(record);
    if (run !== null) {
      title += ` ${trans.__('(run %1)', run)}`;
    }
    const rss = recordLevel(record, 'rss');
    const cells: IFigure[] = [
      // The full title as the cell's tooltip: a narrow sidebar cuts it short.
      { text: title, title },
      figure(record, options, 'delta'),
      figure(record, options, 'peak'),
      rss === null
        ? { text: MISSING, title: missingReason(record, 'rss', 'delta', trans) }
        : { text: formatBytes(rss, units), title: '' },
      { text: formatDuration(record.duration_s), title: '' }
    ];
    cells.forEach((cell, i) => {
      const td = document.createElement('td');
      td.textContent = cell.text;
      if (cell.title) {
        td.title = cell.title;
      }
      if (columns[i].numeric) {
        td.classList.add('jp-Memtrack-numeric');
      }
      row.append(td);
    });
    // A narrow sidebar hides the RSS and Time columns (the style): the tooltip keeps them.
    notes.push(
      trans.__(
        'RSS after: %1; time: %2',
        rss === null ? MISSING : formatBytes(rss, units),
        formatDuration(record.duration_s)
      )
    );
  }
  if (options.sessionStart && !isDeathRecord(record)) {
    // A death's row says so itself.
    const marker = document.createElement('span');
    marker.className = 'jp-Memtrack-visuallyHidden';
    marker.textContent = `${sessionStartText(options.sessionStart, trans)}: `;
    row.firstElementChild!.prepend(marker);
  }
  const variables = cellVariables(record);
  const detail = hasDetail(record) && !isDeathRecord(record) && !!options.onToggleVariables;
  if (!detail && !isDeathRecord(record) && options.onToggleVariables) {
    // Where the disclosure button of the other rows is: the titles stay aligned.
    const spacer = document.createElement('span');
    spacer.className = 'jp-Memtrack-discloseSpacer';
    spacer.setAttribute('aria-hidden', 'true');
    row.firstElementChild!.prepend(spacer);
  }
  if (detail) {
    const button = disclosureButton({
      record,
      count: variables.length,
      expanded: options.expanded === true,
      detailId: options.detailId ?? '',
      trans,
      onToggle: options.onToggleVariables!
    });
    row.firstElementChild!.prepend(button);
  }
  if (variables.length) {
    if (detail) {
      row.dataset.variables = String(variables.length);
    }
    notes.push(variablesSummary(variables, units, trans));
  }
  if (record.cluster) {
    // The row's marker that a cluster reading exists (its detail has the figures).
    row.dataset.cluster = record.cluster.status;
    notes.push(clusterSummary(record.cluster, units, trans));
  }
  if (isReleaseRecord(record)) {
    // Not a cell: what the leak list released, so that the history follows what it freed.
    // Its label says so ("release: delete Out[12], _12 and _"); the style sets it apart.
    row.classList.add('jp-Memtrack-releaseRow');
    notes.push(releaseSummary(record, units, trans));
  }
  if (record.saved) {
    // A run read back from the notebook's cell metadata, not from the kernel.
    row.classList.add('jp-Memtrack-saved');
    const tag = document.createElement('span');
    tag.className = 'jp-Memtrack-savedTag';
    tag.textContent = trans.__('saved');
    row.firstElementChild!.append(' ', tag);
    notes.push(trans.__('Saved in the notebook by an earlier session'));
  }
  if (record.error && !isDeathRecord(record)) {
    notes.push(trans.__('The cell raised %1', record.error));
  }
  if (record.leaks.length) {
    notes.push(trans._n('%1 leak suspect', '%1 leak suspects', record.leaks.length));
  }
  if (record.cell_id) {
    notes.push(trans.__('Enter: go to the cell'));
  }
  if (detail) {
    notes.push(
      variables.length
        ? trans.__('Right arrow: show its variables; left arrow: hide them')
        : trans.__('Right arrow: show its cluster memory; left arrow: hide it')
    );
  }
  row.title = notes.join('\n');
  row.addEventListener('click', () => options.onActivate(record));
  row.addEventListener('keydown', event => options.onKey(event, record));
  return row;
}
