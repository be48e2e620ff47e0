import { nullTranslator } from '@jupyterlab/translation';

import { growthRate, HeadroomWarning } from '../headroomWarning';
import { MemtrackModel } from '../model';
import { ILiveMessage } from '../protocol';
import { DEFAULT_SETTINGS, guardShare, parseSettings } from '../settings';
import { sampleRecord } from './fixtures';

const LIMIT = 2_000_000_000;

function live(rss: number, t: number, overrides: Partial<ILiveMessage> = {}): ILiveMessage {
  return {
    state: 'running',
    execution_count: 12,
    cell_id: 'c12',
    started_at: '2026-12-01T12:03:01+00:00',
    elapsed_s: t,
    samples: [{ t, rss }],
    rss,
    peak: rss,
    rss_before: 100_000_000,
    limit: { bytes: LIMIT, source: 'cgroup-v2', usage: rss, headroom: LIMIT - rss },
    ...overrides
  };
}

describe('growthRate', () => {
  it('is the change over the last two seconds of samples', () => {
    const samples = [0, 1, 2, 3].map(t => ({ t, rss: 1_000_000 + t * (t < 1 ? 0 : 250_000_000) }));
    expect(growthRate(samples)).toBe(250_000_000);
    expect(growthRate([{ t: 1, rss: 5 }])).toBeNull();
    expect(growthRate([])).toBeNull();
  });
});

describe('HeadroomWarning', () => {
  let model: MemtrackModel;
  let warnings: string[];
  let threshold: number;

  beforeEach(() => {
    model = new MemtrackModel();
    warnings = [];
    threshold = 20;
    new HeadroomWarning({
      model,
      threshold: () => threshold,
      units: () => 'decimal',
      trans: nullTranslator.load('jupyterlab-memtrack'),
      notify: message => warnings.push(message)
    });
  });

  afterEach(() => model.live.dispose());

  it('warns once per cell, naming it and its growth rate', () => {
    model.appendRecord('nb', sampleRecord({ seq: 1, cell_id: 'c12', label: 'grow' }));
    model.live.update('nb', live(1_000_000_000, 1));
    expect(warnings).toEqual([]);
    model.live.update('nb', live(1_500_000_000, 2));
    model.live.update('nb', live(1_700_000_000, 3));
    expect(warnings).toEqual([
      '[12] grow is close to the memory limit: 300 MB left of 2.0 GB (cgroup-v2), growing 350 MB/s.'
    ]);
    model.live.update('nb', live(1_800_000_000, 4));
    expect(warnings).toHaveLength(1);
    // The next cell may warn again.
    model.live.update('nb', live(1_800_000_000, 4, { state: 'done' }));
    model.live.update('nb', live(1_900_000_000, 1, { started_at: '2026-12-01T12:05:00+00:00' }));
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain('not growing now');
  });

  it('is off at 0 and without a known limit', () => {
    threshold = 0;
    model.live.update('nb', live(1_900_000_000, 1));
    threshold = 20;
    model.live.update('nb', live(1_900_000_000, 1, { limit: { bytes: null, source: 'none' } }));
    model.live.setLimit('nb', null);
    model.live.update('nb', live(1_900_000_000, 2, { limit: undefined }));
    expect(warnings).toEqual([]);
  });

  it('uses the RSS when the kernel sends no usage', () => {
    model.live.update(
      'nb',
      live(1_950_000_000, 1, { execution_count: null, limit: { bytes: LIMIT, source: 'meminfo' } })
    );
    expect(warnings[0]).toMatch(/^\[ \] is close to the memory limit: 50.0 MB left/);
  });

  it('says when the guard interrupted a cell', () => {
    model.live.update('nb', live(1_800_000_000, 1));
    model.live.update('nb', live(1_800_000_000, 2, { state: 'done', guard_tripped: true }));
    expect(warnings.at(-1)).toBe(
      'The memory guard interrupted [12] at 1.8 GB, before the kernel ran out of memory.'
    );
  });
});

describe('headroomWarning and memoryGuard settings', () => {
  it('default to a 20% warning and no guard, and take percentages', () => {
    expect(DEFAULT_SETTINGS.headroomWarning).toBe(20);
    expect(guardShare(DEFAULT_SETTINGS)).toBeNull();
    const parsed = parseSettings({ headroomWarning: 5, memoryGuard: 90 });
    expect(parsed.headroomWarning).toBe(5);
    expect(guardShare(parsed)).toBe(0.9);
    const bad = parseSettings({ headroomWarning: 120, memoryGuard: -1 });
    expect([bad.headroomWarning, bad.memoryGuard]).toEqual([20, 0]);
  });
});
