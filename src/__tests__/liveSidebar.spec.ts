// plotly cannot draw inside jsdom: this is the one seam replaced by a fake.
jest.mock('../plot', () => ({
  renderPlot: jest.fn(() => Promise.resolve()),
  resizePlot: jest.fn(),
  purgePlot: jest.fn()
}));

import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { NATIVE_BUSY_MS } from '../liveModel';
import { MemtrackModel } from '../model';
import * as plot from '../plot';
import { ILiveMessage } from '../protocol';
import { SettingsState } from '../settings';
import { MemtrackSidebar } from '../sidebar';
import { sampleRecord } from './fixtures';

const frame = () => new Promise(resolve => setTimeout(resolve, 50));
const STARTED = '2026-12-01T12:03:01.250000+00:00';

function live(rss: number, elapsed: number, overrides: Partial<ILiveMessage> = {}): ILiveMessage {
  return {
    state: 'running',
    execution_count: 12,
    cell_id: 'c12',
    started_at: STARTED,
    elapsed_s: elapsed,
    samples: [{ t: elapsed, rss }],
    rss,
    peak: rss,
    rss_before: 300_000_000,
    limit: { bytes: 2_000_000_000, source: 'cgroup-v2', usage: rss, headroom: 2_000_000_000 - rss },
    ...overrides
  };
}

