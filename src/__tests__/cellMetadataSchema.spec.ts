/**
 * schema/metadata/cell-runs.schema.json against src/cellMetadata.ts: the
 * fixtures are judged alike by the schema and the reader, and what the writer
 * saves validates. The schema describes the format; these tests keep it
 * describing what the code does.
 */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import * as path from 'path';

import {
  IMetadataCell,
  MAX_RUNS,
  METADATA_KEY,
  parseSavedRuns,
  readSavedRecords,
  writeRecords
} from '../cellMetadata';
import { IMemtrackRecord } from '../record';
import {
  CELL_RUNS_SCHEMA_PATH,
  SCHEMA_PATH,
  metadataFixtures,
  readJson,
  sampleRecord
} from './fixtures';

const WIRE_FIXTURES = path.join(path.dirname(path.dirname(SCHEMA_PATH)), 'fixtures', 'valid');

/** A cell that keeps its metadata as JSON text, as a saved notebook would. */
class JsonCell implements IMetadataCell {
  constructor(
    readonly id: string,
    value?: unknown
  ) {
    if (value !== undefined) {
      this.setMetadata(METADATA_KEY, value);
    }
  }

  getMetadata(key: string): unknown {
    const text = this._metadata.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  setMetadata(key: string, value: any): void {
    this._metadata.set(key, JSON.stringify(value));
  }

  private _metadata = new Map<string, string>();
}

/** A wire fixture's record, as the kernel sent it. */
function wireRecord(name: string, overrides: Record<string, unknown> = {}): IMemtrackRecord {
  return { ...readJson(path.join(WIRE_FIXTURES, `${name}.json`)).record, ...overrides };
}

describe('cell metadata schema', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const schema = readJson(CELL_RUNS_SCHEMA_PATH);
  const validate = ajv.compile(schema);
  let warn: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    warn.mockRestore();
  });

  /** Whether cellMetadata.ts reads the whole value: every run, and no warning. */
  function readWhole(value: unknown): boolean {
    warn.mockClear();
    const runs = parseSavedRuns(value);
    const all = (value as { runs?: unknown[] } | null)?.runs?.length;
    return warn.mock.calls.length === 0 && runs.length === all;
  }

  it('has fixtures of both kinds', () => {
    expect(metadataFixtures('valid').length).toBeGreaterThanOrEqual(3);
    expect(metadataFixtures('invalid').length).toBeGreaterThanOrEqual(3);
  });

  it.each(metadataFixtures('valid'))('%s is valid and read whole', (_name, value) => {
    expect(validate(value)).toBe(true);
    expect(readWhole(value)).toBe(true);
    const records = readSavedRecords([new JsonCell('cell-1', value)]);
    expect(records).toHaveLength(value.runs.length);
    expect(records.every(record => record.saved && record.cell_id === 'cell-1')).toBe(true);
  });

  it.each(metadataFixtures('invalid'))(
    '%s is rejected by the schema and the reader',
    (_name, value) => {
      expect(validate(value)).toBe(false);
      expect(readWhole(value)).toBe(false);
    }
  );

  it('accepts what writeRecords saves for real records', () => {
    const records = [
      sampleRecord({ seq: 1, cell_id: 'a' }),
      wireRecord('record-light', { seq: 2, cell_id: 'a' }),
      wireRecord('record-deep-full', { seq: 3, cell_id: 'b' }),
      wireRecord('record-leaks', { seq: 4, cell_id: 'b' }),
      sampleRecord({
        seq: 5,
        cell_id: 'c',
        label: 'x'.repeat(500),
        error: `ValueError: ${'y'.repeat(500)}`,
        execution_count: null,
        rss_before: null,
        rss_after: null,
        rss_peak: null,
        traced_delta: null,
        traced_peak: null
      })
    ];
    const cells = [new JsonCell('a'), new JsonCell('b'), new JsonCell('c')];
    expect(writeRecords(cells, records)).toBe(3);
    for (const cell of cells) {
      const value = cell.getMetadata(METADATA_KEY);
      expect(validate(value)).toBe(true);
      expect(readWhole(value)).toBe(true);
    }
  });

  it('accepts the runs kept when a cell runs more often than MAX_RUNS', () => {
    const cell = new JsonCell('a');
    for (let i = 0; i < MAX_RUNS + 2; i++) {
      const started = `2026-11-23T06:40:${String(10 + i).padStart(2, '0')}.000000+00:00`;
      writeRecords([cell], [sampleRecord({ seq: i + 1, cell_id: 'a', started_at: started })]);
    }
    const value = cell.getMetadata(METADATA_KEY) as { runs: unknown[] };
    expect(value.runs).toHaveLength(MAX_RUNS);
    expect(validate(value)).toBe(true);
  });

  it('lists exactly the keys the writer writes for a run', () => {
    const cell = new JsonCell('a');
    writeRecords([cell], [wireRecord('record-deep-full', { cell_id: 'a' })]);
    const [run] = (cell.getMetadata(METADATA_KEY) as { runs: Record<string, unknown>[] }).runs;
    expect(Object.keys(run).sort()).toEqual(Object.keys(schema.definitions.run.properties).sort());
  });

  describe('agrees with the reader on each key', () => {
    const base = metadataFixtures('valid').find(([name]) => name === 'typical.json')![1];
    const run = base.runs[1];
    const wrong: unknown[] = [1.5, -1, 'x', null, [], {}];

    /** The typical value with its deep run changed by `change`. */
    function changed(change: (run: any) => void): unknown {
      const value = JSON.parse(JSON.stringify(base));
      change(value.runs[1]);
      return value;
    }

    it.each(Object.keys(run))('%s', key => {
      const cases = [
        changed(r => delete r[key]),
        ...wrong.map(value => changed(r => (r[key] = value)))
      ];
      for (const value of cases) {
        expect([key, validate(value)]).toEqual([key, readWhole(value)]);
      }
    });

    it.each([
      ['top_lines', 'line'],
      ['top_lines', 'code'],
      ['top_lines', 'increment'],
      ['top_lines', 'occurrences'],
      ['types', 'type'],
      ['types', 'count_delta'],
      ['types', 'size_delta']
    ])('%s.%s', (list, key) => {
      const cases = [
        changed(r => delete r[list][0][key]),
        ...wrong.map(value => changed(r => (r[list][0][key] = value)))
      ];
      for (const value of cases) {
        expect([list, key, validate(value)]).toEqual([list, key, readWhole(value)]);
      }
    });
  });
});
