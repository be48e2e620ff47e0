import Ajv from 'ajv';
import addFormats from 'ajv-formats';

import {
  PROTOCOL_VERSION,
  ProtocolError,
  configureMessage,
  exportMessage,
  helloMessage,
  parseKernelMessage,
  releaseMessage,
  requestHistoryMessage,
  variablesMessage,
  whyMessage
} from '../protocol';
import { SCHEMA_PATH, fixtures, readJson } from './fixtures';

const KERNEL_TYPES = new Set([
  'history',
  'tracking',
  'record',
  'records',
  'reset',
  'error',
  'why_result',
  'release_result',
  'export_result',
  'live',
  'variables_result'
]);

describe('wire schema and fixtures', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(readJson(SCHEMA_PATH));

  it.each(fixtures('valid'))('%s is valid against the schema', (_name, message) => {
    expect(validate(message)).toBe(true);
  });

  it.each(fixtures('invalid'))('%s is rejected by the schema', (_name, message) => {
    expect(validate(message)).toBe(false);
  });

  it('accepts the messages this frontend sends', () => {
    expect(validate(helloMessage('0.1.0'))).toBe(true);
    expect(validate(requestHistoryMessage())).toBe(true);
    expect(validate(whyMessage('id-1', 'Out[3]', 1))).toBe(true);
    expect(validate(whyMessage('id-2', 'cache'))).toBe(true);
    expect(validate(releaseMessage('id-3', 'out 3', true))).toBe(true);
    expect(validate(releaseMessage('id-4', 'traceback', false))).toBe(true);
    expect(validate(configureMessage(5_000_000))).toBe(true);
    expect(validate(exportMessage('id-5', 'html'))).toBe(true);
    expect(validate(variablesMessage('id-6'))).toBe(true);
    expect(validate(variablesMessage('id-7', 10_000))).toBe(true);
  });

  it('rejects requests the kernel could not answer', () => {
    expect(validate(whyMessage('', 'x'))).toBe(false);
    expect(validate(whyMessage('id', 'x', 60))).toBe(false);
    expect(validate(configureMessage(-1))).toBe(false);
    expect(validate(configureMessage(1.5))).toBe(false);
    expect(validate(variablesMessage('id', 0))).toBe(false);
    expect(validate(variablesMessage('id', 10_001))).toBe(false);
  });

  it('has fixtures for every message type', () => {
    const types = new Set(fixtures('valid').map(([, message]) => message.type));
    expect([...types].sort()).toEqual(
      [
        'configure',
        'error',
        'export',
        'export_result',
        'hello',
        'history',
        'record',
        'records',
        'release',
        'release_result',
        'request_history',
        'reset',
        'why',
        'why_result',
        'live',
        'variables',
        'variables_result',
        'tracking'
      ].sort()
    );
  });
});