describe('the sidebar while a cell runs', () => {
  let model: MemtrackModel;
  let settings: SettingsState;
  let sidebar: MemtrackSidebar;
  let revealed: (string | null)[];

  beforeEach(() => {
    (plot.renderPlot as jest.Mock).mockClear();
    model = new MemtrackModel();
    settings = new SettingsState();
    revealed = [];
    sidebar = new MemtrackSidebar({
      model,
      settings,
      commands: new CommandRegistry(),
      setMetric: metric => settings.update({ metric }),
      revealCell: (_key, record) => {
        revealed.push(record.cell_id);
        return true;
      }
    });
    Widget.attach(sidebar, document.body);
    model.setCurrent('nb');
  });

  afterEach(() => {
    sidebar.dispose();
    model.live.dispose();
  });

  const liveLine = () => sidebar.node.querySelector('.jp-Memtrack-live') as HTMLElement;
  const lastPlot = () => (plot.renderPlot as jest.Mock).mock.calls.at(-1);

  it('shows the running cell with its RSS, peak and time, and hides it when it ends', async () => {
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'c12', label: '<b>grow</b>' }));
    await frame();
    expect(liveLine().hidden).toBe(true);
    model.live.update('nb', live(500_000_000, 1.5));
    await frame();
    expect(liveLine().hidden).toBe(false);
    // The label of the cell's last run, as text.
    expect(liveLine().textContent).toContain('[12] <b>grow</b> running for 1.50 s');
    expect(liveLine().querySelector('b')).toBeNull();
    expect(liveLine().textContent).toContain('RSS 500 MB');
    expect(liveLine().textContent).toContain('+200 MB');
    expect(liveLine().textContent).toContain('1.5 GB left of 2.0 GB');
    model.live.update('nb', live(700_000_000, 1.7));
    await frame();
    expect(liveLine().textContent).toContain('RSS 700 MB');
    expect(liveLine().dataset.rss).toBe('700000000');
    model.live.update('nb', live(700_000_000, 1.9, { state: 'done' }));
    await frame();
    expect(liveLine().hidden).toBe(true);
  });

  it('is reachable with the keyboard and goes to the running cell', async () => {
    model.live.update('nb', live(500_000_000, 1));
    await frame();
    expect(liveLine().tabIndex).toBe(0);
    expect(liveLine().getAttribute('aria-label')).toContain('RSS 500 MB');
    liveLine().dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(revealed).toEqual(['c12']);
  });

  it('says since when the cell is busy in native code, and resumes with new samples', async () => {
    jest.useFakeTimers({ doNotFake: ['requestAnimationFrame', 'performance'] });
    try {
      model.live.update('nb', live(500_000_000, 1), Date.parse('2026-12-01T12:03:02Z'));
      jest.advanceTimersByTime(NATIVE_BUSY_MS + 10);
      jest.useRealTimers();
      await frame();
      expect(liveLine().dataset.state).toBe('native');
      expect(liveLine().textContent).toMatch(/\[12\] busy in native code since \d\d:\d\d:\d\d/);
      model.live.update('nb', live(900_000_000, 6));
      await frame();
      expect(liveLine().dataset.state).toBe('running');
      expect(liveLine().textContent).toContain('RSS 900 MB');
    } finally {
      jest.useRealTimers();
    }
  });

  it('grows a point past the last record on the plot, redrawn at most every 300 ms', async () => {
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await frame();
    (plot.renderPlot as jest.Mock).mockClear();
    for (let i = 1; i <= 5; i++) {
      model.live.update('nb', live(400_000_000 + i * 10_000_000, i * 0.05));
    }
    await frame();
    await new Promise(resolve => setTimeout(resolve, 400));
    expect(plot.renderPlot).toHaveBeenCalledTimes(1);
    const options = lastPlot()[2];
    expect(options.live).toMatchObject({ rss: 450_000_000, delta: 150_000_000 });
    expect(options.limit).toEqual({ bytes: 2_000_000_000, label: 'limit 2.0 GB (cgroup-v2)' });
    // The cell's end takes the point away.
    model.live.update('nb', live(450_000_000, 0.3, { state: 'done' }));
    await new Promise(resolve => setTimeout(resolve, 400));
    expect(lastPlot()[2].live).toBeNull();
  });

  it('draws no limit line on the traced plot, nor for an unknown limit', async () => {
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    model.live.setLimit('nb', { bytes: null, source: 'none' });
    await frame();
    expect(lastPlot()[2].limit).toBeNull();
    model.live.setLimit('nb', { bytes: 4_000_000_000, source: 'meminfo' });
    settings.update({ metric: 'traced' });
    await frame();
    expect(lastPlot()[2].limit).toBeNull();
  });

  it('shows a death as its own row, its separator and the header notice', async () => {
    model.appendRecord(
      'nb',
      sampleRecord({ seq: 1, cell_id: 'a', label: null, execution_count: 11 })
    );
    model.markRestart('nb');
    model.markDeath('nb');
    model.appendRecord(
      'nb',
      sampleRecord({
        seq: 1,
        execution_count: 12,
        label: null,
        rss_after: null,
        error: 'KernelDied',
        died: {
          oom_killed: true,
          last_rss: 1_100_000_000,
          peak: 1_100_000_000,
          memory_limit: 2_000_000_000,
          last_sample_at: null
        }
      })
    );
    await frame();
    const rows = Array.from(sidebar.node.querySelectorAll('tbody tr')) as HTMLElement[];
    expect(rows).toHaveLength(2);
    expect(rows[1].classList.contains('jp-Memtrack-died')).toBe(true);
    expect(rows[1].textContent).toBe('kernel died during [12] at 1.1 GB of 2.0 GB: out of memory');
    const notice = sidebar.node.querySelector('.jp-Memtrack-kernelEnd') as HTMLElement;
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toMatch(/^Kernel died during \[12\] \(restarted \d\d:\d\d:\d\d\)$/);
    expect(sidebar.node.querySelector('.jp-Memtrack-status')?.textContent).toBe('No kernel');
    const series = lastPlot()[1];
    expect(series.separators).toEqual([{ x: 1.5, kind: 'died', cell: '[12]' }]);
    expect(series.deaths).toEqual([1]);
    expect(series.markerY[1]).toBe(1_100_000_000);
  });

  it('says "killed" when no OOM kill was counted, and a plain restart as a restart', async () => {
    model.appendRecord('nb', sampleRecord({ seq: 1, label: null }));
    model.markRestart('nb');
    await frame();
    const notice = sidebar.node.querySelector('.jp-Memtrack-kernelEnd') as HTMLElement;
    expect(notice.dataset.kind).toBe('restart');
    expect(lastPlot()[1].separators).toEqual([{ x: 1.5, kind: 'restart', cell: null }]);
    model.appendRecord(
      'nb',
      sampleRecord({
        seq: 1,
        execution_count: 3,
        label: null,
        error: 'KernelDied',
        died: {
          oom_killed: false,
          last_rss: 5_000_000,
          peak: null,
          memory_limit: null,
          last_sample_at: null
        }
      })
    );
    await frame();
    const rows = Array.from(sidebar.node.querySelectorAll('tbody tr'));
    expect(rows[1].textContent).toBe('kernel killed during [3] at 5.0 MB');
  });
});
