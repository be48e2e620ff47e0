import { MemtrackModel } from '../model';
import { IEarlierSession, parseKernelMessage } from '../protocol';
import { HistoryEntry } from '../tokens';
import { fixtures, sampleRecord } from './fixtures';

/** A record of one kernel process: its cells start at `base` + seq minutes. */
function rec(seq: number, base: number, overrides: Record<string, unknown> = {}) {
  const minute = String(base + seq).padStart(2, '0');
  return sampleRecord({
    seq,
    execution_count: seq,
    cell_id: `c${base}-${seq}`,
    label: null,
    started_at: `2026-12-01T12:${minute}:00+00:00`,
    ...overrides
  });
}

const DIED = {
  oom_killed: true,
  last_rss: 1_100_000_000,
  peak: 1_100_000_000,
  memory_limit: 2_000_000_000,
  limit_source: 'cgroup-v2',
  last_sample_at: '2026-12-01T12:30:00+00:00',
  pid: 1
};

/** The history as "r<cell id>" and "|restart" / "|died[cell]" / "|saved". */
function shape(entries: readonly HistoryEntry[]): string[] {
  return entries.map(entry =>
    entry.kind === 'record'
      ? `r${entry.record.cell_id}`
      : `|${entry.saved ? 'saved' : entry.died ? 'died' : 'restart'}${entry.cell ? entry.cell : ''}`
  );
}

describe('earlier sessions of a kernel', () => {
  let model: MemtrackModel;

  beforeEach(() => {
    model = new MemtrackModel();
  });

  it('shows them as their own segments after a page reload, oldest first', () => {
    const first: IEarlierSession = { ended: 'restart', records: [rec(1, 0), rec(2, 0)] };
    const second: IEarlierSession = { ended: 'died', records: [rec(1, 10)] };
    const dying = rec(1, 20, { execution_count: 2, error: 'KernelDied', died: DIED });
    model.replaceKernelHistory('nb', [dying, rec(2, 20)], [first, second]);
    expect(shape(model.entries('nb'))).toEqual([
      'rc0-1',
      'rc0-2',
      '|restart',
      'rc10-1',
      '|died[2]',
      'rc20-1',
      'rc20-2'
    ]);
    // A record appended later belongs to the current process.
    model.appendRecord('nb', rec(3, 20));
    expect(model.records('nb')).toHaveLength(6);
    expect(model.previousKernelEnd('nb')).toMatchObject({ died: true, cell: '[2]' });
  });

  it('does not repeat the rows the page kept across the restart', () => {
    // The page saw the first process live, then the kernel died and came back.
    model.replaceKernelHistory('nb', [rec(1, 0), rec(2, 0)]);
    model.markRestart('nb');
    model.markDeath('nb');
    const dying = rec(1, 10, { execution_count: 3, error: 'KernelDied', died: DIED });
    model.replaceKernelHistory('nb', [dying], [{ ended: 'died', records: [rec(1, 0), rec(2, 0)] }]);
    expect(shape(model.entries('nb'))).toEqual(['rc0-1', 'rc0-2', '|died[3]', 'rc10-1']);
    // And the same history again (a second comm open) changes nothing.
    model.replaceKernelHistory('nb', [dying], [{ ended: 'died', records: [rec(1, 0), rec(2, 0)] }]);
    expect(shape(model.entries('nb'))).toEqual(['rc0-1', 'rc0-2', '|died[3]', 'rc10-1']);
  });

  it('adds the records of a known session the page missed, and sessions it never saw', () => {
    // The page opened during the second process and saw one of its records.
    model.replaceKernelHistory('nb', [rec(1, 10)]);
    model.markRestart('nb');
    model.replaceKernelHistory(
      'nb',
      [rec(1, 20)],
      [
        { ended: 'restart', records: [rec(1, 0)] },
        { ended: 'restart', records: [rec(1, 10), rec(2, 10)] }
      ]
    );
    expect(shape(model.entries('nb'))).toEqual([
      'rc0-1',
      '|restart',
      'rc10-1',
      'rc10-2',
      '|restart',
      'rc20-1'
    ]);
  });

  it('keeps saved runs first and drops those an earlier session reports', () => {
    const saved = rec(1, 0, { saved: true });
    model.seedSaved('nb', [saved, rec(5, 0)]);
    model.replaceKernelHistory('nb', [rec(1, 20)], [{ ended: 'restart', records: [rec(1, 0)] }]);
    expect(shape(model.entries('nb'))).toEqual(['rc0-5', '|saved', 'rc0-1', '|restart', 'rc20-1']);
  });

  it('reads the fixture: the earlier process, a death separator, then its KernelDied row', () => {
    const message = fixtures('valid').find(([name]) => name === 'history-earlier.json')![1];
    const parsed = parseKernelMessage(message);
    if (parsed.type !== 'history') {
      throw new Error('not a history');
    }
    model.replaceKernelHistory('nb', parsed.records, parsed.earlier);
    expect(shape(model.entries('nb'))).toEqual(['rc0ffee-11', '|died[12]', 'rc0ffee-12']);
  });

  it('labels a death the bridge saw, and its cell once the KernelDied record comes', () => {
    model.appendRecord('nb', rec(1, 0));
    model.markRestart('nb');
    model.markDeath('nb');
    expect(shape(model.entries('nb'))).toEqual(['rc0-1', '|died']);
    model.appendRecord(
      'nb',
      rec(1, 10, { execution_count: 7, label: 'big', error: 'KernelDied', died: DIED })
    );
    expect(shape(model.entries('nb'))).toEqual(['rc0-1', '|died[7] big', 'rc10-1']);
    // A plain restart stays a restart.
    model.markRestart('nb');
    expect(shape(model.entries('nb')).at(-1)).toBe('|restart');
  });
});
