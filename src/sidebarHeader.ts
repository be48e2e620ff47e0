/**
 * The sidebar's header: its title, where the connection to the kernel
 * extension stands, and how the previous kernel process ended (restarted, or
 * died during which cell), so that a kernel the server restarted after a
 * crash does not look as if nothing happened.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { clockTime } from './liveLine';
import { startedAtMs } from './record';
import { BridgeStatus, HistoryEntry } from './tokens';

export type SeparatorEntry = Extract<HistoryEntry, { kind: 'restart' }>;

export class SidebarHeader {
  readonly node = document.createElement('div');

  constructor(trans: TranslationBundle) {
    this._trans = trans;
    this.node.className = 'jp-Memtrack-header';
    const title = document.createElement('h2');
    title.className = 'jp-Memtrack-title';
    title.textContent = trans.__('Memory');
    this._status.className = 'jp-Memtrack-status';
    this._status.setAttribute('role', 'status');
    this._kernelEnd.className = 'jp-Memtrack-kernelEnd';
    // Its own status: read out once, when a restart or a death is noticed.
    this._kernelEnd.setAttribute('role', 'status');
    this._kernelEnd.hidden = true;
    this.node.append(title, this._status, this._kernelEnd);
  }

  /** The connection's state (its text is exactly one of the fixed strings: tests wait on it). */
  renderStatus(status: BridgeStatus, detail: string): void {
    const t = this._trans;
    const text: Record<BridgeStatus, string> = {
      'no-kernel': t.__('No kernel'),
      connecting: t.__('Connecting to the kernel…'),
      connected: t.__('Connected'),
      'unsupported-kernel': t.__('Not a Python kernel'),
      'not-loaded': t.__('Kernel extension not loaded'),
      error: t.__('Error')
    };
    this._status.textContent = text[status];
    this._status.title = detail;
    this._status.dataset.status = status;
  }

  /** How the previous kernel process ended; null: this is the notebook's first (or only saved runs). */
  renderKernelEnd(separator: SeparatorEntry | null): void {
    const node = this._kernelEnd;
    node.hidden = separator === null;
    if (separator === null) {
      node.textContent = '';
      delete node.dataset.kind;
      return;
    }
    const t = this._trans;
    const ms = startedAtMs({ started_at: separator.at });
    const at = ms === 0 ? '' : clockTime(ms);
    node.dataset.kind = separator.died ? 'died' : 'restart';
    node.textContent = !separator.died
      ? t.__('Kernel restarted %1', at)
      : separator.cell
        ? t.__('Kernel died during %1 (restarted %2)', separator.cell, at)
        : t.__('Kernel died (restarted %1)', at);
  }

  private _trans: TranslationBundle;
  private _status = document.createElement('span');
  private _kernelEnd = document.createElement('span');
}
