// plotly cannot draw inside jsdom: this is the one seam replaced by a fake.
jest.mock('../plot', () => ({
  renderPlot: jest.fn(() => Promise.resolve()),
  resizePlot: jest.fn(),
  purgePlot: jest.fn()
}));

import { SettingRegistry } from '@jupyterlab/settingregistry';
import { Widget } from '@lumino/widgets';

import * as fs from 'fs';
import * as path from 'path';

import * as plot from '../plot';
import { buildSeries } from '../series';
import { DEFAULT_SETTINGS, followSettingRegistry, SettingsState } from '../settings';
import { PLUGIN_ID } from '../tokens';
import {
  MemtrackWidgetModel,
  MemtrackWidgetView,
  MODULE_NAME,
  MODULE_VERSION,
  redrawWidgetPlots,
  setWidgetSettings,
  TABLE_ROWS
} from '../widget';
import { sampleRecord } from './fixtures';

const MiB = 1024 * 1024;

type Connector = ConstructorParameters<typeof SettingRegistry>[0]['connector'];

/**
 * A real setting registry with the extension's schema; the server's settings API, which it
 * would reach through its connector, is replaced by one in-memory user settings file.
 */
function settingRegistry(): SettingRegistry {
  const schema = JSON.parse(
    fs.readFileSync(
      path.resolve(__dirname, '..', '..', 'schema', 'settings', 'plugin.json'),
      'utf-8'
    )
  );
  let raw = '{}';
  const connector: Connector = {
    fetch: async (id: string) =>
      id === PLUGIN_ID
        ? { id, schema, raw, data: { composite: {}, user: {} }, version: MODULE_VERSION }
        : undefined,
    list: async () => ({ ids: [], values: [] }),
    save: async (_: string, value: string) => {
      raw = value;
    },
    remove: async () => undefined
  };
  return new SettingRegistry({ connector });
}

const tick = () => new Promise(resolve => setTimeout(resolve, 20));

/** A record whose allocated figures differ from its RSS and traced ones ('auto' shows them). */
function record(seq: number, overrides: Record<string, unknown> = {}): any {
  return sampleRecord({
    seq,
    execution_count: seq,
    label: `cell ${seq}`,
    traced_delta: seq * 3_000_000,
    traced_peak: seq * 4_000_000,
    alloc_before: 100_000_000,
    alloc_after: 100_000_000 + seq * 1_000_000,
    alloc_delta: seq * 1_000_000,
    alloc_peak: seq * 2_000_000,
    alloc_method: 'mallinfo2',
    duration_s: 0.25,
    ...overrides
  });
}

