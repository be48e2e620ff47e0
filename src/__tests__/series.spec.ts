import { formatBytes, formatDelta, formatDuration, recordTitle } from '../format';
import { buildSeries, recordDelta } from '../series';
import { HistoryEntry } from '../tokens';
import { sampleRecord } from './fixtures';

describe('format', () => {
  it('formats bytes in base 10', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1234567)).toBe('1.2 MB');
    expect(formatBytes(-50_000_000)).toBe('-50.0 MB');
    expect(formatBytes(250_000_000_000)).toBe('250 GB');
    expect(formatBytes(null)).toBe('–');
  });

  it('signs deltas', () => {
    expect(formatDelta(50_000_000)).toBe('+50.0 MB');
    expect(formatDelta(-3200)).toBe('-3.2 kB');
    expect(formatDelta(0)).toBe('0 B');
  });

  it('formats durations', () => {
    expect(formatDuration(0.0123)).toBe('12 ms');
    expect(formatDuration(1.254)).toBe('1.25 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
  });

  it('titles records by execution count and label', () => {
    expect(recordTitle({ execution_count: 3, label: 'load' })).toBe('[3] load');
    expect(recordTitle({ execution_count: null, label: null })).toBe('[ ]');
  });
});

describe('buildSeries', () => {
  const rec = (seq: number, overrides: Record<string, unknown> = {}): HistoryEntry => ({
    kind: 'record',
    record: sampleRecord({ seq, execution_count: seq, ...overrides })
  });

  it('plots one point per record with a cumulative traced line', () => {
    const series = buildSeries([
      rec(1, { traced_delta: 100, rss_after: 1000 }),
      rec(2, { traced_delta: -30, rss_after: 900 }),
      rec(3, { traced_delta: null, traced_peak: null, rss_before: 900, rss_after: 950 })
    ]);
    expect(series.x).toEqual([1, 2, 3]);
    expect(series.rss).toEqual([1000, 900, 950]);
    expect(series.tracedCumulative).toEqual([100, 70, 70]);
    expect(series.delta).toEqual([100, -30, 50]);
    expect(series.hasTraced).toBe(true);
    expect(series.labels[0]).toBe('[1] load data');
  });

  it('marks restarts between points and restarts the traced sum', () => {
    const series = buildSeries([
      rec(1, { traced_delta: 100 }),
      { kind: 'restart', at: '2026-01-01T00:00:00Z' },
      rec(1, { traced_delta: 5 })
    ]);
    expect(series.restarts).toEqual([1.5]);
    expect(series.tracedCumulative).toEqual([100, 5]);
  });

  it('falls back to the RSS change when nothing was traced', () => {
    const record = sampleRecord({ traced_delta: null, rss_before: 10, rss_after: 4 });
    expect(recordDelta(record)).toBe(-6);
    expect(recordDelta(sampleRecord({ traced_delta: null, rss_before: null }))).toBeNull();
  });

  it('escapes user text for plotly', () => {
    const series = buildSeries([rec(1, { label: '<img src=x onerror=alert(1)>' })]);
    expect(series.labels[0]).toBe('[1] &lt;img src=x onerror=alert(1)&gt;');
    expect(series.hover[0]).not.toContain('<img');
  });

  it('mentions errors and peaks in the hover text', () => {
    const series = buildSeries([rec(1, { error: 'MemoryError' })]);
    expect(series.hover[0]).toContain('raised MemoryError');
    expect(series.hover[0]).toContain('traced peak 80.0 MB');
  });
});
