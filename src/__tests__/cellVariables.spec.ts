import { TranslationBundle, nullTranslator } from '@jupyterlab/translation';

import { CellTable, WINDOW_THRESHOLD } from '../cellTable';
import { ExpandedRecords } from '../cellDetail';
import { cellVariables, DETAIL_ROWS, variablesSummary } from '../cellVariables';
import { IMemtrackRecord } from '../record';
import { sampleRecord } from './fixtures';

const trans: TranslationBundle = nullTranslator.load('jupyterlab-memtrack');

const HOSTILE = '<img src=x onerror=alert(1)>';

const VARIABLES = [
  { name: 'small', type: 'bytes', size: 34, delta: 34, change: 'created' },
  { name: 'big', type: 'numpy.ndarray', size: 40_000_112, delta: 40_000_112, change: 'created' },
  {
    name: 'words',
    type: 'list',
    size: 38_600_000,
    delta: 18_600_000,
    partial: true,
    change: 'resized'
  },
  { name: 'gone', type: 'dict', size: null, delta: -2_000_000, change: 'deleted' },
  { name: HOSTILE, type: 'str', size: 80, change: 'rebound' }
];

function record(seq: number, variables: unknown[] = []): IMemtrackRecord {
  return sampleRecord({
    seq,
    execution_count: seq,
    cell_id: `c${seq}`,
    traced_delta: seq,
    variables
  });
}

describe('cellVariables', () => {
  it('reads the rows defensively, the largest change first, unknown changes last', () => {
    const read = cellVariables(record(1, [...VARIABLES, 'junk', { size: 'x', change: 'moved' }]));
    expect(read.map(v => v.name)).toEqual(['big', 'words', 'gone', 'small', HOSTILE, '?']);
    expect(read[1]).toEqual({
      name: 'words',
      type: 'list',
      size: 38_600_000,
      delta: 18_600_000,
      partial: true,
      change: 'resized'
    });
    expect(read[5]).toMatchObject({ size: null, change: null, partial: false });
  });

  it('sums up the three largest changes for the row tooltip, "≥" on lower bounds', () => {
    const summary = variablesSummary(cellVariables(record(1, VARIABLES)), 'decimal', trans);
    expect(summary).toBe(
      'Variables: big created 40.0 MB (+40.0 MB), words resized ≥ 38.6 MB (+18.6 MB), ' +
        'gone deleted — (-2.0 MB) and 2 more'
    );
  });
});

describe('CellTable rows that expand to their variables', () => {
  let activated: number[];
  let table: CellTable;

  beforeEach(() => {
    activated = [];
    table = new CellTable({ trans, onActivate: r => activated.push(r.seq) });
    document.body.append(table.node);
    table.render(
      [record(1, VARIABLES), record(2), record(3, VARIABLES.slice(0, 1))],
      'decimal',
      'traced'
    );
  });

  afterEach(() => table.node.remove());

  const row = (seq: number) =>
    table.node.querySelector<HTMLTableRowElement>(`tr.jp-Memtrack-row[data-seq="${seq}"]`)!;
  const disclosure = (seq: number) =>
    row(seq).querySelector<HTMLButtonElement>('button.jp-Memtrack-disclose');
  const detail = (seq: number) =>
    table.node.querySelector<HTMLTableRowElement>(`tr.jp-Memtrack-varsRow[data-seq="${seq}"]`);

  it('gives rows with variables a disclosure button, the others none', () => {
    const button = disclosure(1)!;
    expect(button.getAttribute('aria-expanded')).toBe('false');
    expect(button.getAttribute('aria-label')).toBe('Variables of [1] load data: 5 changed');
    expect(button.getAttribute('aria-controls')).toMatch(/^jp-Memtrack-cellVars-/);
    expect(disclosure(2)).toBeNull();
    // In its place, a spacer keeps the titles aligned.
    expect(row(2).querySelector('.jp-Memtrack-discloseSpacer')!.getAttribute('aria-hidden')).toBe(
      'true'
    );
    expect(row(1).title).toContain('Variables: big created 40.0 MB (+40.0 MB)');
  });

  it('opens the list of variables below the row, and closes it, without going to the cell', () => {
    disclosure(1)!.click();
    expect(activated).toEqual([]);
    expect(disclosure(1)!.getAttribute('aria-expanded')).toBe('true');
    const open = detail(1)!;
    expect(open.previousElementSibling).toBe(row(1));
    expect(open.id).toBe(disclosure(1)!.getAttribute('aria-controls'));
    const items = Array.from(open.querySelectorAll('li.jp-Memtrack-cellVar'));
    expect(items.map(li => li.querySelector('.jp-Memtrack-cellVarName')!.textContent)).toEqual([
      'big',
      'words',
      'gone',
      'small',
      HOSTILE
    ]);
    const words = items[1];
    expect(words.querySelector('.jp-Memtrack-cellVarType')!.textContent).toBe('list');
    expect(words.querySelector('.jp-Memtrack-cellVarChange')!.textContent).toBe('resized');
    expect(words.querySelector('.jp-Memtrack-cellVarSize')!.textContent).toBe('≥ 38.6 MB');
    expect(words.querySelector('.jp-Memtrack-cellVarDelta')!.textContent).toBe('+18.6 MB');
    expect(items[2].querySelector('.jp-Memtrack-cellVarDelta')!.textContent).toBe('-2.0 MB');
    expect((items[2] as HTMLElement).dataset.change).toBe('deleted');
    // A hostile name stays text.
    expect(open.querySelector('img')).toBeNull();
    expect(items[4].querySelector('.jp-Memtrack-cellVarName')!.innerHTML).toBe(
      '&lt;img src=x onerror=alert(1)&gt;'
    );
    disclosure(1)!.click();
    expect(detail(1)).toBeNull();
    expect(disclosure(1)!.getAttribute('aria-expanded')).toBe('false');
    expect(activated).toEqual([]);
  });

  it('opens with Right and closes with Left on the row; Enter on the button is not the row’s', () => {
    row(3).dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    expect(detail(3)).not.toBeNull();
    expect(table.isExpanded(record(3, VARIABLES.slice(0, 1)))).toBe(true);
    row(3).dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft', bubbles: true }));
    expect(detail(3)).toBeNull();
    row(2).dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    expect(detail(2)).toBeNull();
    disclosure(1)!.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(activated).toEqual([]);
    row(1).dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(activated).toEqual([1]);
  });

  it('stays open across a re-render and a new sort', () => {
    disclosure(1)!.click();
    table.sortBy('delta');
    expect(detail(1)!.previousElementSibling).toBe(row(1));
    expect(disclosure(1)!.getAttribute('aria-expanded')).toBe('true');
  });

  it('lists at most DETAIL_ROWS variables, then says how many more', () => {
    const many = Array.from({ length: DETAIL_ROWS + 5 }, (_, i) => ({
      name: `v${i}`,
      type: 'int',
      size: 28,
      delta: i
    }));
    table.render([record(1, many)], 'decimal', 'traced');
    disclosure(1)!.click();
    expect(detail(1)!.querySelectorAll('li')).toHaveLength(DETAIL_ROWS);
    expect(detail(1)!.querySelector('.jp-Memtrack-cellVarsMore')!.textContent).toBe('and 5 more');
  });
});

