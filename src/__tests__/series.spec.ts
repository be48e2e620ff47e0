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
    expect(formatBytes(null)).toBe('—');
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
    expect(escapePlotlyText(`<a href="x">'&'</a>`)).toBe(`&lt;a href="x"&gt;'&amp;'&lt;/a&gt;`);
  });

  it('titles records by execution count and label', () => {
    expect(recordTitle({ execution_count: 3, label: 'load' })).toBe('[3] load');
    expect(recordTitle({ execution_count: null, label: null })).toBe('[ ]');
    expect(recordTitle({ execution_count: null, label: 'release: x', mode: 'release' })).toBe(
      'release: x'
    );
  });
});

describe('buildSeries', () => {
  const rec = (seq: number, overrides: Record<string, unknown> = {}): HistoryEntry => ({
    kind: 'record',
    record: sampleRecord({ seq, execution_count: seq, ...overrides })
  });

  it('plots RSS after each cell less the tracer, with its peak', () => {
    const series = buildSeries([
      rec(1, { rss_before: 800, rss_after: 1000, rss_peak: 1500 }),
      rec(2, { rss_before: 1000, rss_after: 900, rss_peak: 1100, rss_after_tracer: 100 })
    ]);
    expect(series.metric).toBe('rss');
    expect(series.x).toEqual([1, 2]);
    expect(series.cumulative).toEqual([1000, 800]);
    expect(series.peak).toEqual([1500, 1100]);
    // The change is both ends alike (the tracer's part corrects the plotted level only).
    expect(series.delta).toEqual([200, -100]);
    expect(series.labels[0]).toBe('[1] load data');
  });

  it('plots the allocated level, a peak only where measured, nothing for records without', () => {
    const series = buildSeries(
      [
        rec(1, { alloc_before: 500, alloc_after: 700, alloc_delta: 200, alloc_peak: 300 }),
        rec(2, { alloc_before: 700, alloc_after: 650, alloc_delta: -50 }),
        rec(3, { alloc_method: 'too-slow' })
      ],
      { metric: 'allocated' }
    );
    expect(series.cumulative).toEqual([700, 650, null]);
    expect(series.peak).toEqual([800, null, null]);
    expect(series.delta).toEqual([200, -50, null]);
    expect(series.hover[0]).toContain('allocated delta +200 B, peak 300 B');
    // The other metrics the record has are named after it.
    expect(series.hover[0]).toContain('RSS delta +52.4 MB');
    expect(series.hover[0]).toContain('traced delta +50.0 MB, peak 80.0 MB');
  });

  it('sums traced deltas over the records that have one only, peaks above each start', () => {
    const series = buildSeries(
      [
        rec(1, { traced_delta: 100, traced_peak: 150 }),
        rec(2, { traced_delta: -30, traced_peak: 10 }),
        rec(3, { traced_delta: null, traced_peak: null, rss_before: 900, rss_after: 950 }),
        rec(4, { traced_delta: 5, traced_peak: 5 })
      ],
      { metric: 'traced' }
    );
    // A light cell is no point on the traced line, and no RSS change among the traced bars.
    expect(series.cumulative).toEqual([100, 70, null, 75]);
    expect(series.peak).toEqual([150, 110, null, 75]);
    expect(series.delta).toEqual([100, -30, null, 5]);
  });

  it('draws a release at the level it left, and highlights only suspects still current', () => {
    const cache = { name: 'cache', kind: 'growing-variable' };
    const out = { name: 'Out[2]', kind: 'output-history' };
    const release = {
      kind: 'record' as const,
      record: sampleRecord({
        seq: 3,
        execution_count: null,
        cell_id: null,
        label: 'release: delete Out[2], _2 and _',
        mode: 'release',
        rss_before: 800_000_000,
        rss_after: 300_000_000,
        rss_peak: null,
        traced_delta: null,
        traced_peak: null,
        top_lines: [],
        types: [],
        leaks: [cache],
        release: { action: 'delete Out[2], _2 and _', expected_bytes: 5, freed_bytes: 6 }
      })
    };
    const series = buildSeries([
      rec(1, { leaks: [cache] }),
      rec(2, { leaks: [cache, out], rss_after: 800_000_000 }),
      release
    ]);
    expect(series.releases).toEqual([2]);
    expect(series.cumulative[2]).toBe(300_000_000);
    expect(series.delta[2]).toBe(-500_000_000);
    expect(series.peak[2]).toBeNull();
    expect(series.labels[2]).toBe('release');
    expect(series.hover[2]).toContain('release: delete Out[2], _2 and _<br>');
    expect(series.hover[2]).toContain('released: delete Out[2], _2 and _; expected 5 B, freed 6 B');
    // The release leaves the cache current: the cell that first reported it (no `cells`) is marked.
    expect(series.leaking).toEqual([true, false, false]);
    const withoutCache = buildSeries([
      rec(1, { leaks: [cache] }),
      rec(2, { leaks: [out] }),
      { ...release, record: { ...release.record, leaks: [out] } }
    ]);
    expect(withoutCache.leaking).toEqual([false, true, false]);
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
    expect(series.hover[0]).toContain('traced delta +50.0 MB, peak 80.0 MB');
    expect(series.hover[0]).toContain('line 2: +50.0 MB');
    expect(series.hover[0]).toContain('1 leak suspect');
    expect(series.leaking).toEqual([true]);
  });

  it('formats bytes in the chosen units', () => {
    const series = buildSeries([rec(1, { traced_delta: 1024 * 1024 })], {
      units: 'binary',
      metric: 'traced'
    });
    expect(series.hover[0]).toContain('traced delta +1.0 MiB');
  });
});

describe('decimate', () => {
  const records = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      sampleRecord({
        seq: i + 1,
        execution_count: i + 1,
        traced_delta: i === 500 ? 10 ** 9 : i,
        // The latest record's suspect names the cell of record 7 as the one that grew it.
        leaks: i === n - 1 ? [{ kind: 'growing-variable', name: 'x', cells: [8] }] : []
      })
    );

  it('keeps everything up to the limit', () => {
    expect(decimate(records(10), 10, 'traced')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps the biggest change, every leak and the last record', () => {
    const kept = decimate(records(10_000), 100, 'traced');
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
