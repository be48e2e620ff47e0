/**
 * All comm I/O with one notebook's kernel. Arms the comm when a Python kernel
 * is ready, again after a restart or a kernel change, and writes what the
 * kernel sends into the model.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { UUID } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';

import { MemtrackModel } from './model';
import {
  IExportResult,
  IReleaseResult,
  IVariablesResult,
  IWhyResult,
  KernelExportFormat,
  PROTOCOL_VERSION,
  ProtocolError,
  configureMessage,
  exportMessage,
  helloMessage,
  parseKernelMessage,
  releaseMessage,
  variablesMessage,
  whyMessage
} from './protocol';
import { COMM_TARGET, TrackingMode } from './tokens';

/** Loads the kernel extension; silent, so it leaves no trace in the notebook. */
export const LOAD_EXTENSION_CODE = '%load_ext memtrack';

const TRACKING_CODE: Record<TrackingMode, string> = {
  off: '%memtrack off',
  light: '%memtrack on',
  deep: '%memtrack on --deep'
};

/** Rejects with this when a kernel request gets no answer in time. */
class KernelTimeout extends Error {}

/** Kernel requests sent while a restart settles can be lost: bound each wait. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer = 0;
  const timeout = new Promise<never>((_, reject) => {
    timer = window.setTimeout(
      () => reject(new KernelTimeout(`no answer to ${what} in ${ms / 1000} s`)),
      ms
    );
  });
  return Promise.race([promise, timeout]).finally(() => window.clearTimeout(timer));
}

/** Tries to arm before giving up; the kernel may still be settling after a restart. */
const ARM_ATTEMPTS = 5;

/**
 * Seconds the kernel may search for a referrer chain: the user clicked and
 * waits, so more than `%memtrack leaks --why`'s 0.3 s, but the kernel is
 * blocked meanwhile.
 */
export const WHY_BUDGET_S = 1;

/**
 * How long a request may wait for its answer. The kernel answers comm
 * messages only between cells, so a long-running cell delays it.
 */
export const REQUEST_TIMEOUT_MS = {
  why: 20_000,
  release: 30_000,
  export: 60_000,
  variables: 30_000
};

/** Rejects a request whose answer did not come in time; the text says why. */
export class RequestTimeout extends Error {
  constructor(what: string, ms: number) {
    super(
      `the kernel did not answer the ${what} request within ${ms / 1000} s (a running cell delays it)`
    );
    this.name = 'RequestTimeout';
  }
}

/** What the leak sidebar asks the kernel; KernelBridge implements it. */
export interface ILeakRequests {
  /** Why the value `name` names is alive. */
  whyAlive(name: string): Promise<IWhyResult>;
  /** `%memtrack release TARGET`; dryRun only reports what it would do. */
  release(target: string, dryRun: boolean): Promise<IReleaseResult>;
}

/** What the variables section asks the kernel, besides why and release; KernelBridge implements it. */
export interface IVariableRequests extends ILeakRequests {
  /** The largest live variables now (at most `limit`, the kernel's default when undefined). */
  variables(limit?: number): Promise<IVariablesResult>;
}

interface IPending {
  resolve: (value: any) => void;
  reject: (reason: Error) => void;
  timer: number;
  type: 'why_result' | 'release_result' | 'export_result' | 'variables_result';
}

/** What each request is called in messages to the user. */
const REQUEST_NAMES: Record<IPending['type'], string> = {
  why_result: 'why',
  release_result: 'release',
  export_result: 'export',
  variables_result: 'variables'
};

/** Resolves once the kernel's websocket is connected (or the kernel is gone). */
function connectedKernel(kernel: Kernel.IKernelConnection): Promise<void> {
  if (kernel.connectionStatus === 'connected' || kernel.isDisposed) {
    return Promise.resolve();
  }
  return new Promise(resolve => {
    const done = () => {
      kernel.connectionStatusChanged.disconnect(onStatus);
      kernel.disposed.disconnect(done);
      resolve();
    };
    const onStatus = (_: Kernel.IKernelConnection, status: Kernel.ConnectionStatus) => {
      if (status === 'connected') {
        done();
      }
    };
    kernel.connectionStatusChanged.connect(onStatus);
    kernel.disposed.connect(done);
  });
}

export interface IKernelBridgeOptions {
  sessionContext: ISessionContext;
  /** The notebook's key in the model. */
  key: string;
  model: MemtrackModel;
  /** Read at each (re)arm, so a settings change applies to the next kernel. */
  autoLoad: () => boolean;
  /** Tracking of every cell to start when a kernel connects. */
  autoTrack: () => TrackingMode;
  /** The frontend's version, sent in the hello message. */
  version: string;
  /** The leakThreshold setting, sent to the kernel when the comm opens and on change. */
  leakThreshold?: () => number;
  /** The memoryGuard setting as a share of the memory limit (null: off), sent with it. */
  memoryGuard?: () => number | null;
}

