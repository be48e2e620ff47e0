/**
 * record.ts against the wire schema, the source of truth for the record: its
 * key lists are restated in TypeScript (typed, and without bundling the
 * schema), so these tests are what keeps them equal to the schema's.
 */
import {
  ALLOC_METHODS,
  BYTE_KEYS,
  CSV_COLUMNS,
  IMemtrackRecord,
  isReleaseRecord,
  METRICS,
  OPTIONAL_BYTE_KEYS,
  RECORD_KEYS,
  RECORD_MODES,
  RecordKey,
  recordDelta,
  recordLevel,
  recordPeak,
  runKey,
  startedAtMs
} from '../record';
import { resolveMetric } from '../metric';
import { SCHEMA_PATH, fixtures, readJson, sampleRecord } from './fixtures';

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

  it('lists the optional byte fields: the other nullable integers of the schema', () => {
    const optional = Object.keys(record.properties).filter(
      key =>
        !record.required.includes(key) &&
        record.properties[key].$ref === '#/definitions/nullableBytes'
    );
    expect([...OPTIONAL_BYTE_KEYS].sort()).toEqual(optional.sort());
  });

  it('lists the modes and allocator methods of the schema', () => {
    expect([...RECORD_MODES]).toEqual(record.properties.mode.enum);
    expect([...ALLOC_METHODS]).toEqual(record.properties.alloc_method.enum);
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

/** A wire fixture's record. */
const wire = (name: string): IMemtrackRecord =>
  fixtures('valid').find(([file]) => file === `${name}.json`)![1].record;

describe('metric figures', () => {
  // The kernel's definitions (record_delta, record_peak in python_ext/memtrack/record.py).
  it('takes the RSS change, the peak above the start, and the level less the tracer', () => {
    const record = sampleRecord({ rss_before: 100, rss_after: 180, rss_peak: 250 });
    expect(recordDelta(record, 'rss')).toBe(80);
    expect(recordPeak(record, 'rss')).toBe(150);
    expect(recordLevel(record, 'rss')).toBe(180);
    expect(recordLevel(record, 'rss', 'before')).toBe(100);
    // rss_before holds the tracer's tables too while tracing goes on: the change is both ends
    // alike, the plotted level is the user's part.
    const traced = { ...record, rss_after_tracer: 30 };
    expect(recordDelta(traced, 'rss')).toBe(80);
    expect(recordLevel(traced, 'rss')).toBe(150);
    // A peak below the start (a lifetime peak read late) is no negative peak.
    expect(recordPeak(sampleRecord({ rss_before: 100, rss_peak: 90 }), 'rss')).toBe(0);
    expect(recordDelta(sampleRecord({ rss_before: null }), 'rss')).toBeNull();
    expect(recordPeak(sampleRecord({ rss_peak: null }), 'rss')).toBeNull();
  });

  it('takes the allocated figures, and null where the record has none', () => {
    const allocated = wire('record-allocated');
    expect(recordDelta(allocated, 'allocated')).toBe(10000033);
    expect(recordPeak(allocated, 'allocated')).toBeNull();
    expect(recordLevel(allocated, 'allocated')).toBe(62428833);
    expect(recordLevel(allocated, 'allocated', 'before')).toBe(52428800);
    expect(recordPeak({ ...allocated, alloc_peak: 7 }, 'allocated')).toBe(7);
    const slow = wire('record-alloc-too-slow');
    expect(recordDelta(slow, 'allocated')).toBeNull();
    expect(recordLevel(slow, 'allocated')).toBeNull();
    // Never another metric in its place: this record has an RSS and a traced change.
    expect(recordDelta(sampleRecord(), 'allocated')).toBeNull();
  });

  it('takes the traced figures of deep cells only, and has no traced level', () => {
    const deep = sampleRecord({ traced_delta: 7, traced_peak: 9 });
    expect(recordDelta(deep, 'traced')).toBe(7);
    expect(recordPeak(deep, 'traced')).toBe(9);
    expect(recordLevel(deep, 'traced')).toBeNull();
    const light = wire('record-allocated');
    expect(recordDelta(light, 'traced')).toBeNull();
    expect(recordPeak(light, 'traced')).toBeNull();
  });

  it('reads a deep cell whose tracer kept memory: each metric its own figure', () => {
    const deep = wire('record-deep-tracer');
    expect(METRICS.map(metric => recordDelta(deep, metric))).toEqual([
      -50000000,
      -50000057,
      -49999944,
      null
    ]);
    expect(recordDelta({ ...deep, rss_after_tracer: 1_000_000 }, 'rss')).toBe(-50000000);
    expect(recordLevel({ ...deep, rss_after_tracer: 1_000_000 }, 'rss')).toBe(106286400);
  });

  it('reads a release: its drop in RSS and allocated memory, no peak, nothing traced', () => {
    const release = wire('record-release');
    expect(isReleaseRecord(release)).toBe(true);
    expect(isReleaseRecord(sampleRecord())).toBe(false);
    expect(recordDelta(release, 'rss')).toBe(260046848 - 786432000);
    expect(recordDelta(release, 'allocated')).toBe(-520000000);
    expect(recordDelta(release, 'traced')).toBeNull();
    expect(METRICS.map(metric => recordPeak(release, metric))).toEqual([null, null, null, null]);
    expect(recordLevel(release, 'allocated')).toBe(180000000);
  });
});

describe("the 'auto' metric", () => {
  it('is allocated while the latest record has it, and RSS once the reader was given up', () => {
    const allocated = wire('record-allocated');
    const slow = wire('record-alloc-too-slow');
    expect(resolveMetric('auto', [])).toBe('rss');
    expect(resolveMetric('auto', [sampleRecord()])).toBe('rss');
    expect(resolveMetric('auto', [sampleRecord(), allocated])).toBe('allocated');
    // A kernel whose mallinfo2 grew too slow reads RSS only from then on.
    expect(resolveMetric('auto', [allocated, slow])).toBe('rss');
    expect(resolveMetric('traced', [allocated])).toBe('traced');
  });
});

describe('derived figures', () => {
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
