// plotly cannot draw inside jsdom: its entry points are faked, and what
// renderPlot hands them (traces, shapes, annotations) is checked.
jest.mock('plotly.js/lib/core', () => jest.requireActual('./plotlyFake').core);
jest.mock('plotly.js/lib/bar', () => jest.requireActual('./plotlyFake').bar);

import Plotly from 'plotly.js/lib/core';

import { sortRecords } from '../recordOrder';
import { renderPlot } from '../plot';
import { buildSeries } from '../series';
import { HistoryEntry } from '../tokens';
import { sampleRecord } from './fixtures';

const OPTIONS = {
  units: 'decimal' as const,
  metricTitle: 'RSS',
  peakTitle: 'peak',
  deltaTitle: 'delta',
  leakTitle: 'leak'
};

function drawn(): { data: any[]; layout: any } {
  const call = (Plotly.react as jest.Mock).mock.calls.at(-1)!;
  return { data: call[1], layout: call[2] };
}

function node(): HTMLElement {
  const div = document.createElement('div') as any;
  div.on = jest.fn();
  return div;
}

const rec = (seq: number, overrides: Record<string, unknown> = {}) =>
  sampleRecord({
    seq,
    label: null,
    rss_after: 1_000_000_000,
    rss_peak: 1_200_000_000,
    ...overrides
  });

describe('renderPlot', () => {
  const died = rec(1, {
    execution_count: 12,
    rss_after: null,
    error: 'KernelDied',
    died: {
      oom_killed: true,
      last_rss: 1_900_000_000,
      peak: 1_900_000_000,
      memory_limit: 2_000_000_000,
      last_sample_at: null
    }
  });
  const entries: HistoryEntry[] = [
    rec(1),
    { kind: 'restart', at: '2026-12-01T12:00:00Z', died: true, cell: '[12] <b>x</b>' },
    died,
    rec(2),
    { kind: 'restart', at: '2026-12-01T12:10:00Z' }
  ].map(e => ('kind' in e ? e : { kind: 'record' as const, record: e }));

  it('labels each separator, a death apart from a restart, and marks the death', async () => {
    await renderPlot(node(), buildSeries(entries), OPTIONS);
    const { data, layout } = drawn();
    expect(layout.shapes).toHaveLength(2);
    expect(layout.shapes[0].line.dash).toBeUndefined();
    expect(layout.shapes[1].line.dash).toBe('dash');
    const labels = layout.annotations.map((a: any) => a.text);
    expect(labels).toEqual(['died [12] &lt;b&gt;x&lt;/b&gt;', 'restart']);
    const death = data.find(trace => trace.name === 'kernel died');
    expect(death.x).toEqual([2]);
    expect(death.y).toEqual([1_900_000_000]);
    expect(death.text[0]).toContain('kernel died during [12] at 1.9 GB of 2.0 GB: out of memory');
  });

  it('draws a near limit as a labelled line, a far one as a note, none on the traced plot', async () => {
    const limit = { bytes: 2_000_000_000, label: 'limit 2.0 GB (cgroup-v2)' };
    await renderPlot(node(), buildSeries(entries), { ...OPTIONS, limit });
    let { data, layout } = drawn();
    const line = data.find(trace => trace.mode === 'lines' && trace.y?.[0] === 2_000_000_000);
    expect(line.x).toEqual([0.5, 3.5]);
    expect(layout.annotations.map((a: any) => a.text)).toContain('limit 2.0 GB (cgroup-v2)');
    // No shape: the shapes are the separators only.
    expect(layout.shapes).toHaveLength(2);

    await renderPlot(node(), buildSeries(entries), {
      ...OPTIONS,
      limit: { bytes: 128_000_000_000, label: 'limit 128 GB (meminfo)' }
    });
    ({ data, layout } = drawn());
    expect(data.some(trace => trace.y?.[0] === 128_000_000_000)).toBe(false);
    expect(layout.annotations.map((a: any) => a.text)).toContain('limit 128 GB (meminfo) ↑');
  });

  it('draws the running cell past the last record, with its bar among the deltas', async () => {
    const live = {
      rss: 1_500_000_000,
      delta: 500_000_000,
      title: '[13] <i>grow</i> (running)',
      hover: ['[13] running', 'RSS 1.5 GB']
    };
    const series = buildSeries(entries);
    await renderPlot(node(), series, { ...OPTIONS, live });
    const { data, layout } = drawn();
    const point = data.find(trace => trace.name === '[13] &lt;i&gt;grow&lt;/i&gt; (running)');
    expect(point.x).toEqual([4]);
    expect(point.y).toEqual([1_500_000_000]);
    expect(point.text).toEqual(['[13] running<br>RSS 1.5 GB']);
    const bars = data.filter(trace => trace.type === 'bar');
    expect(bars).toHaveLength(1);
    expect(bars[0].x).toEqual([1, 2, 3, 4]);
    expect(bars[0].y.at(-1)).toBe(500_000_000);
    // Labels thinned to fit the plot's width; the running cell's is always written.
    expect(layout.xaxis.tickvals.at(-1)).toBe(4);
    expect(layout.xaxis.tickangle).toBe(0);
    // The first trace (the line the tests count points of) is unchanged.
    expect(data[0].x).toEqual(series.x);
  });
});