describe('parseKernelMessage', () => {
  it.each(fixtures('valid').filter(([, m]) => KERNEL_TYPES.has(m.type)))(
    'parses %s',
    (_name, message) => {
      const parsed = parseKernelMessage(message);
      expect(parsed.type).toBe(message.type);
      expect(parsed.v).toBe(PROTOCOL_VERSION);
    }
  );

  it.each(fixtures('invalid'))('rejects %s with a ProtocolError', (_name, message) => {
    expect(() => parseKernelMessage(message)).toThrow(ProtocolError);
  });

  it('says to upgrade when the kernel speaks a newer version', () => {
    expect(() => parseKernelMessage({ v: 2, type: 'record', record: {} })).toThrow(
      /newer than this extension understands.*upgrade/
    );
  });

  it('names the bad field of a record', () => {
    const message = readJson(SCHEMA_PATH.replace(/wire.*$/, 'fixtures/valid/record.json'));
    message.record.rss_peak = 'lots';
    expect(() => parseKernelMessage(message)).toThrow(/'rss_peak'/);
  });

  it('rejects non-objects', () => {
    expect(() => parseKernelMessage(null)).toThrow(/not a JSON object/);
    expect(() => parseKernelMessage([1])).toThrow(/not a JSON object/);
  });

  it('parses a why answer', () => {
    const message = fixtures('valid').find(([name]) => name === 'why_result.json')![1];
    const parsed = parseKernelMessage(message);
    expect(parsed).toEqual({ ...message });
    const gone = parseKernelMessage(
      fixtures('valid').find(([name]) => name === 'why_result-gone.json')![1]
    );
    expect(gone.type === 'why_result' && gone.chain).toBeNull();
  });

  it('parses release answers, with the re-evaluated suspects', () => {
    const message = fixtures('valid').find(([name]) => name === 'release_result.json')![1];
    const parsed = parseKernelMessage(message);
    expect(parsed.type).toBe('release_result');
    if (parsed.type === 'release_result') {
      expect(parsed.freed_bytes).toBe(30003200);
      expect(parsed.suspects?.map(s => s.name)).toEqual(['cache']);
    }
    const dry = parseKernelMessage(
      fixtures('valid').find(([name]) => name === 'release_result-dry-run.json')![1]
    );
    expect(dry.type === 'release_result' && dry.suspects).toBeUndefined();
  });

  it('names what is wrong with a request answer', () => {
    const base = { v: 1, type: 'why_result', request_id: 'a', name: 'x', message: 'm' };
    expect(() => parseKernelMessage({ ...base, chain: [1], status: 'found' })).toThrow(/chain/);
    expect(() => parseKernelMessage({ ...base, chain: null, status: 'ok' })).toThrow(/status/);
    const release = fixtures('valid').find(([name]) => name === 'release_result.json')![1];
    expect(() => parseKernelMessage({ ...release, ok: 'yes' })).toThrow(/'ok' boolean/);
    expect(() => parseKernelMessage({ ...release, freed_bytes: '1' })).toThrow(/freed_bytes/);
    expect(() => parseKernelMessage({ ...release, suspects: [1] })).toThrow(/suspects/);
    expect(() => parseKernelMessage({ v: 1, type: 'error', message: 'm', request_id: 3 })).toThrow(
      /request_id/
    );
  });

  it('parses export answers and names what is wrong with one', () => {
    const message = fixtures('valid').find(([name]) => name === 'export_result.json')![1];
    const parsed = parseKernelMessage(message);
    expect(parsed).toEqual({ ...message, v: PROTOCOL_VERSION });
    expect(parsed.type === 'export_result' && parsed.content).toContain('memtrack report');
    expect(() => parseKernelMessage({ ...message, content: null })).toThrow(/'content' string/);
    expect(() => parseKernelMessage({ ...message, format: 'pdf' })).toThrow(/format/);
    expect(() => parseKernelMessage({ ...message, request_id: '' })).toThrow(/request_id/);
  });

  it('keeps the request id of an error', () => {
    const parsed = parseKernelMessage({ v: 1, type: 'error', message: 'm', request_id: 'r' });
    expect(parsed).toEqual({ v: 1, type: 'error', message: 'm', request_id: 'r' });
  });

  it('keeps the records of a records message in order and names a bad one', () => {
    const message = fixtures('valid').find(([name]) => name === 'records.json')![1];
    const parsed = parseKernelMessage(message);
    expect(parsed.type).toBe('records');
    if (parsed.type === 'records') {
      expect(parsed.records.map(r => r.seq)).toEqual([2, 3]);
    }
    const broken = JSON.parse(JSON.stringify(message));
    broken.records[1].gc = 'none';
    expect(() => parseKernelMessage(broken)).toThrow(/'gc'/);
    expect(() => parseKernelMessage({ v: 1, type: 'records', records: [] })).toThrow(/non-empty/);
  });

  it('keeps the records of a history message in order', () => {
    const message = fixtures('valid').find(([name]) => name === 'history.json')![1];
    const parsed = parseKernelMessage(message);
    expect(parsed.type).toBe('history');
    if (parsed.type === 'history') {
      expect(parsed.records.map(r => r.seq)).toEqual([1, 2]);
      expect(parsed.kernel?.pid).toBe(4242);
    }
  });
});

