// plotly cannot draw inside jsdom: this is the one seam replaced by a fake.
jest.mock('../plot', () => ({
  renderPlot: jest.fn(() => Promise.resolve()),
  resizePlot: jest.fn(),
  purgePlot: jest.fn()
}));

import { nullTranslator } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { CommandIDs } from '../commands';
import { MemtrackModel } from '../model';
import * as plot from '../plot';
import { SettingsState } from '../settings';
import { MemtrackSidebar } from '../sidebar';
import { SidebarToolbar } from '../sidebarToolbar';
import { sampleRecord } from './fixtures';

const frame = () => new Promise(resolve => setTimeout(resolve, 50));

describe('MemtrackSidebar', () => {
  let model: MemtrackModel;
  let settings: SettingsState;
  let commands: CommandRegistry;
  let sidebar: MemtrackSidebar;
  let revealed: (string | null)[];
  let metrics: string[];

  beforeEach(() => {
    (plot.renderPlot as jest.Mock).mockClear();
    model = new MemtrackModel();
    settings = new SettingsState();
    commands = new CommandRegistry();
    commands.addCommand(CommandIDs.clear, {
      label: 'Clear Memory History',
      execute: () => model.clear('nb')
    });
    revealed = [];
    metrics = [];
    sidebar = new MemtrackSidebar({
      model,
      settings,
      commands,
      setMetric: metric => {
        metrics.push(metric);
        settings.update({ metric });
      },
      revealCell: (_key, record) => {
        revealed.push(record.cell_id);
        return true;
      }
    });
    Widget.attach(sidebar, document.body);
  });

  afterEach(() => {
    sidebar.dispose();
  });

  const rows = () => Array.from(sidebar.node.querySelectorAll('tbody tr')) as HTMLTableRowElement[];
  const lastPlot = () => (plot.renderPlot as jest.Mock).mock.calls.at(-1);

  it('asks to open a notebook when none is current', async () => {
    await frame();
    expect(sidebar.node.querySelector('.jp-Memtrack-empty')?.textContent).toMatch(
      /Open a notebook/
    );
  });

  it('renders one row and one plot point per record of the current notebook', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, execution_count: 1 }));
    model.appendRecord('nb', sampleRecord({ seq: 2, execution_count: 2, rss_after: 100_000_000 }));
    model.appendRecord('other', sampleRecord({ seq: 1 }));
    await frame();
    expect(rows()).toHaveLength(2);
    // 'auto' without allocated figures: the RSS change (157.3 MB - 104.9 MB).
    expect(rows()[0].textContent).toContain('+52.4 MB');
    expect(rows()[1].dataset.size).toBe('release');
    expect(lastPlot()[1].x).toEqual([1, 2]);
    expect(sidebar.node.querySelector('caption')?.textContent).toBe('2 tracked executions');
  });

  it('coalesces a burst of appends into one draw', async () => {
    model.setCurrent('nb');
    await frame();
    (plot.renderPlot as jest.Mock).mockClear();
    for (let seq = 1; seq <= 20; seq++) {
      model.appendRecord('nb', sampleRecord({ seq }));
    }
    await frame();
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
    expect(rows()).toHaveLength(20);
  });

  it('shows an appended row at once and redraws the plot shortly after', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await frame();
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
    (plot.renderPlot as jest.Mock).mockClear();
    model.appendRecord('nb', sampleRecord({ seq: 2 }));
    await frame();
    expect(rows()).toHaveLength(2);
    expect(sidebar.node.dataset.renderKind).toBe('append');
    expect(plot.renderPlot).not.toHaveBeenCalled();
    model.appendRecord('nb', sampleRecord({ seq: 3 }));
    await frame();
    await new Promise(resolve => setTimeout(resolve, 400));
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
    expect(lastPlot()[1].records).toHaveLength(3);
    expect(sidebar.node.dataset.plotCount).toBe('3');
  });

  it('adds the rows of appended batches without redrawing the table', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'c1' }));
    await frame();
    const first = rows()[0];
    // Two batches and a single record in one frame: one incremental draw.
    model.appendRecords(
      'nb',
      [2, 3].map(seq => sampleRecord({ seq, cell_id: `c${seq}` }))
    );
    model.appendRecords(
      'nb',
      [4, 5, 6].map(seq => sampleRecord({ seq, cell_id: `c${seq}` }))
    );
    model.appendRecord('nb', sampleRecord({ seq: 7, cell_id: 'c7' }));
    await frame();
    expect(sidebar.node.dataset.renderKind).toBe('append');
    expect(rows().map(row => row.dataset.seq)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(rows()[0]).toBe(first);
  });

  it('keeps user-controlled text inert', async () => {
    model.setCurrent('nb');
    model.appendRecord(
      'nb',
      sampleRecord({
        seq: 1,
        label: '<img src=x onerror="window.pwned=1">',
        leaks: [{ name: '<b>cache</b>', kind: 'growing-variable', reason: '<script>x</script>' }]
      })
    );
    await frame();
    expect(sidebar.node.querySelector('tbody img, .jp-Memtrack-leaks b, script')).toBeNull();
    expect(sidebar.node.querySelector('tbody td')?.textContent).toContain('<img src=x');
    expect(sidebar.node.querySelector('.jp-Memtrack-leakName')?.textContent).toBe('<b>cache</b>');
  });

  it('reveals the cell of a row on click and on Enter', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'cell-1' }));
    await frame();
    const row = rows()[0];
    row.click();
    row.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(revealed).toEqual(['cell-1', 'cell-1']);
    expect(row.tabIndex).toBe(0);
  });

  it('reveals the cell of a clicked plot point', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'a' }));
    model.appendRecord('nb', sampleRecord({ seq: 2, cell_id: 'b' }));
    await frame();
    lastPlot()[2].onPointClick(1);
    expect(revealed).toEqual(['b']);
  });

  it('does no work while hidden and catches up when shown', async () => {
    sidebar.hide();
    await frame();
    (plot.renderPlot as jest.Mock).mockClear();
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await frame();
    expect(plot.renderPlot).not.toHaveBeenCalled();
    sidebar.show();
    await frame();
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
  });

  it('shows the connection status', async () => {
    model.setCurrent('nb');
    model.setStatus('nb', 'not-loaded', 'run %load_ext memtrack');
    await frame();
    const status = sidebar.node.querySelector('.jp-Memtrack-status') as HTMLElement;
    expect(status.textContent).toBe('Kernel extension not loaded');
    expect(status.title).toBe('run %load_ext memtrack');
  });

  it('switches the metric of the table and the plot together, and saves the choice', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    model.appendRecord(
      'nb',
      sampleRecord({ seq: 2, mode: 'light', traced_delta: null, traced_peak: null })
    );
    await frame();
    const select = sidebar.node.querySelector('select.jp-Memtrack-metric') as HTMLSelectElement;
    // A real control in the toolbar, named for assistive technology.
    expect(select.closest('[role="toolbar"]')).not.toBeNull();
    expect(select.getAttribute('aria-label')).toBe('Memory metric of the table, plot and badges');
    expect(Array.from(select.options).map(o => [o.value, o.textContent])).toEqual([
      ['auto', 'Auto (RSS)'],
      ['rss', 'RSS'],
      ['allocated', 'Allocated'],
      ['traced', 'Traced'],
      ['gpu', 'GPU']
    ]);
    expect(select.value).toBe('auto');
    expect(lastPlot()[1].metric).toBe('rss');
    expect(lastPlot()[2].metricTitle).toBe('RSS');
    const deltas = () => rows().map(row => row.cells[1].textContent);
    const deltaHeader = () => sidebar.node.querySelector('th:nth-child(2)')!.getAttribute('title');
    expect(deltas()).toEqual(['+52.4 MB', '+52.4 MB']);
    expect(deltaHeader()).toMatch(/^Delta: change of the kernel's RSS/);

    select.value = 'traced';
    select.dispatchEvent(new Event('change'));
    await frame();
    expect(metrics).toEqual(['traced']);
    expect(lastPlot()[1].metric).toBe('traced');
    expect(lastPlot()[2].metricTitle).toBe('traced (sum over %%memtrack cells)');
    // The light cell has no traced figure: a dash that says why, never its RSS change.
    expect(deltas()).toEqual(['+50.0 MB', '—']);
    expect(rows()[1].cells[1].title).toBe('traced only for %%memtrack cells');
    expect(rows()[0].cells[1].title).toBe('traced delta: +50,000,000 bytes');
    expect(deltaHeader()).toMatch(/^Delta: change of the memory tracemalloc traced/);
    expect(rows().map(row => row.dataset.metric)).toEqual(['traced', 'traced']);
    // The Auto option still names what 'auto' stands for here.
    expect(select.options[0].textContent).toBe('Auto (RSS)');
    expect(select.title).toMatch(/^Traced: /);
  });

  it("resolves 'auto' to allocated once a record has it, and says why one lacks it", async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, alloc_method: 'too-slow' }));
    await frame();
    const select = sidebar.node.querySelector('select.jp-Memtrack-metric') as HTMLSelectElement;
    expect(select.options[0].textContent).toBe('Auto (RSS)');
    model.appendRecord(
      'nb',
      sampleRecord({
        seq: 2,
        alloc_before: 1_000_000,
        alloc_after: 31_000_000,
        alloc_delta: 30_000_000,
        alloc_method: 'mallinfo2'
      })
    );
    await frame();
    await new Promise(resolve => setTimeout(resolve, 400));
    expect(select.value).toBe('auto');
    expect(select.options[0].textContent).toBe('Auto (allocated)');
    expect(select.title).toMatch(/^Allocated: /);
    expect(lastPlot()[1].metric).toBe('allocated');
    expect(lastPlot()[1].cumulative).toEqual([null, 31_000_000]);
    expect(rows().map(row => row.cells[1].textContent)).toEqual(['—', '+30.0 MB']);
    expect(rows()[0].cells[1].title).toBe(
      'mallinfo2 took too long in this kernel; allocated memory is not read in this session'
    );
    // No allocated peak is measured yet: a dash, not the RSS or traced peak.
    expect(rows()[1].cells[2].textContent).toBe('—');
    expect(sidebar.node.querySelector('th:nth-child(2)')!.getAttribute('title')).toBe(
      'Delta: change of the allocated memory (malloc heap in use + mmapped chunks; pymalloc arenas not counted) over the cell'
    );
  });

  it('shows a release as its own row and point, and no longer highlights what it freed', async () => {
    model.setCurrent('nb');
    const out = { name: 'Out[1]', kind: 'output-history', size: 500_000_000 };
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'c1', leaks: [out] }));
    await frame();
    expect(rows()[0].classList.contains('jp-Memtrack-leaking')).toBe(true);
    model.appendRecord('nb', {
      ...sampleRecord({ seq: 2 }),
      execution_count: null,
      cell_id: null,
      label: 'release: delete Out[1], _1 and _',
      mode: 'release',
      rss_before: 657_286_400,
      rss_after: 157_286_400,
      rss_peak: null,
      traced_delta: null,
      traced_peak: null,
      leaks: [],
      release: {
        action: 'delete Out[1], _1 and _',
        expected_bytes: 500_000_000,
        freed_bytes: 496_000_000,
        freed_measure: 'rss'
      }
    });
    await frame();
    await new Promise(resolve => setTimeout(resolve, 400));
    const release = rows()[1];
    expect(release.classList.contains('jp-Memtrack-releaseRow')).toBe(true);
    expect(release.cells[0].textContent).toBe('release: delete Out[1], _1 and _');
    expect(release.cells[1].textContent).toBe('-500 MB');
    expect(release.cells[2].textContent).toBe('—');
    expect(release.title).toContain(
      'Release: delete Out[1], _1 and _; freed 496 MB (RSS), expected 500 MB'
    );
    // The suspect it released is gone from the latest record: nothing is highlighted.
    expect(rows().some(row => row.classList.contains('jp-Memtrack-leaking'))).toBe(false);
    expect((sidebar.node.querySelector('.jp-Memtrack-leaks') as HTMLElement).hidden).toBe(true);
    const series = lastPlot()[1];
    expect(series.releases).toEqual([1]);
    expect(series.cumulative).toEqual([157_286_400, 157_286_400]);
    expect(series.leaking).toEqual([false, false]);
    expect(lastPlot()[2].releaseTitle).toBe('release');
    // A release ran in no cell: activating its row or point goes nowhere.
    release.click();
    lastPlot()[2].onPointClick(1);
    expect(revealed).toEqual([]);
  });

  it('runs toolbar commands and hides buttons of missing commands', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await frame();
    const clear = sidebar.node.querySelector(
      `button[data-command="${CommandIDs.clear}"]`
    ) as HTMLButtonElement;
    expect(clear.textContent).toBe('Clear');
    expect(clear.getAttribute('aria-label')).toBe('Clear Memory History');
    clear.click();
    await frame();
    expect(rows()).toHaveLength(0);
    const exportButton = sidebar.node.querySelector(
      `button[data-command="${CommandIDs.exportJson}"]`
    ) as HTMLButtonElement;
    expect(exportButton.hidden).toBe(true);
  });

  it('lists leak suspects of the latest record', async () => {
    model.setCurrent('nb');
    model.appendRecord(
      'nb',
      sampleRecord({
        seq: 1,
        leaks: [
          {
            name: 'cache',
            kind: 'growing-variable',
            size: 30_000_000,
            growth: 10_000_000,
            reason: 'cache grew in 3 runs',
            history: [10_000_000, 20_000_000, 30_000_000]
          }
        ]
      })
    );
    await frame();
    const leak = sidebar.node.querySelector('.jp-Memtrack-leak') as HTMLElement;
    expect(leak.textContent).toContain('cache');
    expect(leak.textContent).toContain('growing-variable · 30.0 MB · +10.0 MB growth');
    expect(leak.textContent).toContain('10.0 MB → 20.0 MB → 30.0 MB');
    expect(rows()[0].classList.contains('jp-Memtrack-leaking')).toBe(true);
    model.appendRecord('nb', sampleRecord({ seq: 2 }));
    await frame();
    expect((sidebar.node.querySelector('.jp-Memtrack-leaks') as HTMLElement).hidden).toBe(true);
  });
});

