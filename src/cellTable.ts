/**
 * The tracked-cells table: sortable by delta, peak and duration, keyboard
 * navigable, and the plot's text alternative. DOM is built with textContent
 * only, so user-controlled strings never become markup.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatDelta, formatDuration, recordTitle, sizeClass, Units } from './format';
import { recordDelta, recordPeak } from './series';
import { IMemtrackRecord } from './tokens';

export type SortKey = 'order' | 'delta' | 'peak' | 'duration';

interface IColumn {
  key: SortKey | null;
  title: string;
  numeric: boolean;
}

export interface ICellTableOptions {
  trans: TranslationBundle;
  /** A row was activated (click, Enter or Space). */
  onActivate: (record: IMemtrackRecord) => void;
}

/** Sort value of a record for a key; records without a value sort last. */
export function sortValue(record: IMemtrackRecord, key: SortKey): number | null {
  switch (key) {
    case 'order':
      return record.seq;
    case 'delta':
      return recordDelta(record);
    case 'peak':
      return recordPeak(record);
    case 'duration':
      return record.duration_s;
  }
}

/** Records in table order (stable; ties and unknown values keep history order). */
export function sortRecords(
  records: IMemtrackRecord[],
  key: SortKey,
  descending: boolean
): IMemtrackRecord[] {
  const indexed = records.map((record, index) => ({ record, index }));
  indexed.sort((a, b) => {
    const va = sortValue(a.record, key);
    const vb = sortValue(b.record, key);
    if (va === null || vb === null) {
      return va === vb ? a.index - b.index : va === null ? 1 : -1;
    }
    const order = descending ? vb - va : va - vb;
    return order || a.index - b.index;
  });
  return indexed.map(item => item.record);
}

/** Which run of its cell each record is (1-based), by cell id; null for a cell's only run. */
export function runNumbers(records: IMemtrackRecord[]): Map<IMemtrackRecord, number | null> {
  const counts = new Map<string, number>();
  for (const record of records) {
    if (record.cell_id) {
      counts.set(record.cell_id, (counts.get(record.cell_id) ?? 0) + 1);
    }
  }
  const seen = new Map<string, number>();
  const runs = new Map<IMemtrackRecord, number | null>();
  for (const record of records) {
    const id = record.cell_id;
    if (!id || (counts.get(id) ?? 0) < 2) {
      runs.set(record, null);
      continue;
    }
    const run = (seen.get(id) ?? 0) + 1;
    seen.set(id, run);
    runs.set(record, run);
  }
  return runs;
}

export class CellTable {
  readonly node = document.createElement('table');

  constructor(options: ICellTableOptions) {
    this._trans = options.trans;
    this._onActivate = options.onActivate;
    this.node.className = 'jp-Memtrack-table';
    const t = this._trans;
    this._columns = [
      { key: 'order', title: t.__('Cell'), numeric: false },
      { key: 'delta', title: t.__('Delta'), numeric: true },
      { key: 'peak', title: t.__('Peak'), numeric: true },
      { key: null, title: t.__('RSS'), numeric: true },
      { key: 'duration', title: t.__('Time'), numeric: true }
    ];
  }

  get sortKey(): SortKey {
    return this._sortKey;
  }

  get descending(): boolean {
    return this._descending;
  }

  /** Sort by a column; the same column again flips the direction. */
  sortBy(key: SortKey): void {
    if (key === this._sortKey) {
      this._descending = !this._descending;
    } else {
      this._sortKey = key;
      // Big numbers first is what people look for; history order reads oldest first.
      this._descending = key !== 'order';
    }
    this.render(this._records, this._units);
  }

  /** Rebuild the table for these records. */
  render(records: IMemtrackRecord[], units: Units): void {
    this._records = records;
    this._units = units;
    this._runs = runNumbers(records);
    this.node.replaceChildren(this._caption(records.length), this._head());
    this._body = document.createElement('tbody');
    for (const record of sortRecords(records, this._sortKey, this._descending)) {
      this._body.append(this._row(record));
    }
    this.node.append(this._body);
  }

