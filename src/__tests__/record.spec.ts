/**
 * record.ts against the wire schema, the source of truth for the record: its
 * key lists are restated in TypeScript (typed, and without bundling the
 * schema), so these tests are what keeps them equal to the schema's.
 */
import {
  BYTE_KEYS,
  CSV_COLUMNS,
  IMemtrackRecord,
  RECORD_KEYS,
  RecordKey,
  recordDelta,
  recordPeak,
  runKey,
  startedAtMs
} from '../record';
import { SCHEMA_PATH, readJson, sampleRecord } from './fixtures';

/** The keys IMemtrackRecord does not mark optional. */
type RequiredKey = {
  [K in keyof IMemtrackRecord]-?: object extends Pick<IMemtrackRecord, K> ? never : K;
}[keyof IMemtrackRecord];

describe('record keys and the wire schema', () => {
  const record = readJson(SCHEMA_PATH).definitions.record;

  it('lists the required keys of the schema, in its order', () => {
    expect([...RECORD_KEYS]).toEqual(record.required);
  });

  it('lists the CSV columns of the schema, in its order', () => {
    expect([...CSV_COLUMNS]).toEqual(record['x-csv-columns']);
  });

  it('lists the byte fields: the nullable integers of the schema', () => {
    const nullableBytes = Object.keys(record.properties).filter(
      key =>
        record.required.includes(key) &&
        record.properties[key].$ref === '#/definitions/nullableBytes'
    );
    expect([...BYTE_KEYS]).toEqual(nullableBytes);
  });

  it('has the interface require exactly the listed keys', () => {
    // Checked by the compiler: this does not compile when the two differ.
    const same: [Exclude<RequiredKey, RecordKey>, Exclude<RecordKey, RequiredKey>] extends [
      never,
      never
    ]
      ? true
      : false = true;
    expect(same).toBe(true);
  });
});

describe('derived figures', () => {
  it('falls back to the RSS change when nothing was traced', () => {
    const record = sampleRecord({ traced_delta: null, rss_before: 10, rss_after: 4 });
    expect(recordDelta(record)).toBe(-6);
    expect(recordDelta(sampleRecord({ traced_delta: null, rss_before: null }))).toBeNull();
  });

  it('takes the traced change when measured', () => {
    expect(recordDelta(sampleRecord({ traced_delta: 7, rss_before: 10, rss_after: 4 }))).toBe(7);
  });

  it('takes the traced peak when measured, else the RSS peak', () => {
    expect(recordPeak(sampleRecord({ traced_peak: 5, rss_peak: 900 }))).toBe(5);
    expect(recordPeak(sampleRecord({ traced_peak: null, rss_peak: 900 }))).toBe(900);
    expect(recordPeak(sampleRecord({ traced_peak: null, rss_peak: null }))).toBeNull();
  });

  it('orders unparsable start times first', () => {
    expect(startedAtMs({ started_at: '2026-01-01T00:00:00Z' })).toBe(Date.UTC(2026, 0, 1));
    expect(startedAtMs({ started_at: 'soon' })).toBe(0);
  });

  it('identifies a run by its cell, start and execution count', () => {
    const record = sampleRecord({ cell_id: 'c1', execution_count: 3 });
    expect(runKey(record)).toBe(`c1|${record.started_at}|3`);
    expect(runKey({ ...record, seq: 99, saved: true })).toBe(runKey(record));
  });
});
