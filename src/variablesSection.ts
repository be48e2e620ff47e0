/**
 * The variables section as the sidebar uses it: its state (VariablesModel) and
 * its view (VariableList), fed by the history's changes and asked for only
 * while the section is open, the panel shown and the notebook's kernel
 * connected (becoming so asks at once).
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { Units } from './format';
import type { IVariableRequests } from './kernelBridge';
import { IHistoryChange, IMemtrackModel } from './tokens';
import { VariableList } from './variableList';
import { VariablesModel } from './variablesModel';

export interface IVariablesSectionOptions {
  model: IMemtrackModel;
  trans: TranslationBundle;
  /** The kernel requests of a notebook; undefined when it has none. */
  requests?: (key: string) => IVariableRequests | undefined;
}

export class VariablesSection {
  constructor(options: IVariablesSectionOptions) {
    const { model, trans, requests } = options;
    this._model = model;
    const current = () => {
      const key = model.currentKey;
      return key === null ? undefined : requests?.(key);
    };
    this.state = new VariablesModel({
      // Asked only of a connected kernel: anything else says "not connected" at once.
      requests: () => (this._connected() ? current() : undefined)
    });
    this.view = new VariableList({
      model: this.state,
      trans,
      requests: current,
      onToggle: () => this._sync()
    });
  }

  readonly state: VariablesModel;
  readonly view: VariableList;

  get node(): HTMLElement {
    return this.view.node;
  }

  /** The panel was shown or hidden. */
  setVisible(visible: boolean): void {
    this._visible = visible;
    if (visible) {
      this.view.refreshWindow();
    }
    this._sync();
  }

  /** The current notebook's history changed (records, a restart, its connection). */
  onHistoryChanged(change: IHistoryChange): void {
    if (change.kind === 'restart') {
      // A new kernel process: the old namespace is gone.
      this.state.reset();
    } else if (change.kind === 'append' || change.kind === 'replace') {
      this.state.recordArrived();
    }
    this._sync();
  }

  /** Another notebook is current. */
  onCurrentChanged(): void {
    this.state.reset();
    this._sync();
  }

  render(units: Units): void {
    this.view.render(units);
  }

  refreshWindow(): void {
    this.view.refreshWindow();
  }

  dispose(): void {
    this.view.dispose();
    this.state.dispose();
  }

  private _connected(): boolean {
    const key = this._model.currentKey;
    return key !== null && this._model.status(key).status === 'connected';
  }

  private _sync(): void {
    const connected = this._connected();
    this.node.hidden = !connected && this.state.result === null;
    this.state.setActive(connected && this._visible && this.view.expanded);
  }

  private _model: IMemtrackModel;
  private _visible = false;
}
