// plotly cannot draw inside jsdom: this is the one seam replaced by a fake.
jest.mock('../plot', () => ({
  renderPlot: jest.fn(() => Promise.resolve()),
  resizePlot: jest.fn(),
  purgePlot: jest.fn()
}));

import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { CommandIDs } from '../commands';
import { MemtrackModel } from '../model';
import * as plot from '../plot';
import { SettingsState } from '../settings';
import { MemtrackSidebar } from '../sidebar';
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

  const rows = () => Array.from(sidebar.node.querySelectorAll('tbody tr')) as HTMLElement[];
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
    model.appendRecord('nb', sampleRecord({ seq: 2, execution_count: 2, traced_delta: -1000 }));
    model.appendRecord('other', sampleRecord({ seq: 1 }));
    await frame();
    expect(rows()).toHaveLength(2);
    expect(rows()[0].textContent).toContain('+50.0 MB');
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

  it('switches the plotted metric and saves the choice', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await frame();
    expect(lastPlot()[1].metric).toBe('rss');
    const select = sidebar.node.querySelector('select.jp-Memtrack-metric') as HTMLSelectElement;
    select.value = 'traced';
    select.dispatchEvent(new Event('change'));
    await frame();
    expect(metrics).toEqual(['traced']);
    expect(lastPlot()[1].metric).toBe('traced');
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