describe('SidebarToolbar metric selector', () => {
  it('offers each choice, names what Auto stands for, and reports a change', () => {
    const chosen: string[] = [];
    const toolbar = new SidebarToolbar(
      nullTranslator.load('jupyterlab-memtrack'),
      new CommandRegistry(),
      metric => chosen.push(metric)
    );
    const select = toolbar.metricSelect;
    expect(select.tagName).toBe('SELECT');
    expect(toolbar.node.firstElementChild).toBe(select);
    expect(select.getAttribute('aria-label')).toBe('Memory metric of the table, plot and badges');
    expect(Array.from(select.options).map(option => option.value)).toEqual([
      'auto',
      'rss',
      'allocated',
      'traced',
      'gpu'
    ]);
    toolbar.showMetric('auto', 'allocated');
    expect(select.value).toBe('auto');
    expect(select.options[0].textContent).toBe('Auto (allocated)');
    expect(select.title).toMatch(/^Allocated: what the allocators hold/);
    expect(select.dataset.metric).toBe('allocated');
    toolbar.showMetric('rss', 'allocated');
    expect(select.value).toBe('rss');
    expect(select.options[0].textContent).toBe('Auto (allocated)');
    expect(select.title).toMatch(/^RSS: /);
    select.value = 'traced';
    select.dispatchEvent(new Event('change'));
    expect(chosen).toEqual(['traced']);
  });
});
