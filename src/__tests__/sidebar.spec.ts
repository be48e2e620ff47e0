// plotly cannot draw inside jsdom: this is the one seam replaced by a fake.
jest.mock('../plot', () => ({
  renderPlot: jest.fn(() => Promise.resolve()),
  resizePlot: jest.fn(),
  purgePlot: jest.fn()
}));

import { Widget } from '@lumino/widgets';

import { MemtrackModel } from '../model';
import * as plot from '../plot';
import { MemtrackSidebar } from '../sidebar';
import { sampleRecord } from './fixtures';

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('MemtrackSidebar', () => {
  let model: MemtrackModel;
  let sidebar: MemtrackSidebar;
  let revealed: (string | null)[];

  beforeEach(() => {
    (plot.renderPlot as jest.Mock).mockClear();
    model = new MemtrackModel();
    revealed = [];
    sidebar = new MemtrackSidebar({
      model,
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

  it('asks to open a notebook when none is current', async () => {
    await flush();
    expect(sidebar.node.querySelector('.jp-Memtrack-empty')?.textContent).toMatch(
      /Open a notebook/
    );
  });

  it('renders one row and one plot point per record of the current notebook', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, execution_count: 1 }));
    model.appendRecord('nb', sampleRecord({ seq: 2, execution_count: 2, traced_delta: -1000 }));
    model.appendRecord('other', sampleRecord({ seq: 1 }));
    await flush();
    const rows = sidebar.node.querySelectorAll('tbody tr');
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain('+50.0 MB');
    expect((rows[1] as HTMLElement).dataset.sign).toBe('release');
    const lastCall = (plot.renderPlot as jest.Mock).mock.calls.at(-1);
    expect(lastCall[1].x).toEqual([1, 2]);
  });

  it('keeps user-controlled text inert', async () => {
    model.setCurrent('nb');
    model.appendRecord(
      'nb',
      sampleRecord({ seq: 1, label: '<img src=x onerror="window.pwned=1">' })
    );
    await flush();
    expect(sidebar.node.querySelector('tbody img')).toBeNull();
    expect(sidebar.node.querySelector('tbody td')?.textContent).toContain('<img src=x');
  });

  it('reveals the cell of a row on click and on Enter', async () => {
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'cell-1' }));
    await flush();
    const row = sidebar.node.querySelector('tbody tr') as HTMLElement;
    row.click();
    row.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(revealed).toEqual(['cell-1', 'cell-1']);
    expect(row.tabIndex).toBe(0);
  });

  it('does no work while hidden and catches up when shown', async () => {
    sidebar.hide();
    model.setCurrent('nb');
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await flush();
    expect(plot.renderPlot).not.toHaveBeenCalled();
    sidebar.show();
    await flush();
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
  });

  it('shows the connection status', async () => {
    model.setCurrent('nb');
    model.setStatus('nb', 'not-loaded', 'run %load_ext memtrack');
    await flush();
    const status = sidebar.node.querySelector('.jp-Memtrack-status') as HTMLElement;
    expect(status.textContent).toBe('Kernel extension not loaded');
    expect(status.title).toBe('run %load_ext memtrack');
  });
});
