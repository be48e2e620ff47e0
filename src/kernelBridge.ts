/**
 * All comm I/O with one notebook's kernel. Arms the comm when a Python kernel
 * is ready, again after a restart or a kernel change, and writes what the
 * kernel sends into the model.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { MemtrackModel } from './model';
import { PROTOCOL_VERSION, ProtocolError, helloMessage, parseKernelMessage } from './protocol';
import { COMM_TARGET } from './tokens';

/** Loads the kernel extension; silent, so it leaves no trace in the notebook. */
export const LOAD_EXTENSION_CODE = '%load_ext memtrack';

export interface IKernelBridgeOptions {
  sessionContext: ISessionContext;
  /** The notebook's key in the model. */
  key: string;
  model: MemtrackModel;
  /** Read at each (re)arm, so a settings change applies to the next kernel. */
  autoLoad: () => boolean;
  /** The frontend's version, sent in the hello message. */
  version: string;
}

export class KernelBridge implements IDisposable {
  constructor(options: IKernelBridgeOptions) {
    this._options = options;
    const { sessionContext } = options;
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    sessionContext.statusChanged.connect(this._onStatusChanged, this);
    sessionContext.iopubMessage.connect(this._onIopub, this);
    const kernel = sessionContext.session?.kernel;
    if (kernel) {
      void this._arm(kernel);
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._armToken += 1;
    this._closeComm();
    const { sessionContext } = this._options;
    sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    sessionContext.statusChanged.disconnect(this._onStatusChanged, this);
    sessionContext.iopubMessage.disconnect(this._onIopub, this);
  }

  /** Open the comm again (used after the user loads the extension by hand). */
  rearm(): void {
    const kernel = this._options.sessionContext.session?.kernel;
    if (kernel) {
      void this._arm(kernel);
    }
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { oldValue: Kernel.IKernelConnection | null; newValue: Kernel.IKernelConnection | null }
  ): void {
    const { model, key } = this._options;
    this._closeComm();
    if (change.oldValue) {
      model.markRestart(key);
    }
    if (change.newValue) {
      void this._arm(change.newValue);
    } else {
      this._armToken += 1;
      model.setStatus(key, 'no-kernel');
    }
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    const { model, key, sessionContext } = this._options;
    if (status === 'restarting' || status === 'autorestarting') {
      // The kernel's comms die with it; its history starts over.
      this._closeComm();
      this._armToken += 1;
      this._pendingArm = true;
      model.markRestart(key);
      model.setStatus(key, 'connecting', 'kernel restarting');
    } else if (status === 'idle' && this._pendingArm) {
      this._pendingArm = false;
      const kernel = sessionContext.session?.kernel;
      if (kernel) {
        void this._arm(kernel);
      }
    } else if (status === 'dead') {
      this._closeComm();
      model.setStatus(key, 'error', 'kernel is dead');
    }
  }

  /** After the user runs `%load_ext memtrack` themselves, connect. */
  private _onIopub(_: ISessionContext, msg: KernelMessage.IMessage): void {
    if (this._comm || this._arming) {
      return;
    }
    if (
      msg.header.msg_type === 'execute_input' &&
      String((msg.content as { code?: unknown }).code ?? '').includes('memtrack')
    ) {
      this._pendingArm = true;
    }
  }

  private async _arm(kernel: Kernel.IKernelConnection): Promise<void> {
    const { model, key, autoLoad, version } = this._options;
    const token = ++this._armToken;
    const stale = () => token !== this._armToken || this._isDisposed;
    this._closeComm();
    this._arming = true;
    model.setStatus(key, 'connecting');
    try {
      const info = await kernel.info;
      if (stale()) {
        return;
      }
      if (info.language_info.name !== 'python') {
        model.setStatus(
          key,
          'unsupported-kernel',
          `memtrack needs a Python kernel (this one runs ${info.language_info.name})`
        );
        return;
      }
      if (autoLoad()) {
        await kernel.requestExecute({
          code: LOAD_EXTENSION_CODE,
          silent: true,
          store_history: false,
          stop_on_error: false
        }).done;
        if (stale()) {
          return;
        }
      }
      const comm = kernel.createComm(COMM_TARGET);
      comm.onMsg = msg => this._onCommMessage(msg.content.data);
      comm.onClose = () => {
        if (this._comm === comm) {
          this._comm = null;
          // A close right after opening means the kernel has no such target.
          model.setStatus(
            key,
            'not-loaded',
            'run %load_ext memtrack in the notebook (or enable autoLoad)'
          );
        }
      };
      this._comm = comm;
      await comm.open(helloMessage(version)).done;
      if (!stale() && this._comm === comm) {
        model.setStatus(key, 'connected');
      }
    } catch (reason) {
      if (!stale()) {
        model.setStatus(key, 'error', String(reason));
      }
    } finally {
      if (token === this._armToken) {
        this._arming = false;
      }
    }
  }

  private _onCommMessage(data: unknown): void {
    const { model, key } = this._options;
    let message;
    try {
      message = parseKernelMessage(data);
    } catch (reason) {
      const text = reason instanceof ProtocolError ? reason.message : String(reason);
      console.warn(`jupyterlab-memtrack: rejected a kernel message: ${text}`);
      model.setStatus(key, 'error', text);
      this._comm?.send({ v: PROTOCOL_VERSION, type: 'error', message: text });
      return;
    }
    switch (message.type) {
      case 'history':
        model.replaceKernelHistory(key, message.records);
        model.setStatus(key, 'connected');
        break;
      case 'record':
        model.appendRecord(key, message.record);
        break;
      case 'reset':
        model.replaceKernelHistory(key, []);
        break;
      case 'error':
        console.warn(`jupyterlab-memtrack: the kernel said: ${message.message}`);
        break;
    }
  }

  private _closeComm(): void {
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // The kernel may already be gone; nothing to tell it.
      }
    }
  }

  private _options: IKernelBridgeOptions;
  private _comm: Kernel.IComm | null = null;
  private _armToken = 0;
  private _arming = false;
  private _pendingArm = false;
  private _isDisposed = false;
}