describe('live, memory limit, death and earlier sessions on the wire', () => {
  const valid = (name: string) => fixtures('valid').find(([n]) => n === name)![1];

  it('parses a running cell with its samples and limit', () => {
    const parsed = parseKernelMessage(valid('live.json'));
    expect(parsed.type).toBe('live');
    if (parsed.type === 'live') {
      expect(parsed.state).toBe('running');
      expect(parsed.samples.map(s => s.rss)).toEqual([1020000000, 1060000000, 1100000000]);
      expect(parsed.limit).toEqual({
        bytes: 2000000000,
        source: 'cgroup-v1',
        usage: 1100000000,
        headroom: 900000000
      });
    }
    const done = parseKernelMessage(valid('live-done.json'));
    expect(done.type === 'live' && done.guard_tripped).toBe(true);
  });

  it('names what is wrong with a live message', () => {
    const live = valid('live.json');
    expect(() => parseKernelMessage({ ...live, state: 'paused' })).toThrow(/'state'/);
    expect(() => parseKernelMessage({ ...live, samples: [{ t: -1, rss: 1 }] })).toThrow(
      /'samples'/
    );
    expect(() => parseKernelMessage({ ...live, rss: '1 GB' })).toThrow(/'rss'/);
    expect(() => parseKernelMessage({ ...live, limit: { bytes: 1, source: 'x' } })).toThrow(
      /'source'/
    );
    expect(() => parseKernelMessage({ ...live, guard_tripped: 1 })).toThrow(/guard_tripped/);
  });

  it('keeps the died object of a KernelDied record and checks it', () => {
    const parsed = parseKernelMessage(valid('record-died.json'));
    expect(parsed.type === 'record' && parsed.record.died?.oom_killed).toBe(true);
    const broken = JSON.parse(JSON.stringify(valid('record-died.json')));
    delete broken.record.died.last_sample_at;
    expect(() => parseKernelMessage(broken)).toThrow(/last_sample_at/);
  });

  it('parses the earlier sessions and the kernel limit and guard of a history', () => {
    const parsed = parseKernelMessage(valid('history-earlier.json'));
    expect(parsed.type).toBe('history');
    if (parsed.type === 'history') {
      expect(parsed.earlier?.map(s => [s.pid, s.ended, s.records.length])).toEqual([
        [4242, 'died', 1]
      ]);
      expect(parsed.kernel?.memory_limit?.source).toBe('cgroup-v1');
      expect(parsed.kernel?.guard).toBe(0.9);
    }
    const history = valid('history.json');
    expect(() => parseKernelMessage({ ...history, kernel: { guard: 2 } })).toThrow(/guard/);
    expect(() =>
      parseKernelMessage({ ...history, earlier: [{ ended: 'died', records: [{}] }] })
    ).toThrow(ProtocolError);
  });

  it('keeps the allocated figures, the tracer and a release, and checks them', () => {
    const allocated = parseKernelMessage(valid('record-allocated.json'));
    expect(allocated.type === 'record' && allocated.record.alloc_delta).toBe(10000033);
    expect(allocated.type === 'record' && allocated.record.alloc_method).toBe('mallinfo2');
    const slow = parseKernelMessage(valid('record-alloc-too-slow.json'));
    expect(slow.type === 'record' && slow.record.alloc_delta).toBeUndefined();
    const deep = parseKernelMessage(valid('record-deep-tracer.json'));
    expect(deep.type === 'record' && deep.record.rss_after_tracer).toBe(0);
    const release = parseKernelMessage(valid('record-release.json'));
    expect(release.type === 'record' && release.record.mode).toBe('release');
    expect(release.type === 'record' && release.record.release?.freed_bytes).toBe(526385152);

    const bad = (changes: Record<string, unknown>) => {
      const message = JSON.parse(JSON.stringify(valid('record-release.json')));
      Object.assign(message.record, changes);
      return () => parseKernelMessage(message);
    };
    expect(bad({ alloc_method: 'sbrk' })).toThrow(/'alloc_method'/);
    expect(bad({ alloc_delta: 1.5 })).toThrow(/'alloc_delta'/);
    expect(bad({ rss_after_tracer: '0' })).toThrow(/'rss_after_tracer'/);
    expect(bad({ tracer_memory: -1 })).not.toThrow();
    expect(bad({ alloc_peak: null })).not.toThrow();
    expect(bad({ mode: 'freed' })).toThrow(/'mode'/);
    const release2 = valid('record-release.json').record.release;
    expect(bad({ release: { ...release2, action: undefined } })).toThrow(/'action'/);
    expect(bad({ release: { ...release2, freed_bytes: 0.5 } })).toThrow(/freed_bytes/);
    expect(bad({ release: { ...release2, freed_measure: 'allocated' } })).toThrow(/freed_measure/);
    expect(bad({ release: { ...release2, freed_measure: null } })).not.toThrow();
    expect(bad({ release: 'all' })).toThrow(/'release'/);
  });

  it('judges the allocated and release fixtures as the schema does', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(readJson(SCHEMA_PATH));
    const names = [
      'record-allocated.json',
      'record-alloc-too-slow.json',
      'record-deep-tracer.json',
      'record-release.json',
      'record-bad-alloc-method.json',
      'record-bad-traced-engine.json',
      'record-deep-full.json',
      'record-release-missing-action.json',
      'record-alloc-float.json',
      'record-cluster.json',
      'record-cluster-unreachable.json',
      'record-cluster-bad-worker-status.json',
      'tracking.json',
      'tracking-bad-mode.json',
      'record-gpu.json',
      'record-gpu-bad-library.json',
      'history.json'
    ];
    const all = [...fixtures('valid'), ...fixtures('invalid')].filter(([name]) =>
      names.includes(name)
    );
    expect(all).toHaveLength(names.length);
    for (const [name, message] of all) {
      let parsed = true;
      try {
        parseKernelMessage(message);
      } catch (reason) {
        expect(reason).toBeInstanceOf(ProtocolError);
        parsed = false;
      }
      expect([name, parsed]).toEqual([name, validate(message)]);
    }
  });

  it('sends the guard with the leak threshold', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(readJson(SCHEMA_PATH));
    expect(configureMessage(1_000_000, 0.9)).toEqual(valid('configure-guard.json'));
    expect(validate(configureMessage(1_000_000, null))).toBe(true);
    expect(validate(configureMessage(1_000_000, 1.5))).toBe(false);
    expect(configureMessage(1_000_000)).not.toHaveProperty('guard');
  });
});

