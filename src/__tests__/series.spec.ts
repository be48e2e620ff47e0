import {
  escapePlotlyText,
  formatBytes,
  formatDelta,
  formatDuration,
  recordTitle,
  sizeClass
} from '../format';
import { buildSeries, decimate } from '../series';
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

  it('formats binary units', () => {
    expect(formatBytes(1024, 'binary')).toBe('1.0 KiB');
    expect(formatBytes(3 * 1024 ** 3, 'binary')).toBe('3.0 GiB');
  });

  it('classes sizes for colour', () => {
    expect(sizeClass(null)).toBe('none');
    expect(sizeClass(-1)).toBe('release');
    expect(sizeClass(5_000_000)).toBe('small');
    expect(sizeClass(50_000_000)).toBe('medium');
    expect(sizeClass(500_000_000)).toBe('large');
  });

  it('escapes plotly pseudo-HTML', () => {
    expect(escapePlotlyText(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;'
    );
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

  it('plots RSS after each cell with its peak', () => {
    const series = buildSeries([
      rec(1, { rss_after: 1000, rss_peak: 1500 }),
      rec(2, { rss_after: 900, rss_peak: 1100 })
    ]);
    expect(series.metric).toBe('rss');
    expect(series.x).toEqual([1, 2]);
    expect(series.cumulative).toEqual([1000, 900]);
    expect(series.peak).toEqual([1500, 1100]);
    expect(series.labels[0]).toBe('[1] load data');
  });

  it('plots the running traced sum, peaks above the start of each cell', () => {
    const series = buildSeries(
      [
        rec(1, { traced_delta: 100, traced_peak: 150 }),
        rec(2, { traced_delta: -30, traced_peak: 10 }),
        rec(3, { traced_delta: null, traced_peak: null, rss_before: 900, rss_after: 950 })
      ],
      { metric: 'traced' }
    );
    expect(series.cumulative).toEqual([100, 70, 70]);
    expect(series.peak).toEqual([150, 110, null]);
    expect(series.delta).toEqual([100, -30, 50]);
  });

  it('marks restarts between points and restarts the traced sum', () => {
    const series = buildSeries(
      [
        rec(1, { traced_delta: 100 }),
        { kind: 'restart', at: '2026-01-01T00:00:00Z' },
        rec(1, { traced_delta: 5 })
      ],
      { metric: 'traced' }
    );
    expect(series.restarts).toEqual([1.5]);
    expect(series.cumulative).toEqual([100, 5]);
  });

  it('escapes user text for plotly', () => {
    const series = buildSeries([
      rec(1, {
        label: '<img src=x onerror=alert(1)>',
        top_lines: [{ line: 2, code: '<b>x</b> = 1', increment: 10, occurrences: 1 }],
        types: [{ type: '<script>', count_delta: 1, size_delta: 1 }]
      })
    ]);
    expect(series.labels[0]).toBe('[1] &lt;img src=x onerror=alert(1)&gt;');
    expect(series.hover[0]).not.toMatch(/<(img|b>|script)/);
    expect(series.hover[0]).toContain('&lt;script&gt; +1');
  });

  it('mentions errors, peaks, top lines and leaks in the hover text', () => {
    const series = buildSeries([rec(1, { error: 'MemoryError', leaks: [{ name: 'cache' }] })]);
    expect(series.hover[0]).toContain('raised MemoryError');
    expect(series.hover[0]).toContain('traced peak 80.0 MB');
    expect(series.hover[0]).toContain('line 2: +50.0 MB');
    expect(series.hover[0]).toContain('1 leak suspect');
    expect(series.leaking).toEqual([true]);
  });

  it('formats bytes in the chosen units', () => {
    const series = buildSeries([rec(1, { traced_delta: 1024 * 1024 })], { units: 'binary' });
    expect(series.hover[0]).toContain('delta +1.0 MiB');
  });
});

describe('decimate', () => {
  const records = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      sampleRecord({
        seq: i + 1,
        traced_delta: i === 500 ? 10 ** 9 : i,
        leaks: i === 7 ? [{}] : []
      })
    );

  it('keeps everything up to the limit', () => {
    expect(decimate(records(10), 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps the biggest change, every leak and the last record', () => {
    const kept = decimate(records(10_000), 100);
    expect(kept.length).toBeLessThanOrEqual(102);
    expect(kept).toContain(500);
    expect(kept).toContain(7);
    expect(kept[kept.length - 1]).toBe(9999);
    expect([...kept].sort((a, b) => a - b)).toEqual(kept);
  });

  it('plots decimated points at their place in the history', () => {
    const entries: HistoryEntry[] = records(50).map(record => ({ kind: 'record', record }));
    const series = buildSeries(entries, { maxPoints: 10 });
    expect(series.total).toBe(50);
    expect(series.x.length).toBeLessThanOrEqual(12);
    expect(series.x[series.x.length - 1]).toBe(50);
  });
});
