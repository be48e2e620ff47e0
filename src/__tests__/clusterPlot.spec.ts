// plotly cannot draw inside jsdom: its entry points are faked, and what
// renderPlot hands them is checked.
jest.mock('plotly.js/lib/core', () => jest.requireActual('./plotlyFake').core);
jest.mock('plotly.js/lib/bar', () => jest.requireActual('./plotlyFake').bar);

import * as path from 'path';

import Plotly from 'plotly.js/lib/core';

import { renderPlot } from '../plot';
import { buildSeries } from '../series';
import { HistoryEntry } from '../tokens';
import { readJson, sampleRecord } from './fixtures';

const FIXTURES = path.resolve(__dirname, '..', '..', 'schema', 'fixtures', 'valid');

/** The cluster of a schema fixture (record-cluster.json: 3 workers, one joined, one gone). */
function fixtureCluster(name: string): any {
  return readJson(path.join(FIXTURES, name)).record.cluster;
}

const MEASURED = fixtureCluster('record-cluster.json');
const UNREACHABLE = fixtureCluster('record-cluster-unreachable.json');
const SKIPPED = {
  scheduler: 'tcp://127.0.0.1:43765',
  status: 'skipped',
  reason: 'a cell shorter than 50 ms that handed the client no work'
};
const HOSTILE = '<b>&"quotes"';

const entry = (seq: number, overrides: Record<string, unknown> = {}): HistoryEntry => ({
  kind: 'record',
  record: sampleRecord({ seq, execution_count: seq, label: `cell ${seq}`, ...overrides })
});

/** A measured cluster whose one worker has a hostile name. */
function hostileCluster(): any {
  return {
    ...MEASURED,
    workers_total: 1,
    reason: undefined,
    workers: [{ ...MEASURED.workers[2], name: HOSTILE }]
  };
}

const HISTORY: HistoryEntry[] = [
  entry(1),
  entry(2, { cluster: MEASURED }),
  entry(3, { cluster: SKIPPED }),
  entry(4, { cluster: UNREACHABLE }),
  entry(5, { cluster: { ...MEASURED, rss_after: 1_200_000_000 } })
];

describe('the cluster line of the series', () => {
  it('has a point for each measured cluster only, a gap for the other records', () => {
    const series = buildSeries(HISTORY);
    expect(series.hasCluster).toBe(true);
    expect(series.cluster).toEqual([null, 945_259_520, null, null, 1_200_000_000]);
    // The kernel's own line is untouched.
    expect(series.cumulative).toHaveLength(5);
    expect(series.clusterHover.map(text => text !== '')).toEqual([false, true, false, false, true]);
  });

  it('has no cluster line without a measured reading', () => {
    const series = buildSeries([entry(1), entry(2, { cluster: UNREACHABLE })]);
    expect(series.hasCluster).toBe(false);
    expect(series.cluster).toEqual([null, null]);
  });

  it('hovers with the total, its change, the peak above the start, managed and each worker', () => {
    const lines = buildSeries(HISTORY).clusterHover[1].split('<br>');
    expect(lines).toEqual([
      '[2] cell 2',
      'cluster RSS 945 MB after, +400 MB over the cell',
      "peak 466 MB above the start (the workers' peaks summed)",
      'managed +400 MB (task results held by the workers)',
      '3 workers (1 joined, 1 gone)',
      '0 (joined): 266 MB at the end',
      '0 (gone): 273 MB at the start',
      '1 (stayed): +407 MB, peak 407 MB'
    ]);
  });

  it("notes the cluster in the kernel point's hover, or why it was not read", () => {
    const hover = buildSeries(HISTORY).hover;
    expect(hover[0]).not.toContain('cluster');
    expect(hover[1]).toContain('<br>cluster RSS 945 MB (+400 MB)');
    expect(hover[2]).toContain('<br>cluster not read: a cell shorter than 50 ms');
    expect(hover[3]).toContain('<br>cluster unreachable: scheduler did not answer within 2 s');
  });

  it('escapes a worker name exactly once', () => {
    const series = buildSeries([entry(1, { cluster: hostileCluster() })]);
    const text = series.clusterHover[0];
    expect(text).toContain('&lt;b&gt;&amp;"quotes" (stayed): +407 MB');
    expect(text).not.toContain('<b>');
    expect(text).not.toContain('&amp;lt;');
  });
});

describe('renderPlot: the cluster line', () => {
  const OPTIONS = {
    units: 'decimal' as const,
    metricTitle: 'RSS',
    peakTitle: 'peak',
    deltaTitle: 'delta',
    leakTitle: 'leak',
    clusterTitle: 'cluster <RSS>'
  };

  function node(): HTMLElement {
    const div = document.createElement('div') as any;
    div.on = jest.fn();
    div.style.setProperty('--jp-info-color1', '#00bcd4');
    return div;
  }

  function drawn(): { data: any[]; layout: any } {
    const call = (Plotly.react as jest.Mock).mock.calls.at(-1)!;
    return { data: call[1], layout: call[2] };
  }

  it('draws the cluster beside the kernel, with gaps, clickable, in the theme colour', async () => {
    await renderPlot(node(), buildSeries(HISTORY), OPTIONS);
    const { data, layout } = drawn();
    const line = data.find(trace => trace.name === 'cluster &lt;RSS&gt;');
    expect(line.y).toEqual([null, 945_259_520, null, null, 1_200_000_000]);
    expect(line.connectgaps).toBe(false);
    expect(line.customdata).toEqual([0, 1, 2, 3, 4]);
    expect(line.text[1]).toContain('cluster RSS 945 MB after');
    expect(line.line.color).toBe('#00bcd4');
    // Told apart from the kernel's line by more than its colour.
    expect(line.line.dash).toBe('dash');
    expect(line.marker.symbol).toBe('square');
    // On the kernel's byte axis (its cells reach 210 MB), whose ticks reach the cluster's level.
    expect(line.yaxis).toBeUndefined();
    expect(Math.max(...layout.yaxis.tickvals)).toBeGreaterThanOrEqual(1_000_000_000);
  });

  it('draws no cluster line without a measured reading', async () => {
    await renderPlot(node(), buildSeries([entry(1), entry(2, { cluster: SKIPPED })]), OPTIONS);
    expect(drawn().data.some(trace => trace.name === 'cluster &lt;RSS&gt;')).toBe(false);
  });
});