describe('variables on the wire', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(readJson(SCHEMA_PATH));
  const valid = (name: string) => fixtures('valid').find(([n]) => n === name)![1];

  it('builds the request of the fixture', () => {
    expect(variablesMessage('v1', 50)).toEqual(valid('variables.json'));
    expect(variablesMessage('v1')).not.toHaveProperty('limit');
  });

  it('parses an answer field by field, the hostile name kept as text', () => {
    const parsed = parseKernelMessage(valid('variables_result.json'));
    expect(parsed.type).toBe('variables_result');
    if (parsed.type !== 'variables_result') {
      return;
    }
    expect(parsed).toEqual({ ...valid('variables_result.json') });
    expect(parsed.variables.map(v => v.name)).toEqual(['df', '<img src=x onerror=alert(1)>', 't']);
    expect(parsed.variables[1]).toMatchObject({ partial: true, history: [20000000, 38600000] });
    expect(parsed.variables[2]).toEqual({
      name: 't',
      type: 'torch.Tensor',
      size: 160,
      partial: true,
      where: 'device'
    });
    expect([parsed.total, parsed.pending, parsed.seq]).toEqual([12, 1, 7]);
  });

  it('names what is wrong with an answer', () => {
    const message = valid('variables_result.json');
    const variable = message.variables[0];
    const bad = (changes: Record<string, unknown>, item?: Record<string, unknown>) => () =>
      parseKernelMessage({
        ...message,
        ...changes,
        ...(item ? { variables: [{ ...variable, ...item }] } : {})
      });
    expect(bad({ pending: undefined })).toThrow(/'pending'/);
    expect(bad({ total: -1 })).toThrow(/'total'/);
    expect(bad({ variables: {} })).toThrow(/'variables' array/);
    expect(bad({ seq: 'x' })).toThrow(/'seq'/);
    expect(bad({}, { where: 'gpu' })).toThrow(/'where'/);
    expect(bad({}, { partial: undefined })).toThrow(/'partial'/);
    expect(bad({}, { size: 1.5 })).toThrow(/'size'/);
    expect(bad({}, { history: new Array(33).fill(1) })).toThrow(/'history'/);
    expect(bad({}, { releasable: 'yes' })).toThrow(/'releasable'/);
  });

  it('judges answers as the schema does', () => {
    const message = valid('variables_result.json');
    const variable = message.variables[0];
    const cases: Record<string, unknown>[] = [
      message,
      ...fixtures('invalid')
        .filter(([name]) => name.startsWith('variables'))
        .map(([, m]) => m),
      { ...message, seq: null },
      { ...message, seq: 1.5 },
      { ...message, pending: 0, total: 0, variables: [] },
      { ...message, pending: -1 },
      { ...message, request_id: '' },
      ...[
        { size: null },
        { size: '1' },
        { partial: 1 },
        { name: 3 },
        { type: null },
        { where: 'lazy' },
        { where: null },
        { history: [] },
        { history: [null, 1] },
        { history: new Array(32).fill(0) },
        { history: new Array(33).fill(0) },
        { history: [1.5] },
        { change: null },
        { change: -5 },
        { change: 0.5 },
        { cell: null },
        { cell: '4' },
        { releasable: false },
        { releasable: null }
      ].map(changes => ({ ...message, variables: [{ ...variable, ...changes }] })),
      { ...message, variables: [{ name: 'x', type: 'int', partial: false }] },
      { ...message, variables: [null] }
    ];
    for (const candidate of cases) {
      let parsed = true;
      try {
        parseKernelMessage(candidate);
      } catch (reason) {
        expect(reason).toBeInstanceOf(ProtocolError);
        parsed = false;
      }
      expect([candidate, parsed]).toEqual([candidate, validate(candidate)]);
    }
  });
});
