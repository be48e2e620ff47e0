import { NotebookModel } from '@jupyterlab/notebook';
import { nullTranslator } from '@jupyterlab/translation';

import {
  CellMetadataSync,
  fromSavedRun,
  MAX_RUNS,
  mergeRuns,
  METADATA_KEY,
  parseSavedRuns,
  readSavedRecords,
  seedFromCells,
  toSavedRun,
  writeRecords
} from '../cellMetadata';
import { CellTable } from '../cellTable';
import { MemtrackModel } from '../model';
import { IMemtrackRecord } from '../record';
import { DEFAULT_SETTINGS, parseSettings } from '../settings';
import { sampleRecord } from './fixtures';

const at = (second: number) => `2026-11-23T06:40:${String(second).padStart(2, '0')}.000000+00:00`;

function record(overrides: Record<string, unknown> = {}): IMemtrackRecord {
  return sampleRecord(overrides);
}

/** A real notebook model with code cells of these ids. */
function notebook(...ids: string[]): NotebookModel {
  const model = new NotebookModel();
  model.sharedModel.insertCells(
    0,
    ids.map(id => ({ cell_type: 'code', id, source: `# ${id}`, metadata: {} }))
  );
  return model;
}

function savedRuns(model: NotebookModel, index: number): any[] {
  return (model.cells.get(index).getMetadata(METADATA_KEY) as any)?.runs ?? [];
}

describe('saved runs', () => {
  let warn: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    warn.mockRestore();
  });

  it('round-trip a record through JSON metadata', () => {
    const original = record({
      seq: 7,
      cell_id: 'cell-1',
      error: 'ValueError',
      leaks: [{ name: 'cache', kind: 'growing-variable', size: 10 }]
    });
    const text = JSON.stringify({ version: 1, runs: [toSavedRun(original)] });
    const runs = parseSavedRuns(JSON.parse(text));
    expect(runs).toHaveLength(1);
    const back = fromSavedRun(runs[0], 'cell-1');
    for (const field of [
      'execution_count',
      'cell_id',
      'label',
      'mode',
      'started_at',
      'duration_s',
      'rss_before',
      'rss_after',
      'rss_peak',
      'traced_delta',
      'traced_peak',
      'top_lines',
      'types',
      'error'
    ] as const) {
      expect(back[field]).toEqual(original[field]);
    }
    expect(back.variables).toEqual([]);
    expect(back.gc).toBeNull();
    expect(back.saved).toBe(true);
    expect(back.seq).toBeLessThanOrEqual(0);
    expect(back.leaks.map(leak => leak.name)).toEqual(['cache']);
    // A saved suspect never offers a release in a kernel that did not report it.
    expect(back.leaks[0].kind).toBe('saved');
  });

  it('keep a run small and its bytes exact', () => {
    const huge = 2 ** 40 + 1;
    const long = 'x'.repeat(5000);
    const quotes = '"'.repeat(5000);
    for (const text of [long, quotes]) {
      const big = record({
        label: text,
        error: text,
        rss_peak: huge,
        traced_delta: -huge,
        top_lines: Array.from({ length: 50 }, (_, i) => ({
          line: i,
          code: text,
          increment: huge,
          occurrences: 1
        })),
        types: Array.from({ length: 50 }, () => ({ type: text, count_delta: 3, size_delta: huge })),
        leaks: Array.from({ length: 50 }, () => ({ name: text }))
      });
      const run = toSavedRun(big);
      expect(JSON.stringify(run).length).toBeLessThan(2048);
      expect(run.top_lines).toHaveLength(3);
      expect(run.types).toHaveLength(3);
      expect(run.leaks).toHaveLength(3);
      expect(run.rss_peak).toBe(huge);
      expect(run.traced_delta).toBe(-huge);
      expect(run.top_lines[0].increment).toBe(huge);
      expect(run.label!.endsWith('…')).toBe(true);
    }
    expect(JSON.stringify(toSavedRun(record())).length).toBeLessThan(700);
  });

  it.each([
    ['a string', 'not metadata'],
    ['a list', [1, 2]],
    ['another version', { version: 2, runs: [] }],
    ['runs that are not a list', { version: 1, runs: {} }]
  ])('ignore metadata that is %s, with a warning', (_, value) => {
    expect(parseSavedRuns(value)).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('drop runs with garbage fields and keep the good ones', () => {
    const good = toSavedRun(record());
    const value = {
      version: 1,
      runs: [
        good,
        'run',
        { ...good, mode: 'turbo' },
        { ...good, rss_after: 1.5 },
        { ...good, started_at: 'yesterday' },
        { ...good, duration_s: -1 },
        { ...good, top_lines: [{ line: 'one' }] },
        { ...good, types: 'many' },
        { ...good, leaks: [{}] },
        { ...good, label: 42 }
      ]
    };
    expect(parseSavedRuns(value)).toEqual([good]);
    expect(warn).toHaveBeenCalledTimes(9);
  });

  it('read missing lists and bytes as empty and unknown', () => {
    const runs = parseSavedRuns({
      version: 1,
      runs: [{ mode: 'light', started_at: at(1), duration_s: 0.5 }]
    });
    const back = fromSavedRun(runs[0], 'c');
    expect(back.top_lines).toEqual([]);
    expect(back.types).toEqual([]);
    expect(back.leaks).toEqual([]);
    expect(back.rss_after).toBeNull();
    expect(back.execution_count).toBeNull();
    expect(warn).not.toHaveBeenCalled();
  });

  it('merge runs by start, without duplicates, keeping the last ones', () => {
    let value: unknown = undefined;
    for (let i = 0; i < MAX_RUNS + 2; i++) {
      value = mergeRuns(value, [record({ execution_count: i, started_at: at(10 + i) })]);
    }
    const runs = (value as any).runs;
    expect(runs.map((run: any) => run.execution_count)).toEqual([2, 3, 4, 5, 6]);
    // Already there, or older than every kept run: nothing to write.
    expect(mergeRuns(value, [record({ execution_count: 6, started_at: at(16) })])).toBeNull();
    expect(mergeRuns(value, [record({ execution_count: 0, started_at: at(1) })])).toBeNull();
    // A newer format is left alone.
    expect(mergeRuns({ version: 2, runs: [] }, [record()])).toBeNull();
  });
});

