import { TranslationBundle, nullTranslator } from '@jupyterlab/translation';

import { CellTable, WINDOW_THRESHOLD } from '../cellTable';
import { runNumbers, sortRecords } from '../recordOrder';
import { IMemtrackRecord } from '../record';
import { sampleRecord } from './fixtures';

const trans: TranslationBundle = nullTranslator.load('jupyterlab-memtrack');

function records(): IMemtrackRecord[] {
  return [
    sampleRecord({ seq: 1, execution_count: 1, cell_id: 'a', traced_delta: 10, duration_s: 3 }),
    sampleRecord({ seq: 2, execution_count: 2, cell_id: 'b', traced_delta: 300, duration_s: 1 }),
    sampleRecord({ seq: 3, execution_count: 3, cell_id: 'a', traced_delta: -5, duration_s: 2 }),
    sampleRecord({
      seq: 4,
      execution_count: 4,
      cell_id: 'c',
      traced_delta: null,
      rss_before: null,
      duration_s: 0
    })
  ];
}

describe('sortRecords', () => {
  it('sorts by delta, biggest first, unknown last', () => {
    expect(sortRecords(records(), 'delta', true, 'traced').map(r => r.seq)).toEqual([2, 1, 3, 4]);
    expect(sortRecords(records(), 'delta', false, 'traced').map(r => r.seq)).toEqual([3, 1, 2, 4]);
  });

  it('sorts by duration and by history order', () => {
    expect(sortRecords(records(), 'duration', true, 'traced').map(r => r.seq)).toEqual([
      1, 3, 2, 4
    ]);
    expect(sortRecords(records(), 'order', false, 'traced').map(r => r.seq)).toEqual([1, 2, 3, 4]);
  });
});

describe('runNumbers', () => {
  it('numbers the runs of re-executed cells only', () => {
    const list = records();
    const runs = runNumbers(list);
    expect(list.map(r => runs.get(r))).toEqual([1, null, 2, null]);
  });
});

