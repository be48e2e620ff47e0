/**
 * The variables a cell created, grew or freed (its record's `variables` rows),
 * as the cell table shows them: their list in the row's detail (cellDetail.ts
 * composes it) and a line in the row's tooltip. textContent only: names and
 * types come from user code.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatDelta, formatSize, MISSING, recordTitle, Units } from './format';
import { IMemtrackRecord } from './record';

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

/** The list of a record's variables in its detail row (then how many more, past DETAIL_ROWS). */
export function variablesList(
  record: IMemtrackRecord,
  variables: readonly ICellVariable[],
  units: Units,
  trans: TranslationBundle
): HTMLElement[] {
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
  const more = variables.length - DETAIL_ROWS;
  if (more <= 0) {
    return [list];
  }
  const note = document.createElement('p');
  note.className = 'jp-Memtrack-cellVarsMore';
  note.textContent = trans._n('and %1 more', 'and %1 more', more);
  return [list, note];
}