describe('cell metadata in a notebook model', () => {
  it('writes records into their cells and reads them back', () => {
    const nb = notebook('a', 'b', 'c');
    const written = writeRecords(nb.cells, [
      record({ seq: 1, cell_id: 'b', execution_count: 1, started_at: at(1) }),
      record({ seq: 2, cell_id: null, execution_count: 2, started_at: at(2) }),
      record({ seq: 3, cell_id: 'gone', execution_count: 3, started_at: at(3) }),
      record({ seq: 4, cell_id: 'b', execution_count: 4, started_at: at(4) }),
      record({ seq: 5, cell_id: 'a', execution_count: 5, started_at: at(5), saved: true }),
      // A release ran in no cell: never saved as a run, even with a cell id.
      record({ seq: 6, cell_id: 'c', execution_count: null, started_at: at(6), mode: 'release' })
    ]);
    expect(written).toBe(1);
    expect(savedRuns(nb, 2)).toEqual([]);
    expect(savedRuns(nb, 0)).toEqual([]);
    expect(savedRuns(nb, 1).map(run => run.execution_count)).toEqual([1, 4]);
    // The notebook's JSON carries it, as the saved file will.
    const json = nb.toJSON() as any;
    expect(json.cells[1].metadata.memtrack.version).toBe(1);
    expect(json.cells[1].metadata.memtrack.runs).toHaveLength(2);

    const reopened = new NotebookModel();
    reopened.fromJSON(json);
    // Each run takes the id its cell has now (a notebook without cell ids gets new ones).
    const records = readSavedRecords(reopened.cells);
    const id = reopened.cells.get(1).id;
    expect(records.map(r => [r.cell_id, r.execution_count, r.saved])).toEqual([
      [id, 1, true],
      [id, 4, true]
    ]);
  });

  it('writes new records while the setting is on, and only missing runs on replay', () => {
    const nb = notebook('a', 'b');
    const model = new MemtrackModel();
    let enabled = true;
    const sync = new CellMetadataSync({
      model,
      cells: key => (key === 'nb' ? nb.cells : null),
      enabled: () => enabled
    });
    model.appendRecord(
      'nb',
      record({ seq: 1, cell_id: 'a', execution_count: 1, started_at: at(1) })
    );
    expect(savedRuns(nb, 0).map(run => run.execution_count)).toEqual([1]);

    // A replayed history adds only what the cell lacks.
    let writes = 0;
    nb.cells.get(0).metadataChanged.connect(() => writes++);
    model.replaceKernelHistory('nb', [
      record({ seq: 1, cell_id: 'a', execution_count: 1, started_at: at(1) })
    ]);
    expect(writes).toBe(0);
    model.replaceKernelHistory('nb', [
      record({ seq: 1, cell_id: 'a', execution_count: 1, started_at: at(1) }),
      record({ seq: 2, cell_id: 'a', execution_count: 2, started_at: at(2) })
    ]);
    expect(savedRuns(nb, 0).map(run => run.execution_count)).toEqual([1, 2]);

    enabled = false;
    model.appendRecord(
      'nb',
      record({ seq: 3, cell_id: 'b', execution_count: 3, started_at: at(3) })
    );
    expect(savedRuns(nb, 1)).toEqual([]);
    // Turning it off keeps what was saved.
    expect(savedRuns(nb, 0)).toHaveLength(2);

    sync.dispose();
    enabled = true;
    model.appendRecord(
      'nb',
      record({ seq: 4, cell_id: 'b', execution_count: 4, started_at: at(4) })
    );
    expect(savedRuns(nb, 1)).toEqual([]);
  });

  it('writes every record of a batch the kernel sends at once', () => {
    const nb = notebook('a', 'b');
    const model = new MemtrackModel();
    const sync = new CellMetadataSync({ model, cells: () => nb.cells, enabled: () => true });
    model.appendRecord(
      'nb',
      record({ seq: 1, cell_id: 'a', execution_count: 1, started_at: at(1) })
    );
    model.appendRecords('nb', [
      record({ seq: 2, cell_id: 'b', execution_count: 2, started_at: at(2) }),
      record({ seq: 3, cell_id: 'a', execution_count: 3, started_at: at(3) }),
      record({ seq: 4, cell_id: 'b', execution_count: 4, started_at: at(4) })
    ]);
    expect(savedRuns(nb, 0).map(run => run.execution_count)).toEqual([1, 3]);
    expect(savedRuns(nb, 1).map(run => run.execution_count)).toEqual([2, 4]);
    sync.dispose();
  });

  it('seeds the history from the cells, and does not write saved runs back', () => {
    const nb = notebook('a', 'b');
    nb.cells
      .get(1)
      .setMetadata(METADATA_KEY, { version: 1, runs: [toSavedRun(record({ started_at: at(5) }))] });
    nb.cells
      .get(0)
      .setMetadata(METADATA_KEY, { version: 1, runs: [toSavedRun(record({ started_at: at(2) }))] });
    const before = JSON.stringify(nb.toJSON());
    const model = new MemtrackModel();
    const sync = new CellMetadataSync({ model, cells: () => nb.cells, enabled: () => true });
    expect(seedFromCells(model, 'nb', nb.cells)).toBe(2);
    expect(model.records('nb').map(r => [r.cell_id, r.saved])).toEqual([
      ['a', true],
      ['b', true]
    ]);
    expect(JSON.stringify(nb.toJSON())).toBe(before);
    sync.dispose();
  });
});

