/**
 * What an expanded row of the cell table shows below it, and the row's
 * disclosure button that opens it: the variables the cell changed
 * (cellVariables.ts) and the dask cluster's memory over the cell
 * (clusterDetail.ts), whichever the record has. ExpandedRecords keeps which
 * rows are open and how tall their details are, so that the table's windowing
 * (cellTable.ts) can count them.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { cellVariables, variablesList } from './cellVariables';
import { clusterDetail } from './clusterDetail';
import { recordTitle, Units } from './format';
import { IMemtrackRecord, runKey } from './record';

/** Whether a record's row opens to a detail: it changed variables, or has a cluster reading. */
export function hasDetail(record: IMemtrackRecord): boolean {
  return record.cluster !== undefined || cellVariables(record).length > 0;
}

export interface IDisclosureOptions {
  record: IMemtrackRecord;
  /** How many variables the detail lists. */
  count: number;
  expanded: boolean;
  detailId: string;
  trans: TranslationBundle;
  onToggle: (record: IMemtrackRecord) => void;
}

/** The button's name and tooltip: what the detail holds. */
function disclosureText(options: IDisclosureOptions): { label: string; title: string } {
  const { record, count, trans } = options;
  const title = recordTitle(record);
  const variables = trans._n(
    'Variables of %2: %1 changed',
    'Variables of %2: %1 changed',
    count,
    title
  );
  if (!record.cluster) {
    return {
      label: variables,
      title: trans.__('Show the variables this cell created, grew or freed')
    };
  }
  if (count === 0) {
    return {
      label: trans.__('Cluster memory of %1', title),
      title: trans.__("Show the dask cluster's memory over this cell")
    };
  }
  return {
    label: trans.__('%1; cluster memory', variables),
    title: trans.__(
      "Show the variables this cell created, grew or freed, and the dask cluster's memory"
    )
  };
}

/** The row's disclosure button: opens the row's detail (aria-expanded). */
export function disclosureButton(options: IDisclosureOptions): HTMLButtonElement {
  const { record, expanded } = options;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jp-Memtrack-disclose';
  button.setAttribute('aria-expanded', String(expanded));
  button.setAttribute('aria-controls', options.detailId);
  const text = disclosureText(options);
  button.setAttribute('aria-label', text.label);
  button.title = text.title;
  // The row's own click and keys (go to the cell, move between rows) are not this button's.
  button.addEventListener('click', event => {
    event.stopPropagation();
    options.onToggle(record);
  });
  button.addEventListener('keydown', event => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.stopPropagation();
    }
  });
  return button;
}

export interface IDetailOptions {
  /** The row's id (the disclosure button's aria-controls). */
  id: string;
  columnCount: number;
  units: Units;
  trans: TranslationBundle;
}

/** The detail row under an expanded record: its variables (largest change first), its cluster. */
export function detailRow(record: IMemtrackRecord, options: IDetailOptions): HTMLTableRowElement {
  const { units, trans } = options;
  const row = document.createElement('tr');
  row.className = 'jp-Memtrack-varsRow';
  row.id = options.id;
  row.dataset.seq = String(record.seq);
  const td = document.createElement('td');
  td.colSpan = options.columnCount;
  const variables = cellVariables(record);
  if (variables.length) {
    td.append(...variablesList(record, variables, units, trans));
  }
  if (record.cluster) {
    td.append(clusterDetail(record, record.cluster, { units, trans }));
  }
  row.append(td);
  return row;
}

/** The key a record's expansion is kept under (the same run after a history reload). */
export function expansionKey(record: IMemtrackRecord): string {
  return `${runKey(record)}|${record.seq}`;
}

let nextDetailId = 0;

/**
 * Which records are expanded, their rendered detail rows, and the height each
 * detail adds to the table (so that the windowed table's spacers and scroll
 * position count them).
 */
export class ExpandedRecords {
  has(record: IMemtrackRecord): boolean {
    return this._open.has(expansionKey(record));
  }

  /** Open or close a record's details; returns whether it is open now. */
  toggle(record: IMemtrackRecord): boolean {
    const key = expansionKey(record);
    if (this._open.delete(key)) {
      this._heights.delete(key);
      this._cache = null;
      this.drop(record);
      return false;
    }
    this._open.add(key);
    return true;
  }

  /** The detail row of an open record, built on first use. */
  detail(record: IMemtrackRecord, build: () => HTMLTableRowElement): HTMLTableRowElement {
    let row = this._rendered.get(record);
    if (!row) {
      row = build();
      this._rendered.set(record, row);
    }
    return row;
  }

  /** The id of a record's detail row (the disclosure's aria-controls), the same across renders. */
  detailId(record: IMemtrackRecord): string {
    const key = expansionKey(record);
    let id = this._ids.get(key);
    if (id === undefined) {
      id = `jp-Memtrack-cellVars-${++nextDetailId}`;
      this._ids.set(key, id);
    }
    return id;
  }

  /** Take a record's detail out of the DOM (its row left the window). */
  drop(record: IMemtrackRecord): void {
    this._rendered.get(record)?.remove();
    this._rendered.delete(record);
  }

  /** Forget the rendered details (a full render builds them again). */
  clearRendered(): void {
    this._rendered.clear();
  }

  /** Measure the rendered details' heights (0 where there is no layout). */
  measure(): void {
    for (const [record, row] of this._rendered) {
      const height = row.getBoundingClientRect().height;
      const key = expansionKey(record);
      if (height > 0 && this._heights.get(key) !== height) {
        this._heights.set(key, height);
        this._cache = null;
      }
    }
  }

  /** The extra height of the open details at table positions [from, to). */
  extraBetween(from: number, to: number, sorted: readonly IMemtrackRecord[]): number {
    let extra = 0;
    for (const [index, height] of this._positions(sorted)) {
      if (index >= from && index < to) {
        extra += height;
      }
    }
    return extra;
  }

  /** The table position of the row at `y` pixels below the body's top. */
  indexAt(y: number, rowHeight: number, sorted: readonly IMemtrackRecord[]): number {
    let extra = 0;
    for (const [index, height] of this._positions(sorted)) {
      const bottom = (index + 1) * rowHeight + extra;
      if (y < bottom) {
        break;
      }
      if (y < bottom + height) {
        return index;
      }
      extra += height;
    }
    return Math.floor((y - extra) / rowHeight);
  }

  /** [table position, detail height] of the open, measured details, in table order. */
  private _positions(sorted: readonly IMemtrackRecord[]): [number, number][] {
    if (this._heights.size === 0) {
      return [];
    }
    // Read on every scroll frame: walked once per table order and set of heights.
    if (this._cache?.sorted === sorted && this._cache.length === sorted.length) {
      return this._cache.positions;
    }
    const positions: [number, number][] = [];
    sorted.forEach((record, index) => {
      const height = this._heights.get(expansionKey(record));
      if (height !== undefined) {
        positions.push([index, height]);
      }
    });
    this._cache = { sorted, length: sorted.length, positions };
    return positions;
  }

  private _open = new Set<string>();
  private _ids = new Map<string, string>();
  private _heights = new Map<string, number>();
  private _cache: {
    sorted: readonly IMemtrackRecord[];
    length: number;
    positions: [number, number][];
  } | null = null;
  private _rendered = new Map<IMemtrackRecord, HTMLTableRowElement>();
}
