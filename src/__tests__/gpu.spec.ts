// The 'gpu' metric (issue 24): its figures (mirroring record_delta/record_peak in
// python_ext/memtrack/record.py), the plot's series and capacity line, the table's
// lower-bound peak and the live line. plotly cannot draw inside jsdom: its entry points
// are faked, and what renderPlot hands them is checked.
jest.mock('plotly.js/lib/core', () => jest.requireActual('./plotlyFake').core);
jest.mock('plotly.js/lib/bar', () => jest.requireActual('./plotlyFake').bar);

import * as path from 'path';

import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import Plotly from 'plotly.js/lib/core';

import { recordRow, tableColumns } from '../cellTableRows';
import { escapePlotlyText } from '../format';
import {
  gpuCapacity,
  gpuCapacityLine,
  gpuDelta,
  gpuHoverLines,
  gpuPeak,
  gpuPeakIsLowerBound,
  latestGpuSample
} from '../gpuFigures';
import { LiveLine, plotLive } from '../liveLine';
import { ILiveState } from '../liveModel';
import { columnHelp, METRIC_CHOICES, metricName, missingReason, resolveMetric } from '../metric';
import { renderPlot } from '../plot';
import { parseKernelMessage, ProtocolError } from '../protocol';
import { IGpuEntry, IMemtrackRecord, recordDelta, recordLevel, recordPeak } from '../record';
import { buildSeries } from '../series';
import { HistoryEntry } from '../tokens';
import { readJson, sampleRecord } from './fixtures';

const trans: TranslationBundle = nullTranslator.load('jupyterlab-memtrack');

const FIXTURE = path.resolve(
  __dirname,
  '..',
  '..',
  'schema',
  'fixtures',
  'valid',
  'record-gpu.json'
);

/** record-gpu.json: torch on device 0 (exact peak), cupy on device 0 ('ends'), jax error-only. */
const GPU_RECORD: IMemtrackRecord = readJson(FIXTURE).record;
const [TORCH, CUPY, JAX_ERROR] = GPU_RECORD.gpu as IGpuEntry[];

const HOSTILE = '<b>&"x"</b>';

function withGpu(seq: number, gpu: IGpuEntry[] | null | undefined): IMemtrackRecord {
  const record = sampleRecord({ seq, execution_count: seq, label: `cell ${seq}` });
  if (gpu !== undefined) {
    record.gpu = gpu;
  }
  return record;
}

function torch(overrides: Partial<IGpuEntry> = {}): IGpuEntry {
  return {
    library: 'torch',
    device: 0,
    name: 'NVIDIA H200',
    allocated_before: 1_000_000_000,
    allocated_after: 3_000_000_000,
    peak: 4_000_000_000,
    peak_scope: 'cell',
    reserved_before: 1_000_000_000,
    reserved_after: 4_000_000_000,
    capacity: 150_000_000_000,
    read_s: 0.00004,
    ...overrides
  };
}

