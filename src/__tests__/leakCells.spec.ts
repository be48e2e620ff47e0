/** Which rows and points the current leak suspects highlight (leakCells.ts), and the process markers. */
import { leakingRecords } from '../leakCells';
import { sessionStarts } from '../sessionStarts';
import { HistoryEntry } from '../tokens';
import { sampleRecord } from './fixtures';

const cell = (seq: number, count: number, leaks: Record<string, unknown>[] = []) =>
  sampleRecord({ seq, execution_count: count, leaks, label: `cell ${count}` });

describe('leakingRecords', () => {
  const cache = { name: 'cache', kind: 'growing-variable', cells: [2, 3, 4] };
  const out = { name: 'Out[6]', kind: 'output-history', cells: [6, 7] };

  it('highlights exactly the cells each suspect names, not every row after it', () => {
    // Every record from [4] on carries the suspects current after it.
    const records = [
      cell(1, 1),
      cell(2, 2),
      cell(3, 3),
      cell(4, 4, [cache]),
      cell(5, 5, [cache]),
      cell(6, 6, [cache]),
      cell(7, 7, [cache, out]),
      cell(8, 8, [cache, out])
    ];
    const counts = [...leakingRecords(records)].map(r => r.execution_count as number);
    expect(counts.sort((a, b) => a - b)).toEqual([2, 3, 4, 6, 7]);
  });

  it('leaves a watched suspect unhighlighted, and nothing once the latest record has none', () => {
    const watching = { ...cache, cells: [2, 3], watching: true };
    expect(leakingRecords([cell(1, 1), cell(2, 2), cell(3, 3, [watching])]).size).toBe(0);
    expect(leakingRecords([cell(1, 1, [cache]), cell(2, 2)]).size).toBe(0);
  });

  it('names cells of the current kernel process only', () => {
    // The earlier process had its own [2]; seq starts again at 1 after a restart.
    const earlier = [cell(1, 1), cell(2, 2)];
    const current = [cell(1, 1), cell(2, 2), cell(3, 3, [{ ...cache, cells: [2, 3] }])];
    const leaking = leakingRecords([...earlier, ...current]);
    expect([...leaking]).toEqual([current[1], current[2]]);
  });

  it('points a suspect without cells (an older kernel) at the record that first reported it', () => {
    const old = { name: 'x', kind: 'cycle' };
    const records = [cell(1, 1), cell(2, 2, [old]), cell(3, 3, [old])];
    expect([...leakingRecords(records)]).toEqual([records[1]]);
  });
});

describe('sessionStarts', () => {
  it('marks the first record after each separator with how the process ended', () => {
    const [a, b, c] = [cell(1, 1), cell(1, 1), cell(1, 2)];
    const entries: HistoryEntry[] = [
      { kind: 'restart', at: 'x' },
      { kind: 'record', record: a },
      { kind: 'restart', at: 'x', died: true },
      { kind: 'record', record: b },
      { kind: 'restart', at: 'x' },
      { kind: 'record', record: c }
    ];
    const starts = sessionStarts(entries);
    expect(starts.get(a)).toBeUndefined();
    expect(starts.get(b)).toBe('died');
    expect(starts.get(c)).toBe('restart');
  });
});
