import { nullTranslator } from '@jupyterlab/translation';

import { BadgeUpdater, latestByCell, renderBadges } from '../badges';
import { DEFAULT_SETTINGS, parseSettings, SettingsState } from '../settings';
import { sampleRecord } from './fixtures';

describe('settings', () => {
  it('takes valid values and defaults the rest', () => {
    const parsed = parseSettings({
      autoTrack: 'deep',
      metric: 'nonsense',
      maxPoints: 5,
      topN: 10,
      byteUnits: 'binary',
      badges: 'yes'
    });
    expect(parsed.autoTrack).toBe('deep');
    expect(parsed.metric).toBe('auto');
    expect(parseSettings({ metric: 'allocated' }).metric).toBe('allocated');
    expect(parsed.maxPoints).toBe(DEFAULT_SETTINGS.maxPoints);
    expect(parsed.topN).toBe(10);
    expect(parsed.byteUnits).toBe('binary');
    expect(parsed.badges).toBe(true);
  });

  it('signals only real changes', () => {
    const state = new SettingsState();
    let count = 0;
    state.changed.connect(() => count++);
    state.update({ metric: 'auto' });
    state.update({ metric: 'traced' });
    expect(count).toBe(1);
    expect(state.value.metric).toBe('traced');
  });
});

describe('badges', () => {
  it('uses the latest record of each cell', () => {
    const latest = latestByCell([
      sampleRecord({ seq: 1, cell_id: 'a', label: 'first' }),
      sampleRecord({ seq: 2, cell_id: null }),
      sampleRecord({ seq: 3, cell_id: 'a', label: 'second' })
    ]);
    expect([...latest.keys()]).toEqual(['a']);
    expect(latestByCell([sampleRecord({ cell_id: 'a', mode: 'release' })]).size).toBe(0);
    expect(latest.get('a')?.label).toBe('second');
  });
});

describe('renderBadges', () => {
  const trans = nullTranslator.load('jupyterlab-memtrack');
  /** The part of a NotebookPanel renderBadges reads: its cells' nodes and ids. */
  const panel = (ids: string[]) =>
    ({
      content: {
        widgets: ids.map(id => ({ node: document.createElement('div'), model: { id } }))
      }
    }) as any;
  const badge = (p: any, i: number) =>
    p.content.widgets[i].node.querySelector('.jp-Memtrack-badge') as HTMLElement | null;

  it("shows the metric's change of each cell, a dash where its record lacks it", () => {
    const notebook = panel(['deep', 'light', 'other']);
    const records = [
      sampleRecord({ seq: 1, cell_id: 'deep', execution_count: 1 }),
      sampleRecord({
        seq: 2,
        cell_id: 'light',
        execution_count: 2,
        mode: 'light',
        traced_delta: null,
        traced_peak: null,
        alloc_delta: 30_000_000,
        alloc_method: 'mallinfo2'
      }),
      // A release ran in no cell: no badge, even with a cell id.
      sampleRecord({ seq: 3, cell_id: 'other', mode: 'release' })
    ];
    const draw = (metric: 'rss' | 'allocated' | 'traced') =>
      renderBadges(notebook, records, { enabled: true, units: 'decimal', metric, trans });

    draw('traced');
    expect(badge(notebook, 0)!.textContent).toBe('+50.0 MB');
    expect(badge(notebook, 0)!.title).toBe('memtrack [1]: traced +50.0 MB, peak 80.0 MB');
    expect(badge(notebook, 1)!.textContent).toBe('—');
    expect(badge(notebook, 1)!.title).toBe(
      'memtrack [2], traced: traced only for %%memtrack cells'
    );
    expect(badge(notebook, 2)).toBeNull();

    draw('allocated');
    expect(badge(notebook, 0)!.textContent).toBe('—');
    expect(badge(notebook, 1)!.textContent).toBe('+30.0 MB');
    expect(badge(notebook, 1)!.dataset.metric).toBe('allocated');

    draw('rss');
    expect(badge(notebook, 0)!.textContent).toBe('+52.4 MB');
    expect(badge(notebook, 0)!.title).toBe('memtrack [1]: RSS +52.4 MB, peak 105 MB');
    renderBadges(notebook, records, { enabled: false, units: 'decimal', metric: 'rss', trans });
    expect(badge(notebook, 0)).toBeNull();
  });
});

describe('BadgeUpdater', () => {
  it('renders each notebook once per frame however many changes arrive', () => {
    const rendered: string[] = [];
    const queue: (() => void)[] = [];
    const updater = new BadgeUpdater(
      key => rendered.push(key),
      callback => queue.push(callback)
    );
    for (let i = 0; i < 100; i++) {
      updater.invalidate('a');
    }
    updater.invalidate('b');
    expect(rendered).toEqual([]);
    queue.splice(0).forEach(callback => callback());
    expect(rendered).toEqual(['a', 'b']);
    updater.invalidate('a');
    queue.splice(0).forEach(callback => callback());
    expect(rendered).toEqual(['a', 'b', 'a']);
  });
});