describe("the 'gpu' metric's figures", () => {
  it('sums the entries with figures, leaving out an error-only entry', () => {
    expect(gpuDelta(GPU_RECORD)).toBe(1_000_000_000);
    expect(recordDelta(GPU_RECORD, 'gpu')).toBe(1_000_000_000);
    // torch 1 GB above its start, cupy none (its peak is the larger end).
    expect(recordPeak(GPU_RECORD, 'gpu')).toBe(1_000_000_000);
    expect(recordLevel(GPU_RECORD, 'gpu')).toBe(1_005_000_000);
    expect(recordLevel(GPU_RECORD, 'gpu', 'before')).toBe(5_000_000);
    // cupy has no high-water mark: the sum is a lower bound.
    expect(gpuPeakIsLowerBound(GPU_RECORD)).toBe(true);
    expect(gpuPeakIsLowerBound({ gpu: [TORCH] })).toBe(false);
  });

  it('takes a peak below the start as 0 and a bounded peak as a lower bound', () => {
    const record = withGpu(1, [
      torch({ peak: 900_000_000 }),
      torch({ device: 1, peak: 3_500_000_000, peak_scope: 'bounded', peak_bound: 6_000_000_000 })
    ]);
    expect(gpuDelta(record)).toBe(4_000_000_000);
    expect(gpuPeak(record)).toBe(0 + 2_500_000_000);
    expect(gpuPeakIsLowerBound(record)).toBe(true);
  });

  it('has no figure where no entry read both ends: never another metric in its place', () => {
    const halfRead = withGpu(1, [torch({ allocated_after: null, peak: null })]);
    const errorOnly = withGpu(2, [JAX_ERROR]);
    const none = withGpu(3, undefined);
    const nullGpu = withGpu(4, null);
    for (const record of [halfRead, errorOnly, none, nullGpu, withGpu(5, [])]) {
      expect(recordDelta(record, 'gpu')).toBeNull();
      expect(recordPeak(record, 'gpu')).toBeNull();
      expect(recordLevel(record, 'gpu')).toBeNull();
      expect(recordLevel(record, 'gpu', 'before')).toBeNull();
    }
    // The other metrics of the same records are still theirs.
    expect(recordDelta(none, 'rss')).toBe(none.rss_after! - none.rss_before!);
  });

  it('leaves an entry without a peak out of the peak, and says the sum is a lower bound', () => {
    const record = withGpu(1, [torch(), torch({ device: 1, peak: null, peak_scope: undefined })]);
    expect(gpuDelta(record)).toBe(4_000_000_000);
    expect(gpuPeak(record)).toBe(3_000_000_000);
    expect(gpuPeakIsLowerBound(record)).toBe(true);
    const noPeak = withGpu(2, [torch({ peak: null })]);
    expect(gpuDelta(noPeak)).toBe(2_000_000_000);
    expect(gpuPeak(noPeak)).toBeNull();
  });

  it("counts one device once in the capacity, the larger of its libraries' figures", () => {
    expect(gpuCapacity(GPU_RECORD)).toEqual({
      bytes: 150121463808,
      devices: 1,
      name: 'NVIDIA H200'
    });
    const two = withGpu(1, [
      torch(),
      torch({ device: 1, name: undefined, capacity: 80_000_000_000 }),
      { ...CUPY, device: 1, capacity: null }
    ]);
    expect(gpuCapacity(two)).toEqual({ bytes: 230_000_000_000, devices: 2, name: null });
    // A device of unknown capacity: no line rather than one below the real capacity.
    expect(gpuCapacity(withGpu(2, [torch(), { ...CUPY, device: 1 }]))).toBeNull();
    expect(gpuCapacity(withGpu(3, [JAX_ERROR]))).toBeNull();
  });
});

describe('the GPU metric in words', () => {
  it('is offered by the selector, named GPU, and never chosen by auto', () => {
    expect(METRIC_CHOICES).toContain('gpu');
    expect(metricName('gpu', trans)).toBe('GPU');
    expect(resolveMetric('auto', [GPU_RECORD])).toBe('allocated');
    expect(resolveMetric('gpu', [GPU_RECORD])).toBe('gpu');
    const help = columnHelp('gpu', trans);
    expect(help.delta).toMatch(/allocator counters.*summed over devices/);
    expect(help.peak).toMatch(/≥ marks a lower bound/);
  });

  it('says why a record has no GPU figure', () => {
    expect(missingReason(withGpu(1, undefined), 'gpu', 'delta', trans)).toMatch(
      /No GPU library was in use/
    );
    expect(missingReason(withGpu(1, [JAX_ERROR]), 'gpu', 'delta', trans)).toBe(
      'The GPU memory could not be read: RuntimeError: backend went away'
    );
    expect(missingReason(withGpu(1, [torch({ peak: null })]), 'gpu', 'peak', trans)).toMatch(
      /No GPU library reported a peak/
    );
    expect(missingReason({ ...GPU_RECORD, saved: true }, 'gpu', 'delta', trans)).toMatch(
      /saved in the notebook/
    );
  });

  it('shows a bounded peak in the table as "≥", a record without GPU as "—"', () => {
    const columns = tableColumns(trans, 'gpu');
    const row = (record: IMemtrackRecord) =>
      recordRow(record, {
        columns,
        units: 'decimal',
        metric: 'gpu',
        leaking: false,
        run: null,
        trans,
        onActivate: () => undefined,
        onKey: () => undefined
      });
    const cells = (record: IMemtrackRecord) =>
      Array.from(row(record).children).map(td => td.textContent);
    expect(cells(GPU_RECORD).slice(1, 3)).toEqual(['+1.0 GB', '≥ 1.0 GB']);
    expect(row(GPU_RECORD).children[2].getAttribute('title')).toMatch(/at least 1,000,000,000/);
    expect(cells(withGpu(2, [torch()])).slice(1, 3)).toEqual(['+2.0 GB', '3.0 GB']);
    expect(cells(withGpu(3, undefined)).slice(1, 3)).toEqual(['—', '—']);
  });
});