describe('CellTable: expanded rows in a windowed table', () => {
  const count = WINDOW_THRESHOLD * 5;
  let table: CellTable;
  let history: IMemtrackRecord[];

  beforeEach(() => {
    history = Array.from({ length: count }, (_, i) => record(i + 1, VARIABLES.slice(0, 2)));
    table = new CellTable({ trans, onActivate: () => undefined });
    document.body.append(table.node);
    table.render(history, 'decimal', 'traced');
  });

  afterEach(() => table.node.remove());

  it('drops the details with their row when it leaves the window, and brings them back', () => {
    table.toggleVariables(history[1]);
    expect(table.node.querySelectorAll('tr.jp-Memtrack-varsRow')).toHaveLength(1);
    table.focusIndex(count - 1);
    expect(table.node.querySelectorAll('tr.jp-Memtrack-varsRow')).toHaveLength(0);
    table.focusIndex(0);
    const back = table.node.querySelector('tr.jp-Memtrack-varsRow')!;
    expect(back.previousElementSibling!.getAttribute('data-seq')).toBe('2');
    expect(table.renderedCount).toBeLessThan(count);
  });
});

describe('ExpandedRecords', () => {
  it('counts the height of open details for the spacers and the scroll position', () => {
    const records = Array.from({ length: 10 }, (_, i) => record(i + 1, VARIABLES));
    const expanded = new ExpandedRecords();
    for (const index of [2, 5]) {
      expanded.toggle(records[index]);
      const row = expanded.detail(records[index], () => document.createElement('tr'));
      row.getBoundingClientRect = () => ({ height: 40 }) as DOMRect;
    }
    expanded.measure();
    expect(expanded.extraBetween(0, 3, records)).toBe(40);
    expect(expanded.extraBetween(3, 10, records)).toBe(40);
    expect(expanded.extraBetween(0, 10, records)).toBe(80);
    // Rows 20 px high: row 2 ends at 60, its details at 100; row 3 starts there.
    expect(expanded.indexAt(59, 20, records)).toBe(2);
    expect(expanded.indexAt(99, 20, records)).toBe(2);
    expect(expanded.indexAt(100, 20, records)).toBe(3);
    expect(expanded.indexAt(199, 20, records)).toBe(5);
    expect(expanded.indexAt(200, 20, records)).toBe(6);
    // Closed: its height no longer counts.
    expanded.toggle(records[2]);
    expect(expanded.extraBetween(0, 10, records)).toBe(40);
    expect(expanded.indexAt(100, 20, records)).toBe(5);
  });
});