  /**
   * Add one record at the end: cheap when the table is in history order and
   * the record starts no re-run marking; otherwise a full render.
   */
  append(records: IMemtrackRecord[], units: Units): void {
    const record = records[records.length - 1];
    const inOrder = this._sortKey === 'order' && !this._descending;
    const rerun =
      record?.cell_id && this._records.some(r => r.cell_id === record.cell_id && r !== record);
    if (
      !record ||
      !inOrder ||
      rerun ||
      units !== this._units ||
      !this._body ||
      records.length !== this._records.length + 1
    ) {
      this.render(records, units);
      return;
    }
    this._records = records;
    this._runs.set(record, null);
    this._body.append(this._row(record));
    this.node.querySelector('caption')!.textContent = this._captionText(records.length);
  }

  private _captionText(count: number): string {
    return this._trans._n('%1 tracked execution', '%1 tracked executions', count);
  }

  private _caption(count: number): HTMLElement {
    const caption = document.createElement('caption');
    caption.textContent = this._captionText(count);
    return caption;
  }

  private _head(): HTMLElement {
    const head = document.createElement('thead');
    const row = document.createElement('tr');
    for (const column of this._columns) {
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
        button.title = this._trans.__('Sort by %1', column.title);
        button.addEventListener('click', () => this.sortBy(key));
        th.append(button);
        if (key === this._sortKey) {
          th.setAttribute('aria-sort', this._descending ? 'descending' : 'ascending');
          button.dataset.direction = this._descending ? 'descending' : 'ascending';
        }
      }
      row.append(th);
    }
    head.append(row);
    return head;
  }

  private _row(record: IMemtrackRecord): HTMLTableRowElement {
    const units = this._units;
    const row = document.createElement('tr');
    row.className = 'jp-Memtrack-row';
    row.tabIndex = 0;
    const delta = recordDelta(record);
    row.dataset.size = sizeClass(delta);
    row.dataset.seq = String(record.seq);
    if (record.leaks.length) {
      row.classList.add('jp-Memtrack-leaking');
    }
    const run = this._runs.get(record) ?? null;
    let title = recordTitle(record);
    if (run !== null) {
      title += ` ${this._trans.__('(run %1)', run)}`;
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
      if (this._columns[i].numeric) {
        td.classList.add('jp-Memtrack-numeric');
      }
      row.append(td);
    });
    const notes: string[] = [];
    if (record.error) {
      notes.push(this._trans.__('The cell raised %1', record.error));
    }
    if (record.leaks.length) {
      notes.push(this._trans._n('%1 leak suspect', '%1 leak suspects', record.leaks.length));
    }
    if (record.cell_id) {
      notes.push(this._trans.__('Enter: go to the cell'));
    }
    row.title = notes.join('\n');
    row.addEventListener('click', () => this._onActivate(record));
    row.addEventListener('keydown', event => this._onKey(event, row, record));
    return row;
  }

  private _onKey(event: KeyboardEvent, row: HTMLTableRowElement, record: IMemtrackRecord): void {
    let target: Element | null = null;
    switch (event.key) {
      case 'Enter':
      case ' ':
        event.preventDefault();
        this._onActivate(record);
        return;
      case 'ArrowDown':
        target = row.nextElementSibling;
        break;
      case 'ArrowUp':
        target = row.previousElementSibling;
        break;
      case 'Home':
        target = row.parentElement?.firstElementChild ?? null;
        break;
      case 'End':
        target = row.parentElement?.lastElementChild ?? null;
        break;
      default:
        return;
    }
    event.preventDefault();
    (target as HTMLElement | null)?.focus();
  }

  private _trans: TranslationBundle;
  private _onActivate: (record: IMemtrackRecord) => void;
  private _columns: IColumn[];
  private _records: IMemtrackRecord[] = [];
  private _runs = new Map<IMemtrackRecord, number | null>();
  private _units: Units = 'decimal';
  private _sortKey: SortKey = 'order';
  private _descending = false;
  private _body: HTMLTableSectionElement | null = null;
}