describe('MemtrackModel.seedSaved', () => {
  const saved = (second: number, cell = 'c') =>
    fromSavedRun(
      toSavedRun(record({ started_at: at(second), execution_count: second, cell_id: cell })),
      cell
    );

  it('puts saved runs first, in start order, before a separator', () => {
    const model = new MemtrackModel();
    model.seedSaved('nb', [saved(3), saved(1), saved(2)]);
    const entries = model.entries('nb');
    expect(entries.map(e => e.kind)).toEqual(['record', 'record', 'record', 'restart']);
    expect(entries[3]).toEqual({ kind: 'restart', at: at(3), saved: true });
    const records = model.records('nb');
    expect(records.map(r => r.execution_count)).toEqual([1, 2, 3]);
    expect(records.map(r => r.seq)).toEqual([-3, -2, -1]);
    expect(records.every(r => r.saved)).toBe(true);

    // The kernel's history goes after the saved segment and replays keep it.
    model.appendRecord('nb', record({ seq: 1, execution_count: 10, started_at: at(30) }));
    model.replaceKernelHistory('nb', [
      record({ seq: 1, execution_count: 10, started_at: at(30) }),
      record({ seq: 2, execution_count: 11, started_at: at(31) })
    ]);
    expect(model.records('nb').map(r => r.execution_count)).toEqual([1, 2, 3, 10, 11]);
    model.markRestart('nb');
    model.replaceKernelHistory('nb', [record({ seq: 1, execution_count: 1, started_at: at(40) })]);
    expect(model.entries('nb').map(e => e.kind)).toEqual([
      'record',
      'record',
      'record',
      'restart',
      'record',
      'record',
      'restart',
      'record'
    ]);
  });

  it('goes before records that arrived first, and replaces an earlier seeding', () => {
    const model = new MemtrackModel();
    model.replaceKernelHistory('nb', [record({ seq: 1, execution_count: 10, started_at: at(30) })]);
    model.seedSaved('nb', [saved(1)]);
    model.seedSaved('nb', [saved(2), saved(1)]);
    expect(model.records('nb').map(r => [r.execution_count, !!r.saved])).toEqual([
      [1, true],
      [2, true],
      [10, false]
    ]);
    // A replay still replaces only the kernel's part.
    model.replaceKernelHistory('nb', [record({ seq: 1, execution_count: 12, started_at: at(32) })]);
    expect(model.records('nb').map(r => r.execution_count)).toEqual([1, 2, 12]);
  });

  it('shows a run the kernel still has once, as the kernel’s', () => {
    const model = new MemtrackModel();
    const live = record({ seq: 1, cell_id: 'c', execution_count: 1, started_at: at(1) });
    model.seedSaved('nb', [saved(1), saved(2)]);
    model.replaceKernelHistory('nb', [live]);
    expect(model.records('nb').map(r => [r.execution_count, !!r.saved])).toEqual([
      [2, true],
      [1, false]
    ]);
    // Every saved run also live: no saved segment, no separator.
    model.replaceKernelHistory('nb', [
      live,
      record({ seq: 2, cell_id: 'c', execution_count: 2, started_at: at(2) })
    ]);
    expect(model.entries('nb').map(e => e.kind)).toEqual(['record', 'record']);
    expect(model.records('nb').every(r => !r.saved)).toBe(true);
    // Seeding after the kernel reported them adds nothing.
    model.seedSaved('nb', [saved(1), saved(2)]);
    expect(model.records('nb')).toHaveLength(2);
  });

  it('is forgotten by clear', () => {
    const model = new MemtrackModel();
    model.seedSaved('nb', [saved(1)]);
    model.clear('nb');
    model.replaceKernelHistory('nb', [record({ seq: 1 })]);
    expect(model.entries('nb').map(e => e.kind)).toEqual(['record']);
  });
});