describe('memtrack.widget() view', () => {
  let model: MemtrackWidgetModel;
  let view: MemtrackWidgetView;

  const makeView = (records: any[]) => {
    // The widget manager lives in JupyterLab's ipywidgets extension; the model only keeps a
    // reference to it (used for child views, which this widget has none of).
    model = new MemtrackWidgetModel(
      { records },
      { model_id: 'memtrack-test', widget_manager: {} as any }
    );
    view = new MemtrackWidgetView({ model });
    view.render();
  };
  const rows = () => Array.from(view.el.querySelectorAll('tbody tr')) as HTMLTableRowElement[];
  const texts = (row: HTMLTableRowElement) =>
    Array.from(row.querySelectorAll('td')).map(td => td.textContent);

  beforeEach(() => {
    (plot.renderPlot as jest.Mock).mockClear();
    (plot.purgePlot as jest.Mock).mockClear();
  });

  afterEach(() => {
    view?.remove();
    setWidgetSettings(DEFAULT_SETTINGS);
  });

  it('registers under the package name and version', () => {
    const pkg = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf-8')
    );
    expect(MODULE_NAME).toBe(pkg.name);
    expect(MODULE_VERSION).toBe(pkg.version);
    const defaults = new MemtrackWidgetModel({}, { model_id: 'm', widget_manager: {} as any })
      .attributes;
    expect(defaults._view_name).toBe('MemtrackWidgetView');
    expect(defaults._model_module_version).toBe(pkg.version);
  });

  it('renders a table row per record: count, label, delta, peak, duration', () => {
    makeView([record(1), record(2, { label: null, execution_count: null })]);
    expect(view.el.classList).toContain('jp-Memtrack-widget');
    expect(rows()).toHaveLength(2);
    expect(texts(rows()[0])).toEqual(['1', 'cell 1', '+1.0 MB', '2.0 MB', '250 ms']);
    expect(texts(rows()[1])).toEqual(['', '', '+2.0 MB', '4.0 MB', '250 ms']);
    expect(view.el.querySelector('.jp-Memtrack-widgetSummary')!.textContent).toBe(
      'memtrack: 2 tracked cells'
    );
  });

  it('shows the metric of the settings, a dash where a record lacks it, and release rows', () => {
    const light = record(2, { mode: 'light', traced_delta: null, traced_peak: null });
    const release = {
      ...record(3, { execution_count: null, label: 'release: delete Out[1], _1 and _' }),
      mode: 'release',
      rss_peak: null,
      traced_delta: null,
      traced_peak: null,
      alloc_delta: -40_000_000,
      alloc_peak: null,
      release: { action: 'delete Out[1], _1 and _', expected_bytes: 40_000_000, freed_bytes: null }
    };
    setWidgetSettings({ ...DEFAULT_SETTINGS, metric: 'traced' });
    makeView([record(1), light, release]);
    expect(texts(rows()[0]).slice(2, 4)).toEqual(['+3.0 MB', '4.0 MB']);
    expect(texts(rows()[1]).slice(2, 4)).toEqual(['—', '—']);
    expect(rows()[1].cells[2].title).toBe('traced only for %%memtrack cells');
    expect(view.el.querySelector('th:nth-child(3)')!.getAttribute('title')).toContain('traced');
    setWidgetSettings({ ...DEFAULT_SETTINGS, metric: 'allocated' });
    expect(texts(rows()[2])).toEqual([
      '',
      'release: delete Out[1], _1 and _',
      '-40.0 MB',
      '—',
      '250 ms'
    ]);
    expect(rows()[2].classList).toContain('jp-Memtrack-widgetRelease');
    expect(rows()[2].title).toBe('Release: delete Out[1], _1 and _; expected to free 40.0 MB');
  });

  it('keeps a malicious label as text', () => {
    const label = '<img src=x onerror=alert(1)>';
    makeView([record(1, { label, error: '<b>Boom</b>' })]);
    expect(view.el.querySelector('img')).toBeNull();
    expect(view.el.querySelector('b')).toBeNull();
    expect(texts(rows()[0])[1]).toBe(label);
    expect(rows()[0].title).toBe('The cell raised <b>Boom</b>');
  });

  it('shows the newest cells only, and adds a row when the kernel sends a record', () => {
    const many = Array.from({ length: TABLE_ROWS + 2 }, (_, i) => record(i + 1));
    makeView(many.slice(0, 2));
    expect(rows()).toHaveLength(2);
    model.set('records', many.slice(0, 3));
    expect(rows()).toHaveLength(3);
    expect(texts(rows()[2])[1]).toBe('cell 3');
    model.set('records', many);
    expect(rows()).toHaveLength(TABLE_ROWS);
    expect(texts(rows()[0])[1]).toBe('cell 3');
    expect(texts(rows()[TABLE_ROWS - 1])[1]).toBe(`cell ${TABLE_ROWS + 2}`);
    expect(view.el.querySelector('.jp-Memtrack-widgetSummary')!.textContent).toBe(
      `memtrack: last ${TABLE_ROWS} of ${TABLE_ROWS + 2} tracked cells`
    );
  });

  it('appends each record the kernel sends, in order with state updates', async () => {
    // Messages as the kernel's comm delivers them (ipywidgets' update and custom methods).
    const kernelSends = (data: any) =>
      model._handle_comm_msg({ content: { comm_id: 'memtrack-test', data }, buffers: [] } as any);
    makeView([record(1), record(2)]);
    model.set('max_records', 3);
    void kernelSends({ method: 'custom', content: { type: 'append', record: record(3) } });
    await model.state_change;
    expect(rows().map(row => texts(row)[1])).toEqual(['cell 1', 'cell 2', 'cell 3']);
    // At most max_records are kept.
    void kernelSends({ method: 'custom', content: { type: 'append', record: record(4) } });
    await model.state_change;
    expect(model.history.map(r => r.seq)).toEqual([2, 3, 4]);
    // A reset (full state) followed at once by an append: the append is not lost.
    void kernelSends({ method: 'update', state: { records: [] }, buffer_paths: [] });
    void kernelSends({ method: 'custom', content: { type: 'append', record: record(5) } });
    await model.state_change;
    expect(rows().map(row => texts(row)[1])).toEqual(['cell 5']);
    // Not a record: ignored.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    void kernelSends({ method: 'custom', content: { type: 'append', record: { seq: 0 } } });
    void kernelSends({ method: 'custom', content: { type: 'other' } });
    await model.state_change;
    expect(model.history.map(r => r.seq)).toEqual([5]);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });

  it('skips malformed records instead of drawing them half', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    makeView([record(1), { seq: 'two' }, record(3)]);
    expect(rows().map(row => texts(row)[1])).toEqual(['cell 1', 'cell 3']);
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });

  it('says what to do while there is nothing tracked', () => {
    makeView([]);
    expect(rows()).toHaveLength(0);
    expect(view.el.querySelector('.jp-Memtrack-widgetSummary')!.textContent).toContain(
      '%memtrack on'
    );
    expect((view.el.querySelector('.jp-Memtrack-widgetTable') as HTMLElement).hidden).toBe(true);
  });

  it('plots once shown, again on each change, and frees the plot when removed', async () => {
    makeView([record(1), record(2)]);
    await tick();
    // Not in the page yet: plotly would size the plot from a detached node.
    expect(plot.renderPlot).not.toHaveBeenCalled();
    Widget.attach(view.luminoWidget, document.body);
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
    const [node, series] = (plot.renderPlot as jest.Mock).mock.calls[0];
    expect(node.classList).toContain('jp-Memtrack-widgetPlot');
    expect(view.el.contains(node)).toBe(true);
    expect(series.x).toEqual([1, 2]);
    // 'auto' with allocated figures: the allocated level.
    expect(series.cumulative).toEqual([record(1).alloc_after, record(2).alloc_after]);

    model.set('records', [record(1), record(2), record(3)]);
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(2);
    expect((plot.renderPlot as jest.Mock).mock.calls[1][1].x).toEqual([1, 2, 3]);

    // A theme change draws again, with the new colours.
    redrawWidgetPlots();
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(3);

    Widget.detach(view.luminoWidget);
    view.remove();
    expect(plot.purgePlot).toHaveBeenCalledWith(node);
    redrawWidgetPlots();
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(3);
  });

  it('shows bytes in the units of the settings: binary gives MiB', async () => {
    setWidgetSettings({ ...DEFAULT_SETTINGS, byteUnits: 'binary', metric: 'traced' });
    makeView([record(1, { traced_delta: 3 * MiB, traced_peak: 5 * MiB })]);
    expect(texts(rows()[0]).slice(2, 4)).toEqual(['+3.0 MiB', '5.0 MiB']);
    Widget.attach(view.luminoWidget, document.body);
    await tick();
    const [, series, options] = (plot.renderPlot as jest.Mock).mock.calls[0];
    expect(options.units).toBe('binary');
    expect(options.metricTitle).toBe('traced (sum over %%memtrack cells)');
    expect(series.cumulative).toEqual([3 * MiB]);
    Widget.detach(view.luminoWidget);
  });

  it("redraws every view when the user's settings change", async () => {
    const registry = settingRegistry();
    const settings = new SettingsState();
    // As the widget plugin wires it (src/index.ts).
    settings.changed.connect((_, value) => setWidgetSettings(value));
    await followSettingRegistry(registry, settings);
    const many = Array.from({ length: 30 }, (_, i) =>
      record(i + 1, {
        traced_delta: MiB,
        traced_peak: 2 * MiB,
        alloc_delta: MiB,
        alloc_peak: 2 * MiB
      })
    );
    makeView(many);
    // A second output showing the same widget.
    const other = new MemtrackWidgetView({ model });
    other.render();
    const otherDelta = () => other.el.querySelector('tbody td:nth-child(3)')!.textContent;
    Widget.attach(view.luminoWidget, document.body);
    await tick();
    expect(texts(rows()[0]).slice(2, 4)).toEqual(['+1.0 MB', '2.1 MB']);
    expect(otherDelta()).toBe('+1.0 MB');
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
    expect((plot.renderPlot as jest.Mock).mock.calls[0][1].x).toHaveLength(30);

    await registry.set(PLUGIN_ID, 'byteUnits', 'binary');
    await tick();
    expect(texts(rows()[0]).slice(2, 4)).toEqual(['+1.0 MiB', '2.0 MiB']);
    expect(otherDelta()).toBe('+1.0 MiB');
    expect(plot.renderPlot).toHaveBeenCalledTimes(2);
    expect((plot.renderPlot as jest.Mock).mock.calls[1][2].units).toBe('binary');

    await registry.set(PLUGIN_ID, 'metric', 'traced');
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(3);
    const [, traced, options] = (plot.renderPlot as jest.Mock).mock.calls[2];
    expect(options.metricTitle).toBe('traced (sum over %%memtrack cells)');
    expect(traced.cumulative.slice(0, 3)).toEqual([MiB, 2 * MiB, 3 * MiB]);

    await registry.set(PLUGIN_ID, 'maxPoints', 10);
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(4);
    const decimated = (plot.renderPlot as jest.Mock).mock.calls[3][1].x;
    expect(decimated.length).toBeLessThan(30);
    const entries = many.map(r => ({ kind: 'record' as const, record: r }));
    expect(decimated).toEqual(
      buildSeries(entries, { metric: 'traced', maxPoints: 10, units: 'binary' }).x
    );

    // A setting the widget does not show draws nothing again.
    await registry.set(PLUGIN_ID, 'badges', false);
    await tick();
    expect(plot.renderPlot).toHaveBeenCalledTimes(4);
    Widget.detach(view.luminoWidget);
    other.remove();
  });
});
