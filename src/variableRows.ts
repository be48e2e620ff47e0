/**
 * What the variables section draws: its header row (sort buttons) and the row
 * of one live variable (name and type, size, change, sparkline, actions).
 * VariableList (variableList.ts) decides which rows are in the DOM. ARIA
 * table roles on divs (a row is two lines). textContent only: names and types
 * come from user code.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatDelta, formatSize, MISSING, sizeClass, Units } from './format';
import { ILiveVariable } from './protocol';
import { IDENTIFIER } from './releaseFlow';
import { sparkline } from './sparkline';
import type { VariableSortKey } from './variablesModel';

/** What the kernel could not count of a value whose data is elsewhere. */
export function whereNote(variable: ILiveVariable, trans: TranslationBundle): string {
  switch (variable.where) {
    case 'device':
      return trans.__('host memory only; the data is on a device');
    case 'lazy':
      return trans.__('lazy value: host part only');
    default:
      return '';
  }
}

/** The `%memtrack release` argument that frees a variable, or null when Release does not apply. */
export function variableReleaseTarget(variable: ILiveVariable): string | null {
  return variable.releasable === true && IDENTIFIER.test(variable.name) ? variable.name : null;
}

/** The size's tooltip: the exact bytes, whether they are a lower bound, and where the data is. */
export function sizeTitle(variable: ILiveVariable, trans: TranslationBundle): string {
  const lines: string[] = [];
  if (variable.size === null) {
    lines.push(trans.__('Size unknown'));
  } else {
    const bytes = variable.size.toLocaleString('en-US');
    lines.push(
      variable.partial
        ? trans.__(
            'At least %1 bytes: a lower bound (sizing was cut short, or the data is elsewhere)',
            bytes
          )
        : trans.__('%1 bytes (deep size: each object once)', bytes)
    );
  }
  const note = whereNote(variable, trans);
  if (note) {
    lines.push(note);
  }
  return lines.join('\n');
}

interface IHeadColumn {
  key: VariableSortKey | null;
  title: string;
  help: string;
  /** Read by screen readers only (the second line of a row, sparkline and actions, has no title). */
  hidden?: boolean;
}

function headColumns(trans: TranslationBundle): IHeadColumn[] {
  return [
    { key: 'name', title: trans.__('Name'), help: trans.__('The variable and its type') },
    {
      key: 'size',
      title: trans.__('Size'),
      help: trans.__('Deep size: each object once; ≥ marks a lower bound')
    },
    {
      key: 'change',
      title: trans.__('Change'),
      help: trans.__('Size change over the last cells')
    },
    {
      key: null,
      title: trans.__('History'),
      help: trans.__('Size after each of the last cells'),
      hidden: true
    },
    { key: null, title: trans.__('Actions'), help: '', hidden: true }
  ];
}

export interface IVariableHeadOptions {
  sortKey: VariableSortKey;
  descending: boolean;
  trans: TranslationBundle;
  onSort: (key: VariableSortKey) => void;
}

/** The header row: a sort button per sortable column, aria-sort on the current one. */
export function variableHead(options: IVariableHeadOptions): HTMLElement {
  const { sortKey, descending, trans, onSort } = options;
  const row = document.createElement('div');
  row.className = 'jp-Memtrack-varHeadRow';
  row.setAttribute('role', 'row');
  row.setAttribute('aria-rowindex', '1');
  for (const column of headColumns(trans)) {
    const header = document.createElement('div');
    header.setAttribute('role', 'columnheader');
    header.className = 'jp-Memtrack-varHeader';
    if (column.help) {
      header.title = column.help;
    }
    if (column.hidden) {
      header.classList.add('jp-Memtrack-visuallyHidden');
    }
    if (column.key === null) {
      header.textContent = column.title;
    } else {
      const key = column.key;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'jp-Memtrack-sort';
      button.dataset.key = key;
      button.textContent = column.title;
      button.title = `${column.help}\n${trans.__('Sort by %1', column.title)}`;
      button.addEventListener('click', () => onSort(key));
      header.append(button);
      if (key === sortKey) {
        header.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        button.dataset.direction = descending ? 'descending' : 'ascending';
      }
    }
    row.append(header);
  }
  return row;
}

