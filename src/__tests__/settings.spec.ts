import { BadgeUpdater, latestByCell } from '../badges';
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
    expect(parsed.metric).toBe(DEFAULT_SETTINGS.metric);
    expect(parsed.maxPoints).toBe(DEFAULT_SETTINGS.maxPoints);
    expect(parsed.topN).toBe(10);
    expect(parsed.byteUnits).toBe('binary');
    expect(parsed.badges).toBe(true);
  });

  it('signals only real changes', () => {
    const state = new SettingsState();
    let count = 0;
    state.changed.connect(() => count++);
    state.update({ metric: 'rss' });
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
    expect(latest.get('a')?.label).toBe('second');
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
