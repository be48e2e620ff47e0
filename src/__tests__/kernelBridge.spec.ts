import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import * as path from 'path';

import { KernelBridge } from '../kernelBridge';
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
