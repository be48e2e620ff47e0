/**
 * The variables a cell created, grew or freed (its record's `variables` rows),
 * as the cell table shows them: a disclosure button on the row, a detail row
 * below it listing them, and a line in the row's tooltip. ExpandedRecords
 * keeps which rows are open and how tall their details are, so that the
 * table's windowing (cellTable.ts) can count them. textContent only: names
 * and types come from user code.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatDelta, formatSize, MISSING, recordTitle, Units } from './format';
import { IMemtrackRecord, runKey } from './record';

/** What the cell did to a name (the schema's record.variables[].change). */
export type VariableChange = 'created' | 'rebound' | 'resized' | 'deleted';

const CHANGES: readonly VariableChange[] = ['created', 'rebound', 'resized', 'deleted'];

/** One variable row of a record, read defensively (the protocol takes list items as sent). */
export interface ICellVariable {
  name: string;
  type: string;
  size: number | null;
  delta: number | null;
  partial: boolean;
  change: VariableChange | null;
}

/** Details list at most this many variables, then says how many more. */
export const DETAIL_ROWS = 20;

function asBytes(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A record's variable rows, the largest change first (unknown changes last). */
export function cellVariables(record: IMemtrackRecord): ICellVariable[] {
  const rows: unknown[] = Array.isArray(record.variables) ? record.variables : [];
  const read = rows
    .filter((row): row is Record<string, unknown> => typeof row === 'object' && row !== null)
    .map((row, index) => ({
      index,
      variable: {
        name: typeof row.name === 'string' ? row.name : '?',
        type: typeof row.type === 'string' ? row.type : '',
        size: asBytes(row.size),
        delta: asBytes(row.delta),
        partial: row.partial === true,
        change: CHANGES.includes(row.change as VariableChange)
          ? (row.change as VariableChange)
          : null
      }
    }));
  read.sort((a, b) => {
    const da = a.variable.delta;
    const db = b.variable.delta;
    if (da === null || db === null) {
      return da === db ? a.index - b.index : da === null ? 1 : -1;
    }
    return Math.abs(db) - Math.abs(da) || a.index - b.index;
  });
  return read.map(item => item.variable);
}

/** What the cell did to a variable, in words. */
export function changeText(change: VariableChange | null, trans: TranslationBundle): string {
  switch (change) {
    case 'created':
      return trans.__('created');
    case 'rebound':
      return trans.__('rebound');
    case 'resized':
      return trans.__('resized');
    case 'deleted':
      return trans.__('deleted');
    default:
      return '';
  }
}

/** One variable on one line: "big ndarray created ≥ 40.0 MB +40.0 MB". */
function variableLine(variable: ICellVariable, units: Units, trans: TranslationBundle): string {
  const parts = [variable.name];
  const change = changeText(variable.change, trans);
  if (change) {
    parts.push(change);
  }
  parts.push(formatSize(variable.size, variable.partial, units));
  if (variable.delta !== null) {
    parts.push(`(${formatDelta(variable.delta, units)})`);
  }
  return parts.join(' ');
}

/** The row tooltip's line about the variables: the three largest changes. */
export function variablesSummary(
  variables: readonly ICellVariable[],
  units: Units,
  trans: TranslationBundle
): string {
  if (variables.length === 0) {
    return '';
  }
  const top = variables.slice(0, 3).map(v => variableLine(v, units, trans));
  const more = variables.length - top.length;
  return (
    trans.__('Variables: %1', top.join(', ')) +
    (more > 0 ? ` ${trans._n('and %1 more', 'and %1 more', more)}` : '')
  );
}

/** The key a record's expansion is kept under (the same run after a history reload). */
export function expansionKey(record: IMemtrackRecord): string {
  return `${runKey(record)}|${record.seq}`;
}

let nextDetailId = 0;

export interface IDisclosureOptions {
  record: IMemtrackRecord;
  count: number;
  expanded: boolean;
  detailId: string;
  trans: TranslationBundle;
  onToggle: (record: IMemtrackRecord) => void;
}

/** The row's disclosure button: opens the list of its variables (aria-expanded). */
export function disclosureButton(options: IDisclosureOptions): HTMLButtonElement {
  const { record, count, expanded, trans } = options;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jp-Memtrack-disclose';
  button.setAttribute('aria-expanded', String(expanded));
  button.setAttribute('aria-controls', options.detailId);
  button.setAttribute(
    'aria-label',
    trans._n(
      'Variables of %2: %1 changed',
      'Variables of %2: %1 changed',
      count,
      recordTitle(record)
    )
  );
  button.title = trans.__('Show the variables this cell created, grew or freed');
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

/** The detail row under an expanded record: its variables, largest change first. */
export function detailRow(
  record: IMemtrackRecord,
  variables: readonly ICellVariable[],
  options: IDetailOptions
): HTMLTableRowElement {
  const { units, trans } = options;
  const row = document.createElement('tr');
  row.className = 'jp-Memtrack-varsRow';
  row.id = options.id;
  row.dataset.seq = String(record.seq);
  const td = document.createElement('td');
  td.colSpan = options.columnCount;
  const list = document.createElement('ul');
  list.className = 'jp-Memtrack-cellVars';
  list.setAttribute('aria-label', trans.__('Variables of %1', recordTitle(record)));
  for (const variable of variables.slice(0, DETAIL_ROWS)) {
    const item = document.createElement('li');
    item.className = 'jp-Memtrack-cellVar';
    if (variable.change) {
      item.dataset.change = variable.change;
    }
    const name = document.createElement('code');
    name.className = 'jp-Memtrack-cellVarName';
    name.textContent = variable.name;
    const type = document.createElement('span');
    type.className = 'jp-Memtrack-cellVarType';
    type.textContent = variable.type;
    const change = document.createElement('span');
    change.className = 'jp-Memtrack-cellVarChange';
    change.textContent = changeText(variable.change, trans);
    const size = document.createElement('span');
    size.className = 'jp-Memtrack-cellVarSize';
    size.textContent = formatSize(variable.size, variable.partial, units);
    if (variable.partial) {
      size.title = trans.__('A lower bound: sizing was cut short, or the data is elsewhere');
    }
    const delta = document.createElement('span');
    delta.className = 'jp-Memtrack-cellVarDelta';
    delta.textContent = variable.delta === null ? MISSING : formatDelta(variable.delta, units);
    item.append(name, ' ', type, ' ', change, ' ', size, ' ', delta);
    list.append(item);
  }
  td.append(list);
  const more = variables.length - DETAIL_ROWS;
  if (more > 0) {
    const note = document.createElement('p');
    note.className = 'jp-Memtrack-cellVarsMore';
    note.textContent = trans._n('and %1 more', 'and %1 more', more);
    td.append(note);
  }
  row.append(td);
  return row;
}

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
