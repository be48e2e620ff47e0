import { ILiveChange, MAX_LIVE_SAMPLES, NATIVE_BUSY_MS } from '../liveModel';
import { MemtrackModel } from '../model';
import { ILiveMessage } from '../protocol';
import { sampleRecord } from './fixtures';

const STARTED = '2026-12-01T12:03:01.250000+00:00';

function live(overrides: Partial<ILiveMessage> = {}): ILiveMessage {
  return {
    state: 'running',
    execution_count: 12,
    cell_id: 'c12',
    started_at: STARTED,
    elapsed_s: 0.2,
    samples: [{ t: 0.2, rss: 400_000_000 }],
    rss: 400_000_000,
    peak: 400_000_000,
    rss_before: 300_000_000,
    limit: {
      bytes: 2_000_000_000,
      source: 'cgroup-v2',
      usage: 400_000_000,
      headroom: 1_600_000_000
    },
    ...overrides
  };
}

describe('LiveModel (through MemtrackModel)', () => {
  let model: MemtrackModel;
  let changes: ILiveChange[];

  beforeEach(() => {
    jest.useFakeTimers();
    model = new MemtrackModel();
    changes = [];
    model.live.changed.connect((_, change) => changes.push(change));
  });

  afterEach(() => {
    model.live.dispose();
    jest.useRealTimers();
  });

  it('follows the running cell, message by message', () => {
    model.live.update('nb', live());
    model.live.update(
      'nb',
      live({
        elapsed_s: 0.4,
        samples: [{ t: 0.4, rss: 500_000_000 }],
        rss: 500_000_000,
        peak: 500_000_000
      })
    );
    const state = model.live.state('nb')!;
    expect(state.executionCount).toBe(12);
    expect(state.samples.map(s => s.rss)).toEqual([400_000_000, 500_000_000]);
    expect([state.rss, state.peak, state.rssBefore, state.elapsedS]).toEqual([
      500_000_000, 500_000_000, 300_000_000, 0.4
    ]);
    expect(model.live.limit('nb')?.source).toBe('cgroup-v2');
    expect(model.live.state('other')).toBeNull();
    expect(changes.map(c => c.kind)).toEqual(['update', 'update']);
  });

  it('keeps a bounded number of samples', () => {
    const many = Array.from({ length: MAX_LIVE_SAMPLES + 50 }, (_, i) => ({ t: i / 100, rss: i }));
    model.live.update('nb', live({ samples: many }));
    const samples = model.live.state('nb')!.samples;
    expect(samples).toHaveLength(MAX_LIVE_SAMPLES);
    expect(samples[samples.length - 1].rss).toBe(MAX_LIVE_SAMPLES + 49);
  });

  it('starts over when another cell runs', () => {
    model.live.update('nb', live());
    model.live.update('nb', live({ started_at: '2026-12-01T12:04:00+00:00', execution_count: 13 }));
    expect(model.live.state('nb')!.executionCount).toBe(13);
    expect(model.live.state('nb')!.samples).toHaveLength(1);
  });

  it('ends on the done message, keeping what it says', () => {
    model.live.update('nb', live());
    model.live.update('nb', live({ state: 'done', guard_tripped: true, limit: undefined }));
    expect(model.live.state('nb')).toBeNull();
    expect(changes.at(-1)).toMatchObject({ key: 'nb', kind: 'end', done: { guard_tripped: true } });
    // The limit stays: it is the kernel's, not the cell's.
    expect(model.live.limit('nb')?.bytes).toBe(2_000_000_000);
  });

  it("ends on the cell's record, not on another one", () => {
    model.live.update('nb', live());
    model.appendRecord('nb', sampleRecord({ seq: 1, execution_count: 11, cell_id: 'c11' }));
    expect(model.live.state('nb')).not.toBeNull();
    model.appendRecord(
      'nb',
      sampleRecord({ seq: 2, execution_count: 12, cell_id: 'c12', started_at: STARTED })
    );
    expect(model.live.state('nb')).toBeNull();
  });

  it('ends on a restart and when the notebook closes', () => {
    model.live.update('nb', live());
    model.markRestart('nb');
    expect(model.live.state('nb')).toBeNull();
    model.live.update('nb', live());
    model.remove('nb');
    expect(model.live.state('nb')).toBeNull();
    expect(model.live.limit('nb')).toBeNull();
  });

  it('says the cell is busy in native code when the messages stop, and resumes', () => {
    model.live.update('nb', live(), 1_000);
    jest.advanceTimersByTime(NATIVE_BUSY_MS - 100);
    expect(model.live.state('nb')!.busySince).toBeNull();
    jest.advanceTimersByTime(200);
    expect(model.live.state('nb')!.busySince).toBe(1_000);
    expect(changes.at(-1)?.kind).toBe('busy');
    model.live.update('nb', live({ elapsed_s: 5, samples: [{ t: 5, rss: 900_000_000 }] }), 6_000);
    expect(model.live.state('nb')!.busySince).toBeNull();
    expect(model.live.state('nb')!.samples).toHaveLength(2);
  });

  it("takes the limit from the kernel's info in a history", () => {
    model.setKernelInfo('nb', {
      pid: 1,
      memory_limit: { bytes: 8_000_000_000, source: 'meminfo' }
    });
    expect(model.live.limit('nb')).toEqual({ bytes: 8_000_000_000, source: 'meminfo' });
  });
});