export class KernelBridge implements IDisposable, IVariableRequests {
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
    this._rejectAll('the notebook was closed');
    this._closeComm();
    const { sessionContext } = this._options;
    sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    sessionContext.statusChanged.disconnect(this._onStatusChanged, this);
    sessionContext.iopubMessage.disconnect(this._onIopub, this);
  }

  /**
   * Track every cell (light or deep) or stop. Runs the line magic silently, so
   * the notebook's history and execution count are untouched. The kernel
   * announces the new mode (a 'tracking' message), as it does whatever changed
   * it: the model follows that, so the button and the palette never contradict
   * a `%memtrack on` typed in a cell.
   */
  async setTracking(mode: TrackingMode): Promise<void> {
    const kernel = this._options.sessionContext.session?.kernel;
    if (!kernel || !this._comm) {
      throw new Error('the memtrack kernel extension is not connected');
    }
    await this._runSilently(kernel, TRACKING_CODE[mode]);
  }

  /** Ask the kernel to forget its history; the model follows its reset message. */
  resetKernelHistory(): void {
    this._comm?.send({ v: PROTOCOL_VERSION, type: 'reset' });
  }

  /**
   * Send the leak threshold and guard settings to the kernel if either changed
   * since they were last sent on this comm (the kernel's defaults: 1 MB, no guard).
   */
  sendConfiguration(): void {
    const threshold = this._options.leakThreshold?.();
    const guard = this._options.memoryGuard?.();
    if (!this._comm || threshold === undefined) {
      return;
    }
    if (threshold === this._sentThreshold && guard === this._sentGuard) {
      return;
    }
    this._comm.send(configureMessage(threshold, guard));
    this._sentThreshold = threshold;
    this._sentGuard = guard;
  }

  whyAlive(name: string): Promise<IWhyResult> {
    return this._request('why_result', REQUEST_TIMEOUT_MS.why, id =>
      whyMessage(id, name, WHY_BUDGET_S)
    );
  }

  release(target: string, dryRun: boolean): Promise<IReleaseResult> {
    return this._request('release_result', REQUEST_TIMEOUT_MS.release, id =>
      releaseMessage(id, target, dryRun)
    );
  }

  /**
   * The largest live variables and their deep sizes. The kernel answers between
   * cells: a running cell delays the answer (up to REQUEST_TIMEOUT_MS.variables).
   */
  variables(limit?: number): Promise<IVariablesResult> {
    return this._request('variables_result', REQUEST_TIMEOUT_MS.variables, id =>
      variablesMessage(id, limit)
    );
  }

  /** The kernel's report of its history (`%memtrack export`), as the file's text. */
  exportReport(format: KernelExportFormat): Promise<IExportResult> {
    return this._request('export_result', REQUEST_TIMEOUT_MS.export, id =>
      exportMessage(id, format)
    );
  }

  /** Send one request; resolves with the answer carrying its request id. */
  private _request<T>(
    type: IPending['type'],
    timeoutMs: number,
    build: (requestId: string) => ReturnType<typeof whyMessage>
  ): Promise<T> {
    const comm = this._comm;
    if (!comm) {
      return Promise.reject(new Error('the memtrack kernel extension is not connected'));
    }
    const id = UUID.uuid4();
    return new Promise<T>((resolve, reject) => {
      const what = REQUEST_NAMES[type];
      const timer = window.setTimeout(() => {
        this._pending.delete(id);
        reject(new RequestTimeout(what, timeoutMs));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer, type });
      try {
        comm.send(build(id));
      } catch (reason) {
        this._settle(id)?.reject(new Error(`could not send the ${what} request: ${reason}`));
      }
    });
  }

  /** Forget a pending request and return it (undefined when unknown or settled). */
  private _settle(id: string | undefined): IPending | undefined {
    const pending = id === undefined ? undefined : this._pending.get(id);
    if (pending) {
      window.clearTimeout(pending.timer);
      this._pending.delete(id!);
    }
    return pending;
  }

  private _rejectAll(reason: string): void {
    for (const id of [...this._pending.keys()]) {
      this._settle(id)?.reject(new Error(reason));
    }
  }

  private async _runSilently(kernel: Kernel.IKernelConnection, code: string): Promise<void> {
    const reply = await kernel.requestExecute({
      code,
      silent: true,
      store_history: false,
      stop_on_error: false
    }).done;
    if (reply.content.status !== 'ok') {
      const content = reply.content as { ename?: string; evalue?: string };
      throw new Error(`${content.ename ?? 'error'}: ${content.evalue ?? code}`);
    }
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
      if (status === 'autorestarting') {
        // The server restarts a kernel by itself only when the process died (a crash,
        // the OOM killer, a kill): the separator reads as a death. Its 'restarting'
        // status came just before (services reports both), so a plain restart
        // separator is there already: markDeath relabels it.
        model.markDeath(key);
        model.setStatus(key, 'connecting', 'the kernel died; the server is restarting it');
      } else {
        model.markRestart(key);
        model.setStatus(key, 'connecting', 'kernel restarting');
      }
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

  private async _arm(kernel: Kernel.IKernelConnection, attempt = 1): Promise<void> {
    const { model, key, autoLoad, autoTrack, version } = this._options;
    const token = ++this._armToken;
    const stale = () => token !== this._armToken || this._isDisposed;
    this._closeComm();
    this._arming = true;
    model.setStatus(key, 'connecting');
    try {
      await connectedKernel(kernel);
      if (stale()) {
        return;
      }
      // A fresh request rather than `kernel.info`: after a restart that promise
      // can belong to the kernel's previous life and never settle.
      const reply = await withTimeout(kernel.requestKernelInfo(), 5000, 'kernel_info');
      if (stale()) {
        return;
      }
      const info = reply?.content;
      if (!info || info.status !== 'ok') {
        model.setStatus(key, 'error', 'the kernel did not answer kernel_info');
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
        try {
          await withTimeout(
            this._runSilently(kernel, LOAD_EXTENSION_CODE),
            30_000,
            LOAD_EXTENSION_CODE
          );
        } catch (reason) {
          if (reason instanceof KernelTimeout) {
            throw reason;
          }
          // Not installed in this kernel's environment: say so, don't open the comm.
          if (!stale()) {
            model.setStatus(
              key,
              'not-loaded',
              `could not load the kernel extension (${reason}); pip install jupyterlab-memtrack in the kernel's environment`
            );
          }
          return;
        }
        if (stale()) {
          return;
        }
      }
      const comm = kernel.createComm(COMM_TARGET);
      comm.onMsg = msg => this._onCommMessage(msg.content.data);
      comm.onClose = () => {
        if (this._comm === comm) {
          this._comm = null;
          this._rejectAll('the kernel closed the connection');
          // A close right after opening means the kernel has no such target.
          model.setStatus(
            key,
            'not-loaded',
            'run %load_ext memtrack in the notebook (or enable autoLoad)'
          );
        }
      };
      this._comm = comm;
      // Until the kernel's history says its mode (a new process, or one tracking already).
      model.setTracking(key, 'off');
      this._sentThreshold = null;
      this._sentGuard = undefined;
      await withTimeout(comm.open(helloMessage(version)).done, 10_000, 'comm open');
      if (!stale() && this._comm === comm) {
        this.sendConfiguration();
        model.setStatus(key, 'connected');
        const mode = autoTrack();
        if (mode !== 'off') {
          await this.setTracking(mode);
        }
      }
    } catch (reason) {
      if (stale()) {
        return;
      }
      if (reason instanceof KernelTimeout && attempt < ARM_ATTEMPTS) {
        // Try again with a fresh token: this attempt's requests are lost.
        window.setTimeout(() => {
          if (!stale()) {
            void this._arm(kernel, attempt + 1);
          }
        }, 500);
        return;
      }
      model.setStatus(key, 'error', String(reason));
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
      if ((data as { type?: unknown } | null)?.type === 'live') {
        // Live messages come 5 times a second and only feed the live view: one
        // bad one is dropped with a warning, the connection stays as it is.
        if (!this._warnedLive) {
          this._warnedLive = true;
          console.warn(`jupyterlab-memtrack: ignored a live message: ${text}`);
        }
        return;
      }
      console.warn(`jupyterlab-memtrack: rejected a kernel message: ${text}`);
      model.setStatus(key, 'error', text);
      this._comm?.send({ v: PROTOCOL_VERSION, type: 'error', message: text });
      return;
    }
    switch (message.type) {
      case 'history':
        model.setKernelInfo(key, message.kernel ?? null);
        model.replaceKernelHistory(key, message.records, message.earlier ?? []);
        if (message.tracking) {
          // A reloaded page shows what the kernel does, not what this page last asked for.
          model.setTracking(key, message.tracking);
        }
        model.setStatus(key, 'connected');
        break;
      case 'tracking':
        model.setTracking(key, message.mode);
        break;
      case 'record':
        model.appendRecord(key, message.record);
        break;
      case 'records':
        model.appendRecords(key, message.records);
        break;
      case 'reset':
        model.replaceKernelHistory(key, []);
        break;
      case 'live':
        model.live.update(key, message);
        break;
      case 'error': {
        const pending = this._settle(message.request_id);
        if (pending) {
          pending.reject(new Error(message.message));
        } else {
          console.warn(`jupyterlab-memtrack: the kernel said: ${message.message}`);
        }
        break;
      }
      case 'why_result':
      case 'release_result':
      case 'export_result':
      case 'variables_result': {
        // An answer nobody waits for any more (timed out) is dropped.
        const pending = this._pending.get(message.request_id);
        if (pending?.type === message.type) {
          this._settle(message.request_id)!.resolve(message);
        }
        break;
      }
    }
  }

  private _closeComm(): void {
    const comm = this._comm;
    this._comm = null;
    this._rejectAll('the kernel connection closed');
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
  private _pending = new Map<string, IPending>();
  private _sentThreshold: number | null = null;
  private _sentGuard: number | null | undefined = undefined;
  /** A bad live message is reported once per page: they come 5 times a second. */
  private _warnedLive = false;
}