describe('CellTable', () => {
  let activated: number[];
  let table: CellTable;

  beforeEach(() => {
    activated = [];
    table = new CellTable({ trans, onActivate: record => activated.push(record.seq) });
    document.body.append(table.node);
    table.render(records(), 'decimal', 'traced');
  });

  afterEach(() => table.node.remove());

  const seqs = () =>
    Array.from(table.node.querySelectorAll('tbody tr')).map(row =>
      Number((row as HTMLElement).dataset.seq)
    );

  it('marks re-runs of a cell', () => {
    const firstCells = Array.from(table.node.querySelectorAll('tbody tr td:first-child')).map(
      td => td.textContent
    );
    expect(firstCells[0]).toBe('[1] load data (run 1)');
    expect(firstCells[2]).toBe('[3] load data (run 2)');
    expect(firstCells[1]).toBe('[2] load data');
  });

  it('sorts when a header button is pressed, and flips on a second press', () => {
    const deltaButton = () =>
      Array.from(table.node.querySelectorAll('th button')).find(
        b => b.textContent === 'Delta'
      ) as HTMLButtonElement;
    deltaButton().click();
    expect(seqs()).toEqual([2, 1, 3, 4]);
    expect(deltaButton().parentElement?.getAttribute('aria-sort')).toBe('descending');
    deltaButton().click();
    expect(seqs()).toEqual([3, 1, 2, 4]);
    expect(deltaButton().parentElement?.getAttribute('aria-sort')).toBe('ascending');
  });

  it('moves focus with the arrow keys and activates with Space', () => {
    const rows = table.node.querySelectorAll('tbody tr');
    (rows[0] as HTMLElement).focus();
    rows[0].dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
    expect(document.activeElement).toBe(rows[1]);
    rows[1].dispatchEvent(new KeyboardEvent('keydown', { key: 'End', bubbles: true }));
    expect(document.activeElement).toBe(rows[3]);
    rows[3].dispatchEvent(new KeyboardEvent('keydown', { key: ' ', bubbles: true }));
    expect(activated).toEqual([4]);
  });

  it('appends a row without rebuilding in history order', () => {
    const before = table.node.querySelector('tbody tr');
    const list = [...records(), sampleRecord({ seq: 5, execution_count: 5, cell_id: 'new' })];
    table.append(list, 'decimal', 'traced');
    expect(table.node.querySelector('tbody tr')).toBe(before);
    expect(seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(table.node.querySelector('caption')?.textContent).toBe('5 tracked executions');
  });

  it('appends a batch of rows without rebuilding the rows already shown', () => {
    const list = records();
    table.render(list, 'decimal', 'traced');
    const before = Array.from(table.node.querySelectorAll('tbody tr'));
    const batch = [5, 6, 7].map(seq =>
      sampleRecord({ seq, execution_count: seq, cell_id: `new${seq}` })
    );
    table.append([...list, ...batch], 'decimal', 'traced');
    const after = Array.from(table.node.querySelectorAll('tbody tr'));
    after.slice(0, 4).forEach((row, i) => expect(row).toBe(before[i]));
    expect(seqs()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(after.map(row => row.getAttribute('aria-rowindex'))).toEqual([
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8'
    ]);
    expect(table.node.getAttribute('aria-rowcount')).toBe('8');
    expect(table.node.querySelector('caption')?.textContent).toBe('7 tracked executions');
  });

  it('rebuilds when a record of an appended batch re-runs a cell', () => {
    const list = records();
    table.render(list, 'decimal', 'traced');
    const first = table.node.querySelector('tbody tr');
    const batch = [
      sampleRecord({ seq: 5, execution_count: 5, cell_id: 'x' }),
      sampleRecord({ seq: 6, execution_count: 6, cell_id: 'c' })
    ];
    table.append([...list, ...batch], 'decimal', 'traced');
    expect(table.node.querySelector('tbody tr')).not.toBe(first);
    const titles = Array.from(table.node.querySelectorAll('tbody tr td:first-child')).map(
      td => td.textContent
    );
    expect(titles[3]).toBe('[4] load data (run 1)');
    expect(titles[5]).toBe('[6] load data (run 2)');
  });

  it('rebuilds when two records of an appended batch run the same new cell', () => {
    const list = records();
    table.render(list, 'decimal', 'traced');
    const batch = [
      sampleRecord({ seq: 5, execution_count: 5, cell_id: 'x' }),
      sampleRecord({ seq: 6, execution_count: 6, cell_id: 'x' })
    ];
    table.append([...list, ...batch], 'decimal', 'traced');
    const titles = Array.from(table.node.querySelectorAll('tbody tr td:first-child')).map(
      td => td.textContent
    );
    expect(titles.slice(4)).toEqual(['[5] load data (run 1)', '[6] load data (run 2)']);
  });

  it('rebuilds when an appended record re-runs a cell', () => {
    const list = [...records(), sampleRecord({ seq: 5, execution_count: 5, cell_id: 'b' })];
    table.append(list, 'decimal', 'traced');
    const last = table.node.querySelector('tbody tr:last-child td') as HTMLElement;
    expect(last.textContent).toBe('[5] load data (run 2)');
  });
});

describe('CellTable with a long history', () => {
  const many = (count: number) =>
    Array.from({ length: count }, (_, i) =>
      sampleRecord({ seq: i + 1, execution_count: i + 1, cell_id: `c${i}`, traced_delta: i })
    );
  let activated: number[];
  let table: CellTable;

  beforeEach(() => {
    activated = [];
    table = new CellTable({ trans, onActivate: record => activated.push(record.seq) });
    document.body.append(table.node);
    table.render(many(1000), 'decimal', 'traced');
  });

  afterEach(() => {
    table.dispose();
    table.node.remove();
  });

  const rows = () => Array.from(table.node.querySelectorAll<HTMLElement>('tr.jp-Memtrack-row'));

  it('keeps only a window of rows in the DOM, and says how many there are', () => {
    expect(WINDOW_THRESHOLD).toBeLessThan(1000);
    expect(rows().length).toBe(table.renderedCount);
    expect(rows().length).toBeLessThan(200);
    expect(rows()[0].dataset.seq).toBe('1');
    expect(table.node.getAttribute('aria-rowcount')).toBe('1001');
    expect(rows()[0].getAttribute('aria-rowindex')).toBe('2');
    expect(table.node.querySelector('caption')?.textContent).toBe('1000 tracked executions');
    const spacers = table.node.querySelectorAll<HTMLElement>('tr.jp-Memtrack-spacer');
    expect(spacers.length).toBe(2);
    expect(spacers[0].getAttribute('aria-hidden')).toBe('true');
  });

  it('reaches rows outside the window from the keyboard', () => {
    rows()[0].focus();
    rows()[0].dispatchEvent(new KeyboardEvent('keydown', { key: 'End', bubbles: true }));
    const last = document.activeElement as HTMLElement;
    expect(last.dataset.seq).toBe('1000');
    expect(last.getAttribute('aria-rowindex')).toBe('1001');
    expect(rows().length).toBeLessThan(200);
    last.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowUp', bubbles: true }));
    expect((document.activeElement as HTMLElement).dataset.seq).toBe('999');
    document.activeElement!.dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Enter', bubbles: true })
    );
    expect(activated).toEqual([999]);
    document.activeElement!.dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Home', bubbles: true })
    );
    expect((document.activeElement as HTMLElement).dataset.seq).toBe('1');
  });

  it('sorts the whole history, not only the rendered rows', () => {
    const deltaButton = Array.from(table.node.querySelectorAll('th button')).find(
      b => b.textContent === 'Delta'
    ) as HTMLButtonElement;
    deltaButton.click();
    expect(rows()[0].dataset.seq).toBe('1000');
    expect(rows().length).toBeLessThan(200);
  });

  it('shows the rows of an appended batch that come into a view at the end', () => {
    // jsdom does no layout: rows are given a height of 20 px, the view 200 px, and the
    // table body the offset it has when scrolled to its end.
    const container = document.createElement('div');
    Object.defineProperty(container, 'clientHeight', { value: 200 });
    container.append(table.node);
    document.body.append(container);
    const rect = (top: number, height: number) => ({ top, height }) as DOMRect;
    const rowRect = jest
      .spyOn(HTMLTableRowElement.prototype, 'getBoundingClientRect')
      .mockReturnValue(rect(0, 20));
    const bodyRect = jest
      .spyOn(HTMLTableSectionElement.prototype, 'getBoundingClientRect')
      .mockReturnValue(rect(-(1000 * 20 - 200), 20_000));
    try {
      const list = many(1000);
      table.setScrollContainer(container);
      table.render(list, 'decimal', 'traced');
      table.refreshWindow();
      expect(rows().at(-1)?.dataset.seq).toBe('1000');
      const before = rows();
      table.append([...list, ...many(1050).slice(1000)], 'decimal', 'traced');
      // The 10 rows in view and 30 below them: rows 1001 to 1030, the rest stays spacer.
      const after = rows();
      expect(after.slice(0, before.length)).toHaveLength(before.length);
      before.forEach((row, i) => expect(after[i]).toBe(row));
      expect(after.at(-1)?.dataset.seq).toBe('1030');
      expect(after.at(-1)?.getAttribute('aria-rowindex')).toBe('1031');
      expect(table.node.getAttribute('aria-rowcount')).toBe('1051');
      const spacers = table.node.querySelectorAll<HTMLElement>('tr.jp-Memtrack-spacer');
      expect(spacers[1].style.height).toBe(`${20 * 20}px`);
    } finally {
      rowRect.mockRestore();
      bodyRect.mockRestore();
      container.remove();
    }
  });

  it('appends without rendering rows out of view', () => {
    const before = rows().length;
    table.append(many(1001), 'decimal', 'traced');
    expect(table.node.getAttribute('aria-rowcount')).toBe('1002');
    expect(table.node.querySelector('caption')?.textContent).toBe('1001 tracked executions');
    expect(rows().length).toBe(before);
    rows()[0].dispatchEvent(new KeyboardEvent('keydown', { key: 'End', bubbles: true }));
    expect((document.activeElement as HTMLElement).dataset.seq).toBe('1001');
  });
});