describe('the GPU plot', () => {
  const history: HistoryEntry[] = [
    withGpu(1, undefined),
    withGpu(2, [torch()]),
    withGpu(3, [JAX_ERROR]),
    withGpu(4, [torch({ allocated_before: 3_000_000_000, allocated_after: 2_000_000_000 })])
  ].map(record => ({ kind: 'record', record }));

  function drawn(): { data: any[]; layout: any } {
    const call = (Plotly.react as jest.Mock).mock.calls.at(-1)!;
    return { data: call[1], layout: call[2] };
  }

  function node(): HTMLElement {
    const div = document.createElement('div') as any;
    div.on = jest.fn();
    return div;
  }

  const OPTIONS = {
    units: 'decimal' as const,
    metricTitle: 'GPU',
    peakTitle: 'peak',
    deltaTitle: 'delta',
    leakTitle: 'leak'
  };

  it('draws the GPU bytes after each cell, no point where a record has none', () => {
    const series = buildSeries(history, { metric: 'gpu' });
    expect(series.cumulative).toEqual([null, 3_000_000_000, null, 2_000_000_000]);
    expect(series.peak).toEqual([null, 4_000_000_000, null, 4_000_000_000]);
    expect(series.delta).toEqual([null, 2_000_000_000, null, -1_000_000_000]);
    // The RSS plot of the same history is the RSS, whatever the records' GPU.
    const rss = buildSeries(history, { metric: 'rss' });
    expect(rss.cumulative.every(level => level !== null)).toBe(true);
  });

  it('hovers each entry once: where, allocated, peak with its bounds, reserved, capacity', () => {
    const bounded = torch({
      name: HOSTILE,
      peak: 3_500_000_000,
      peak_scope: 'bounded',
      peak_bound: 6_000_000_000
    });
    expect(gpuHoverLines({ gpu: [bounded, CUPY, JAX_ERROR] }, 'decimal')).toEqual([
      `torch:0 (${HOSTILE}): allocated 1.0 GB → 3.0 GB, peak ≥ 3.5 GB, ≤ 6.0 GB, reserved 4.0 GB, capacity 150 GB`,
      'cupy:0: allocated 5.0 MB → 5.0 MB, peak ≥ 5.0 MB, reserved 8.4 MB, capacity —',
      'jax: RuntimeError: backend went away'
    ]);
    const series = buildSeries([{ kind: 'record', record: withGpu(1, [bounded]) }], {
      metric: 'gpu'
    });
    const hover = series.hover[0];
    expect(hover).toContain('GPU delta +2.0 GB, peak ≥ 2.5 GB');
    const escaped = escapePlotlyText(HOSTILE);
    expect(hover.split(escaped)).toHaveLength(2);
    expect(hover).not.toContain('<b>');
    // Escaped once: no entity of an entity.
    expect(hover).not.toContain('&amp;lt;');
  });

  it('draws the capacity as a dotted line labelled "GPU capacity", as the limit is on RSS', async () => {
    const records = history.flatMap(e => (e.kind === 'record' ? [e.record] : []));
    const near = records.map(r =>
      r.gpu?.[0]?.capacity ? { ...r, gpu: [{ ...r.gpu[0], capacity: 5_000_000_000 }] } : r
    );
    const line = gpuCapacityLine(near, 'decimal', trans)!;
    expect(line).toEqual({ bytes: 5_000_000_000, label: 'GPU capacity 5.0 GB (NVIDIA H200)' });
    const entries: HistoryEntry[] = near.map(record => ({ kind: 'record', record }));
    await renderPlot(node(), buildSeries(entries, { metric: 'gpu' }), {
      ...OPTIONS,
      limit: line
    });
    const { data, layout } = drawn();
    const capacity = data.find(trace => trace.name === line.label);
    expect(capacity.y).toEqual([5_000_000_000, 5_000_000_000]);
    expect(capacity.line.dash).toBe('dot');
    expect(layout.annotations.map((a: any) => a.text)).toContain(line.label);
    // Far above the data (150 GB against 3 GB): a note, as a far memory limit is.
    const far = gpuCapacityLine(records, 'decimal', trans)!;
    await renderPlot(node(), buildSeries(history, { metric: 'gpu' }), { ...OPTIONS, limit: far });
    expect(drawn().data.find(trace => trace.name === far.label)).toBeUndefined();
    expect(drawn().layout.annotations.map((a: any) => a.text)).toContain(
      'GPU capacity 150 GB (NVIDIA H200) ↑'
    );
    // Not on the other metrics' plots.
    await renderPlot(node(), buildSeries(entries, { metric: 'allocated' }), {
      ...OPTIONS,
      limit: line
    });
    expect(drawn().data.find(trace => trace.name === line.label)).toBeUndefined();
  });

  it('escapes a device name in the capacity label once', async () => {
    const record = withGpu(1, [torch({ name: HOSTILE, capacity: 4_000_000_000 })]);
    const line = gpuCapacityLine([record], 'decimal', trans)!;
    expect(line.label).toBe(`GPU capacity 4.0 GB (${HOSTILE})`);
    await renderPlot(node(), buildSeries([{ kind: 'record', record }], { metric: 'gpu' }), {
      ...OPTIONS,
      limit: line
    });
    const annotation = drawn().layout.annotations.find((a: any) => a.text.includes('capacity'));
    expect(annotation.text).toBe(`GPU capacity 4.0 GB (${escapePlotlyText(HOSTILE)})`);
  });

  it("puts the running cell's GPU bytes on the GPU plot, its RSS on the RSS plot", async () => {
    const state = liveState([
      { t: 0.2, rss: 100, gpu: 2_500_000_000 },
      { t: 0.4, rss: 120 }
    ]);
    const live = plotLive(state, null, null, 'decimal', trans)!;
    expect(live.gpu).toBe(2_500_000_000);
    expect(live.hover).toContain('GPU 2.5 GB');
    await renderPlot(node(), buildSeries(history, { metric: 'gpu' }), { ...OPTIONS, live });
    const running = drawn().data.find(trace => trace.name === '[5] (running)');
    expect(running.y).toEqual([2_500_000_000]);
    await renderPlot(node(), buildSeries(history, { metric: 'rss' }), { ...OPTIONS, live });
    expect(drawn().data.find(trace => trace.name === '[5] (running)').y).toEqual([state.rss]);
  });
});

