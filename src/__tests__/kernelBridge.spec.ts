import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import * as path from 'path';

import { KernelBridge, REQUEST_TIMEOUT_MS, RequestTimeout } from '../kernelBridge';
import { MemtrackModel } from '../model';
import { IHistoryChange } from '../tokens';
import { readJson, sampleRecord } from './fixtures';

/**
 * jsdom has no kernel: the kernel is the one part stood in for, reduced to what
 * the bridge uses to connect (kernel_info, one comm); the comm's messages are
 * what the kernel would send.
 */
function pythonKernel() {
  const comm = {
    onMsg: null as ((msg: any) => void) | null,
    onClose: null as (() => void) | null,
    isDisposed: false,
    open: jest.fn(() => ({ done: Promise.resolve() })),
    send: jest.fn(),
    close: jest.fn()
  };
  const kernel = {
    connectionStatus: 'connected',
    isDisposed: false,
    requestKernelInfo: () =>
      Promise.resolve({ content: { status: 'ok', language_info: { name: 'python' } } }),
    createComm: jest.fn(() => comm)
  };
  const owner = {};
  const sessionContext = {
    kernelChanged: new Signal(owner),
    statusChanged: new Signal(owner),
    iopubMessage: new Signal(owner),
    session: { kernel: kernel as unknown as Kernel.IKernelConnection }
  } as unknown as ISessionContext;
  const kernelSends = (data: unknown) => comm.onMsg!({ content: { data } });
  return { comm, sessionContext, kernelSends };
}

describe('KernelBridge', () => {
  let model: MemtrackModel;
  let changes: IHistoryChange[];
  let bridge: KernelBridge;
  let kernelSends: (data: unknown) => void;

  beforeEach(async () => {
    model = new MemtrackModel();
    const kernel = pythonKernel();
    kernelSends = kernel.kernelSends;
    bridge = new KernelBridge({
      sessionContext: kernel.sessionContext,
      key: 'nb',
      model,
      autoLoad: () => false,
      autoTrack: () => 'off',
      version: '0.0.0'
    });
    for (let i = 0; i < 20 && model.status('nb').status !== 'connected'; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
    }
    expect(model.status('nb').status).toBe('connected');
    changes = [];
    model.changed.connect((_, change) => changes.push(change));
  });

  afterEach(() => bridge.dispose());

  it('adds a records batch to the model as one append', () => {
    const message = readJson(
      path.resolve(__dirname, '..', '..', 'schema', 'fixtures', 'valid', 'records.json')
    );
    kernelSends(message);
    expect(model.records('nb').map(r => r.seq)).toEqual(message.records.map((r: any) => r.seq));
    expect(changes).toEqual([{ key: 'nb', kind: 'append', count: message.records.length }]);
  });

  it("follows the kernel's tracking mode: its announcements and its history's mode", () => {
    expect(model.tracking('nb')).toBe('off');
    // `%memtrack on` typed in a cell: the kernel says so, whoever changed it.
    kernelSends({ v: 1, type: 'tracking', mode: 'light' });
    expect(model.tracking('nb')).toBe('light');
    kernelSends({ v: 1, type: 'tracking', mode: 'off' });
    expect(model.tracking('nb')).toBe('off');
    // A reloaded page: the history carries the mode the kernel is in.
    kernelSends({ v: 1, type: 'history', records: [], tracking: 'deep' });
    expect(model.tracking('nb')).toBe('deep');
    expect(changes.filter(change => change.kind === 'status').length).toBeGreaterThanOrEqual(3);
  });

  it('drops the records of a batch the model already has', () => {
    kernelSends({ v: 1, type: 'record', record: sampleRecord({ seq: 1 }) });
    kernelSends({
      v: 1,
      type: 'records',
      records: [1, 2, 3].map(seq => sampleRecord({ seq }))
    });
    expect(model.records('nb').map(r => r.seq)).toEqual([1, 2, 3]);
    expect(changes).toEqual([
      { key: 'nb', kind: 'append', count: 1 },
      { key: 'nb', kind: 'append', count: 2 }
    ]);
  });
});