describe('saved rows in the cell table', () => {
  it('are tagged and still lead to their cell', () => {
    const activated: (string | null)[] = [];
    const table = new CellTable({
      trans: nullTranslator.load('jupyterlab-memtrack'),
      onActivate: r => activated.push(r.cell_id)
    });
    const savedRecord = { ...record({ cell_id: 'old', label: '<b>x</b>' }), seq: -1, saved: true };
    table.render([savedRecord, record({ seq: 1, cell_id: 'new' })], 'decimal', 'rss');
    const rows = table.node.querySelectorAll<HTMLTableRowElement>('tbody tr.jp-Memtrack-row');
    expect(rows).toHaveLength(2);
    expect(rows[0].classList.contains('jp-Memtrack-saved')).toBe(true);
    expect(rows[0].querySelector('.jp-Memtrack-savedTag')?.textContent).toBe('saved');
    expect(rows[0].querySelector('b')).toBeNull();
    expect(rows[0].cells[0].textContent).toContain('<b>x</b>');
    expect(rows[1].classList.contains('jp-Memtrack-saved')).toBe(false);
    expect(rows[1].querySelector('.jp-Memtrack-savedTag')).toBeNull();
    rows[0].click();
    expect(activated).toEqual(['old']);
  });
});

describe('the cellMetadata setting', () => {
  it('is off unless set to a boolean true', () => {
    expect(DEFAULT_SETTINGS.cellMetadata).toBe(false);
    expect(parseSettings({}).cellMetadata).toBe(false);
    expect(parseSettings({ cellMetadata: 'yes' }).cellMetadata).toBe(false);
    expect(parseSettings({ cellMetadata: true }).cellMetadata).toBe(true);
  });
});