export interface IVariableRowOptions {
  units: Units;
  trans: TranslationBundle;
  /** Release is under way for this variable (its button is disabled). */
  releasing: boolean;
  onWhy: (variable: ILiveVariable) => void;
  onRelease: (variable: ILiveVariable, target: string) => void;
}

function cell(className: string): HTMLElement {
  const node = document.createElement('div');
  node.setAttribute('role', 'cell');
  node.className = className;
  return node;
}

/** The row of one variable; its buttons carry data-control (focus follows it across redraws). */
export function variableRow(variable: ILiveVariable, options: IVariableRowOptions): HTMLElement {
  const { units, trans } = options;
  const row = document.createElement('div');
  row.setAttribute('role', 'row');
  row.className = 'jp-Memtrack-var';
  row.dataset.name = variable.name;
  if (variable.size !== null) {
    row.dataset.bytes = String(variable.size);
  }
  if (variable.partial) {
    row.dataset.partial = 'true';
  }
  if (variable.where) {
    row.dataset.where = variable.where;
  }

  const nameCell = cell('jp-Memtrack-varNameCell');
  const name = document.createElement('code');
  name.className = 'jp-Memtrack-varName';
  name.textContent = variable.name;
  const type = document.createElement('span');
  type.className = 'jp-Memtrack-varType';
  type.textContent = variable.type;
  nameCell.append(name, type);
  const note = whereNote(variable, trans);
  if (note) {
    const where = document.createElement('span');
    where.className = 'jp-Memtrack-varWhere';
    where.textContent = variable.where === 'device' ? trans.__('device') : trans.__('lazy');
    where.title = note;
    type.append(' ', where);
  }
  const titleLines = [`${variable.name}: ${variable.type}`];
  if (typeof variable.cell === 'number') {
    titleLines.push(trans.__('Last bound by cell [%1]', variable.cell));
  }
  nameCell.title = titleLines.join('\n');

  const size = cell('jp-Memtrack-varSize jp-Memtrack-numeric');
  size.textContent = formatSize(variable.size, variable.partial, units);
  size.title = sizeTitle(variable, trans);

  const change = cell('jp-Memtrack-varChange jp-Memtrack-numeric');
  const delta = variable.change ?? null;
  change.textContent = delta === null ? MISSING : formatDelta(delta, units);
  change.dataset.size = sizeClass(delta);
  change.title =
    delta === null
      ? trans.__('No change known yet')
      : trans.__(
          '%1 bytes over the last cells',
          (delta > 0 ? '+' : '') + delta.toLocaleString('en-US')
        );

  const history = cell('jp-Memtrack-varHistory');
  const values = variable.history ?? [];
  const line = sparkline(values, {
    label: trans.__(
      'Size history of %1: %2',
      variable.name,
      values.map(v => formatBytes(v, units)).join(' → ')
    )
  });
  if (line) {
    history.append(line);
  }

  const actions = cell('jp-Memtrack-varActions');
  const why = document.createElement('button');
  why.type = 'button';
  why.className = 'jp-Memtrack-button jp-Memtrack-why';
  why.dataset.control = 'why';
  why.textContent = trans.__('Why alive?');
  why.setAttribute('aria-label', trans.__('Why is %1 still alive?', variable.name));
  why.title = trans.__('Ask the kernel what keeps %1 alive', variable.name);
  why.addEventListener('click', () => options.onWhy(variable));
  actions.append(why);
  const target = variableReleaseTarget(variable);
  if (target !== null) {
    const release = document.createElement('button');
    release.type = 'button';
    release.className = 'jp-Memtrack-button jp-Memtrack-release';
    release.dataset.control = 'release';
    release.textContent = trans.__('Release…');
    release.setAttribute('aria-label', trans.__('Release %1', variable.name));
    release.title = trans.__(
      'Free what %1 keeps alive (like %%memtrack release %2); asks first',
      variable.name,
      target
    );
    release.disabled = options.releasing;
    release.addEventListener('click', () => options.onRelease(variable, target));
    actions.append(release);
  }
  row.append(nameCell, size, change, history, actions);
  return row;
}