describe('renderPlot per metric', () => {
  const release = rec(3, {
    execution_count: null,
    cell_id: null,
    label: 'release: delete Out[2], _2 and _',
    mode: 'release',
    rss_after: 500_000_000,
    rss_peak: null,
    traced_delta: null,
    traced_peak: null,
    alloc_after: 100_000_000,
    alloc_delta: -400_000_000
  });
  const entries: HistoryEntry[] = [
    rec(1, { alloc_after: 450_000_000, alloc_delta: 50_000_000 }),
    rec(2, {
      mode: 'light',
      traced_delta: null,
      alloc_after: 500_000_000,
      alloc_delta: 50_000_000
    }),
    release
  ].map(record => ({ kind: 'record' as const, record }));
  const live = { rss: 1_500_000_000, delta: 500_000_000, title: '[4] (running)', hover: [] };

  it('titles the y axis with the metric and marks releases apart', async () => {
    const series = buildSeries(entries, { metric: 'allocated' });
    await renderPlot(node(), series, { ...OPTIONS, metricTitle: 'allocated <b>', live });
    const { data, layout } = drawn();
    expect(layout.yaxis.title.text).toBe('allocated &lt;b&gt;');
    expect(data[0].name).toBe('allocated &lt;b&gt;');
    expect(data[0].y).toEqual([450_000_000, 500_000_000, 100_000_000]);
    const marks = data.find(trace => trace.name === 'release');
    expect(marks.x).toEqual([3]);
    expect(marks.y).toEqual([100_000_000]);
    expect(marks.marker.symbol).toBe('diamond-wide');
    // The running cell's figures are RSS: no bar or point among the allocated ones.
    const bars = data.find(trace => trace.type === 'bar');
    expect(bars.y).toEqual([50_000_000, 50_000_000, -400_000_000, null]);
    expect(data.find(trace => trace.name === '[4] (running)').y).toEqual([null]);
  });

  it('joins the traced sum across records without a traced delta', async () => {
    await renderPlot(node(), buildSeries(entries, { metric: 'traced' }), OPTIONS);
    const { data } = drawn();
    expect(data[0].connectgaps).toBe(true);
    expect(data[0].y).toEqual([50_000_000, null, null]);
    await renderPlot(node(), buildSeries(entries, { metric: 'rss' }), { ...OPTIONS, live });
    const rss = drawn().data;
    expect(rss[0].connectgaps).toBe(false);
    expect(rss.find(trace => trace.type === 'bar').y.at(-1)).toBe(500_000_000);
  });
});

describe('table history order', () => {
  it('keeps the position in the history, not the seq, which starts over per process', () => {
    const records = [rec(7), rec(8), rec(1), rec(2)];
    expect(sortRecords(records, 'order', false, 'rss').map(r => r.seq)).toEqual([7, 8, 1, 2]);
    expect(sortRecords(records, 'order', true, 'rss').map(r => r.seq)).toEqual([2, 1, 8, 7]);
  });
  it('keeps one to three cells as narrow bars inside a padded axis, not a full-width block', async () => {
    await renderPlot(node(), buildSeries([{ kind: 'record', record: rec(1) }]), OPTIONS);
    let { data } = drawn();
    let bar = data.find(trace => trace.type === 'bar');
    expect(bar.width).toEqual([0.35]);
    let padding = data.find(trace => trace.name === 'padding');
    expect(padding.x).toEqual([0, 2]);
    expect(padding.showlegend).toBe(false);
    expect(padding.hoverinfo).toBe('skip');
    expect(padding.mode).toBe('lines');
    expect(padding.line.width).toBe(0);

    const many = [1, 2, 3, 4].map(seq => ({ kind: 'record' as const, record: rec(seq) }));
    await renderPlot(node(), buildSeries(many), OPTIONS);
    ({ data } = drawn());
    bar = data.find(trace => trace.type === 'bar');
    expect(bar.width).toBeUndefined();
    padding = data.find(trace => trace.name === 'padding');
    expect(padding).toBeUndefined();
  });
});
