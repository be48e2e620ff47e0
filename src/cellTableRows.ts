/**
 * What the tracked-cells table draws: its columns, its header and the row of
 * one record. Kept apart from CellTable (cellTable.ts), which decides which
 * rows are in the DOM (sorting, windowing, focus). textContent only, so
 * user-controlled strings (labels, errors) never become markup.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { deathSummary } from './death';
import { formatBytes, formatDelta, formatDuration, recordTitle, sizeClass, Units } from './format';
import { IMemtrackRecord, isDeathRecord, recordDelta, recordPeak } from './record';

export type SortKey = 'order' | 'delta' | 'peak' | 'duration';

export interface IColumn {
  /** The sort this column's header button selects; null: not sortable. */
  key: SortKey | null;
  title: string;
  numeric: boolean;
}

/** The table's columns, in order: recordRow writes one cell per column. */
export function tableColumns(trans: TranslationBundle): IColumn[] {
  return [
    { key: 'order', title: trans.__('Cell'), numeric: false },
    { key: 'delta', title: trans.__('Delta'), numeric: true },
    { key: 'peak', title: trans.__('Peak'), numeric: true },
    { key: null, title: trans.__('RSS'), numeric: true },
    { key: 'duration', title: trans.__('Time'), numeric: true }
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
      button.title = trans.__('Sort by %1', column.title);
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
  /** Which run of its cell the record is; null for a cell's only run. */
  run: number | null;
  trans: TranslationBundle;
  /** The row was clicked. */
  onActivate: (record: IMemtrackRecord) => void;
  /** A key was pressed on the (focusable) row. */
  onKey: (event: KeyboardEvent, record: IMemtrackRecord) => void;
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
  const delta = recordDelta(record);
  row.dataset.size = sizeClass(delta);
  row.dataset.seq = String(record.seq);
  if (record.leaks.length) {
    row.classList.add('jp-Memtrack-leaking');
  }
  const notes: string[] = [];
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
    const cells = [
      title,
      formatDelta(delta, units),
      formatBytes(recordPeak(record), units),
      formatBytes(record.rss_after, units),
      formatDuration(record.duration_s)
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (columns[i].numeric) {
        td.classList.add('jp-Memtrack-numeric');
      }
      row.append(td);
    });
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
  row.title = notes.join('\n');
  row.addEventListener('click', () => options.onActivate(record));
  row.addEventListener('keydown', event => options.onKey(event, record));
  return row;
}