describe('KernelBridge: live messages, the guard, deaths and earlier sessions', () => {
  let model: MemtrackModel;
  let bridge: KernelBridge;
  let kernel: ReturnType<typeof pythonKernel>;
  let guard: number | null;

  const connected = async () => {
    for (let i = 0; i < 20 && model.status('nb').status !== 'connected'; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
    }
    expect(model.status('nb').status).toBe('connected');
  };
  const fixture = (name: string) =>
    readJson(path.resolve(__dirname, '..', '..', 'schema', 'fixtures', 'valid', name));
  const kernelStatus = (status: string) =>
    (kernel.sessionContext.statusChanged as Signal<unknown, string>).emit(status);

  beforeEach(async () => {
    model = new MemtrackModel();
    kernel = pythonKernel();
    guard = 0.9;
    bridge = new KernelBridge({
      sessionContext: kernel.sessionContext,
      key: 'nb',
      model,
      autoLoad: () => false,
      autoTrack: () => 'off',
      version: '0.0.0',
      leakThreshold: () => 1_000_000,
      memoryGuard: () => guard
    });
    await connected();
  });

  afterEach(() => {
    bridge.dispose();
    model.live.dispose();
  });

  it('sends the guard with the leak threshold, again when it changes', () => {
    const configures = () =>
      kernel.comm.send.mock.calls.map(([m]: any[]) => m).filter((m: any) => m.type === 'configure');
    expect(configures()).toEqual([
      { v: 1, type: 'configure', leak_threshold: 1_000_000, guard: 0.9 }
    ]);
    bridge.sendConfiguration();
    expect(configures()).toHaveLength(1);
    guard = null;
    bridge.sendConfiguration();
    expect(configures().at(-1)).toEqual({
      v: 1,
      type: 'configure',
      leak_threshold: 1_000_000,
      guard: null
    });
  });

  it('feeds live messages to the live model', () => {
    kernel.kernelSends(fixture('live.json'));
    expect(model.live.state('nb')?.rss).toBe(1100000000);
    expect(model.live.limit('nb')?.source).toBe('cgroup-v1');
    kernel.kernelSends(fixture('live-done.json'));
    expect(model.live.state('nb')).toBeNull();
  });

  it('drops a bad live message with one warning, staying connected', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      kernel.comm.send.mockClear();
      const bad = { ...fixture('live.json'), state: 'paused' };
      expect(() => kernel.kernelSends(bad)).not.toThrow();
      kernel.kernelSends({ ...bad, v: 2 });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(model.status('nb').status).toBe('connected');
      expect(kernel.comm.send).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('shows the earlier sessions of a history before the current records', () => {
    kernel.kernelSends(fixture('history-earlier.json'));
    const entries = model.entries('nb');
    expect(entries.map(e => (e.kind === 'record' ? e.record.execution_count : e.kind))).toEqual([
      11,
      'restart',
      12
    ]);
    expect(entries[1]).toMatchObject({ died: true, cell: '[12]' });
    expect(model.kernelInfo('nb')?.guard).toBe(0.9);
    expect(model.live.limit('nb')?.bytes).toBe(2000000000);
  });

  it('marks a kernel the server restarted by itself as dead, and a restart as a restart', async () => {
    kernel.kernelSends({ v: 1, type: 'record', record: sampleRecord({ seq: 1 }) });
    // What services reports when the server restarts a dead kernel.
    kernelStatus('restarting');
    kernelStatus('autorestarting');
    expect(model.status('nb')).toEqual({
      status: 'connecting',
      detail: 'the kernel died; the server is restarting it'
    });
    expect(model.previousKernelEnd('nb')).toMatchObject({ died: true });
    kernelStatus('idle');
    await connected();
    kernel.kernelSends({
      v: 1,
      type: 'history',
      records: [fixture('record-died.json').record]
    });
    expect(model.previousKernelEnd('nb')).toMatchObject({ died: true, cell: '[12]' });
    // A restart the user asked for: services reports 'restarting' only.
    kernelStatus('restarting');
    expect(model.previousKernelEnd('nb')?.died).toBeUndefined();
    expect(model.status('nb').detail).toBe('kernel restarting');
  });
});

describe('KernelBridge: the variables request', () => {
  let model: MemtrackModel;
  let bridge: KernelBridge;
  let kernel: ReturnType<typeof pythonKernel>;
  const answer = readJson(
    path.resolve(__dirname, '..', '..', 'schema', 'fixtures', 'valid', 'variables_result.json')
  );
  const sent = () =>
    kernel.comm.send.mock.calls.map(([m]: any[]) => m).filter((m: any) => m.type === 'variables');

  beforeEach(async () => {
    model = new MemtrackModel();
    kernel = pythonKernel();
    bridge = new KernelBridge({
      sessionContext: kernel.sessionContext,
      key: 'nb',
      model,
      autoLoad: () => false,
      autoTrack: () => 'off',
      version: '0.0.0'
    });
    for (let i = 0; i < 20 && model.status('nb').status !== 'connected'; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
    }
    expect(model.status('nb').status).toBe('connected');
  });

  afterEach(() => {
    jest.useRealTimers();
    bridge.dispose();
  });

  it('sends the limit with a request id and resolves with the answer carrying it', async () => {
    const pending = bridge.variables(50);
    expect(sent()).toEqual([
      { v: 1, type: 'variables', request_id: expect.any(String), limit: 50 }
    ]);
    const id = sent()[0].request_id;
    // An answer to another request is not this one's.
    kernel.kernelSends({ ...answer, request_id: 'someone-else' });
    kernel.kernelSends({ ...answer, request_id: id });
    const result = await pending;
    expect(result.request_id).toBe(id);
    expect(result.variables.map(v => v.name)).toEqual(['df', '<img src=x onerror=alert(1)>', 't']);
    expect(result.pending).toBe(1);
    expect(model.status('nb').status).toBe('connected');
  });

  it("rejects with the kernel's error for the request", async () => {
    const pending = bridge.variables();
    expect(sent()[0]).not.toHaveProperty('limit');
    kernel.kernelSends({
      v: 1,
      type: 'error',
      message: "this kernel cannot answer 'variables' requests",
      request_id: sent()[0].request_id
    });
    await expect(pending).rejects.toThrow(/cannot answer 'variables'/);
  });

  it('rejects with a clear timeout when no answer comes', async () => {
    jest.useFakeTimers();
    const pending = bridge.variables(10);
    jest.advanceTimersByTime(REQUEST_TIMEOUT_MS.variables + 1);
    await expect(pending).rejects.toBeInstanceOf(RequestTimeout);
    await expect(pending).rejects.toThrow(/variables request within 30 s/);
    // A late answer is dropped without complaint.
    expect(() => kernel.kernelSends({ ...answer, request_id: sent()[0].request_id })).not.toThrow();
    expect(model.status('nb').status).toBe('connected');
  });

  it('rejects when the kernel closes the connection', async () => {
    const pending = bridge.variables();
    kernel.comm.onClose!();
    await expect(pending).rejects.toThrow(/closed the connection/);
  });

  it('rejects a malformed answer as a protocol error', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      void bridge.variables().catch(() => undefined);
      kernel.kernelSends({ ...answer, request_id: sent()[0].request_id, pending: -1 });
      expect(model.status('nb')).toEqual({
        status: 'error',
        detail: "variables_result message needs 'pending' as a non-negative integer"
      });
    } finally {
      warn.mockRestore();
    }
  });
});