function liveState(samples: ILiveState['samples']): ILiveState {
  return {
    executionCount: 5,
    cellId: 'c5',
    startedAt: '2026-12-01T12:00:00Z',
    elapsedS: 1.5,
    samples,
    rss: 1_200_000_000,
    peak: 1_300_000_000,
    rssBefore: 1_000_000_000,
    receivedAt: Date.now(),
    busySince: null
  };
}

describe('the live GPU figure', () => {
  it("is the latest sample's that carries one", () => {
    expect(latestGpuSample([{ gpu: 1 }, { gpu: 2 }, {}])).toBe(2);
    expect(latestGpuSample([{}, {}])).toBeNull();
  });

  it('shows on the live line with the GPU metric only, with the capacity when known', () => {
    const line = new LiveLine({ trans, onActivate: () => undefined });
    const state = liveState([{ t: 0.2, rss: 100, gpu: 2_500_000_000 }]);
    const limit = { bytes: null, source: 'none' as const, gpu_capacity: 80_000_000_000 };
    line.render(state, null, limit, 'decimal', 'gpu');
    expect(line.node.textContent).toContain('GPU 2.5 GB of 80.0 GB');
    line.render(state, null, { bytes: null, source: 'none' }, 'decimal', 'gpu');
    expect(line.node.textContent).toContain('GPU 2.5 GB');
    line.render(state, null, limit, 'decimal', 'rss');
    expect(line.node.textContent).not.toContain('GPU');
  });

  it("is read from live messages' samples, and a capacity from their limit", () => {
    const message = {
      v: 1,
      type: 'live',
      state: 'running',
      execution_count: 5,
      cell_id: null,
      started_at: '2026-12-01T12:00:00Z',
      elapsed_s: 0.4,
      samples: [{ t: 0.2, rss: 100, gpu: 2_500_000_000 }],
      rss: 100,
      peak: 100,
      limit: { bytes: null, source: 'none', gpu_capacity: 80_000_000_000 }
    };
    const parsed = parseKernelMessage(message) as any;
    expect(parsed.samples[0].gpu).toBe(2_500_000_000);
    expect(parsed.limit.gpu_capacity).toBe(80_000_000_000);
    expect(() =>
      parseKernelMessage({ ...message, samples: [{ t: 0.2, rss: 100, gpu: 1.5 }] })
    ).toThrow(ProtocolError);
    expect(() =>
      parseKernelMessage({ ...message, limit: { bytes: null, source: 'none', gpu_capacity: 'x' } })
    ).toThrow(ProtocolError);
  });
});
