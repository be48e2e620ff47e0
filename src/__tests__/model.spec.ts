import { MemtrackModel } from '../model';
import { IHistoryChange } from '../tokens';
import { sampleRecord } from './fixtures';

describe('MemtrackModel', () => {
  let model: MemtrackModel;
  let changes: IHistoryChange[];

  beforeEach(() => {
    model = new MemtrackModel();
    changes = [];
    model.changed.connect((_, change) => changes.push(change));
  });

  it('keeps a history per notebook', () => {
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    model.appendRecord('b', sampleRecord({ seq: 1, label: 'other' }));
    model.appendRecord('a', sampleRecord({ seq: 2 }));
    expect(model.records('a').map(r => r.seq)).toEqual([1, 2]);
    expect(model.records('b').map(r => r.label)).toEqual(['other']);
    expect(model.records(null)).toEqual([]);
    expect(changes.map(c => `${c.key}:${c.kind}`)).toEqual(['a:append', 'b:append', 'a:append']);
  });

  it('ignores a replayed record it already has', () => {
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    expect(model.records('a')).toHaveLength(1);
    expect(changes).toHaveLength(1);
  });

  it('adds a batch of records with one change that counts them, skipping seen ones', () => {
    model.appendRecord('a', sampleRecord({ seq: 2, label: 'seen' }));
    changes.length = 0;
    model.appendRecords('a', [
      sampleRecord({ seq: 1, label: 'replayed' }),
      sampleRecord({ seq: 2, label: 'replayed' }),
      sampleRecord({ seq: 3, label: 'x' }),
      sampleRecord({ seq: 4, label: 'y' }),
      sampleRecord({ seq: 4, label: 'dup' })
    ]);
    expect(model.records('a').map(r => r.label)).toEqual(['seen', 'x', 'y']);
    expect(changes).toEqual([{ key: 'a', kind: 'append', count: 2 }]);
    // Nothing new: no change at all.
    model.appendRecords('a', [sampleRecord({ seq: 4 })]);
    model.appendRecords('a', []);
    expect(changes).toHaveLength(1);
  });

  it('replaces the current kernel history but keeps records from before a restart', () => {
    model.appendRecord('a', sampleRecord({ seq: 1, label: 'old kernel' }));
    model.markRestart('a', new Date('2026-01-01T00:00:00Z'));
    model.replaceKernelHistory('a', [
      sampleRecord({ seq: 2, label: 'y' }),
      sampleRecord({ seq: 1, label: 'x' })
    ]);
    const entries = model.entries('a');
    expect(entries.map(e => e.kind)).toEqual(['record', 'restart', 'record', 'record']);
    expect(model.records('a').map(r => r.label)).toEqual(['old kernel', 'x', 'y']);
    // A second replay (page reload) does not duplicate.
    model.replaceKernelHistory('a', [
      sampleRecord({ seq: 1, label: 'x' }),
      sampleRecord({ seq: 2, label: 'y' })
    ]);
    expect(model.records('a')).toHaveLength(3);
    // Records after the replay continue the sequence.
    model.appendRecord('a', sampleRecord({ seq: 3, label: 'z' }));
    model.appendRecord('a', sampleRecord({ seq: 2, label: 'dup' }));
    expect(model.records('a').map(r => r.label)).toEqual(['old kernel', 'x', 'y', 'z']);
  });

  it('does not add a restart marker to an empty history', () => {
    model.markRestart('a');
    model.markRestart('a');
    expect(model.entries('a')).toHaveLength(0);
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    model.markRestart('a');
    model.markRestart('a');
    expect(model.entries('a').map(e => e.kind)).toEqual(['record', 'restart']);
  });

  it('accepts seq 1 again after a restart', () => {
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    model.markRestart('a');
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    expect(model.records('a')).toHaveLength(2);
  });

  it('tracks the current notebook and forgets closed ones', () => {
    const current: (string | null)[] = [];
    model.currentChanged.connect((_, key) => current.push(key));
    model.setCurrent('a');
    model.setCurrent('a');
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    model.remove('a');
    expect(current).toEqual(['a', null]);
    expect(model.records('a')).toEqual([]);
  });

  it('reports bridge status per notebook', () => {
    expect(model.status('a').status).toBe('no-kernel');
    model.setStatus('a', 'connected');
    model.setStatus('a', 'connected');
    expect(model.status('a')).toEqual({ status: 'connected', detail: '' });
    expect(changes.filter(c => c.kind === 'status')).toHaveLength(1);
  });

  it('clears a history', () => {
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    model.clear('a');
    expect(model.records('a')).toEqual([]);
    model.appendRecord('a', sampleRecord({ seq: 1 }));
    expect(model.records('a')).toHaveLength(1);
  });
});
