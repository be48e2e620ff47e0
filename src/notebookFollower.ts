/**
 * Follows every open notebook: one kernel bridge each, the active one made
 * current in the model, cell lookup for click-to-cell, and the runs saved in
 * cell metadata (read on open, written while the cellMetadata setting is on).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

import { CellMetadataSync, IMetadataCell, seedFromCells } from './cellMetadata';
import { IKernelBridgeOptions, KernelBridge } from './kernelBridge';

/**
 * The bridge's settings, passed on to each notebook's bridge (the session and
 * key are the follower's to give), and the notebooks to follow.
 */
export interface INotebookFollowerOptions extends Omit<
  IKernelBridgeOptions,
  'sessionContext' | 'key'
> {
  notebooks: INotebookTracker;
  /** The cellMetadata setting: save each cell's runs in its metadata (off when absent). */
  cellMetadata?: () => boolean;
}

export class NotebookFollower implements IDisposable {
  constructor(options: INotebookFollowerOptions) {
    this._options = options;
    const { notebooks } = options;
    this._metadata = new CellMetadataSync({
      model: options.model,
      cells: key => this._cells(key),
      enabled: options.cellMetadata ?? (() => false)
    });
    notebooks.forEach(panel => this._follow(panel));
    notebooks.widgetAdded.connect((_, panel) => this._follow(panel), this);
    notebooks.currentChanged.connect(this._onCurrentChanged, this);
    this._onCurrentChanged();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._options.notebooks.currentChanged.disconnect(this._onCurrentChanged, this);
    this._metadata.dispose();
    for (const bridge of this._bridges.values()) {
      bridge.dispose();
    }
    this._bridges.clear();
  }

  /** The kernel bridge of a notebook, if it is open. */
  bridge(key: string | null): KernelBridge | undefined {
    return key === null ? undefined : this._bridges.get(key);
  }

  /** Send changed settings (the leak threshold, the guard) to every connected kernel. */
  sendConfiguration(): void {
    for (const bridge of this._bridges.values()) {
      bridge.sendConfiguration();
    }
  }

  /** The notebook panel of a key, if it is open. */
  panel(key: string | null): NotebookPanel | undefined {
    return this._options.notebooks.find(p => NotebookFollower.keyOf(p) === key) ?? undefined;
  }

  /** The model key of a notebook panel. */
  static keyOf(panel: NotebookPanel): string {
    return panel.id;
  }

  /**
   * Scroll the notebook to the cell with this id and select it. Returns false
   * when the cell no longer exists (deleted, or the record predates a reload).
   */
  revealCell(key: string, cellId: string | null): boolean {
    if (!cellId) {
      return false;
    }
    const panel = this.panel(key);
    if (!panel) {
      return false;
    }
    const notebook = panel.content;
    const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
    if (index < 0) {
      return false;
    }
    notebook.activeCellIndex = index;
    const cell = notebook.widgets[index];
    void notebook.scrollToItem(index, 'center');
    cell.node.classList.add('jp-Memtrack-flash');
    window.setTimeout(() => cell.node.classList.remove('jp-Memtrack-flash'), 1200);
    return true;
  }

  private _follow(panel: NotebookPanel): void {
    const key = NotebookFollower.keyOf(panel);
    if (this._bridges.has(key)) {
      return;
    }
    const { model, autoLoad, autoTrack, version, leakThreshold, memoryGuard } = this._options;
    const bridge = new KernelBridge({
      sessionContext: panel.sessionContext,
      key,
      model,
      autoLoad,
      autoTrack,
      version,
      leakThreshold,
      memoryGuard
    });
    this._bridges.set(key, bridge);
    // Saved runs are shown whatever the setting: reading them costs nothing.
    panel.context.ready
      .then(() => {
        if (!panel.isDisposed) {
          seedFromCells(model, key, panel.context.model.cells);
        }
      })
      .catch(() => undefined); // a notebook that fails to load says so itself
    panel.disposed.connect(() => {
      bridge.dispose();
      this._bridges.delete(key);
      model.remove(key);
    });
  }

  /** The cells of an open notebook whose content is loaded. */
  private _cells(key: string): Iterable<IMetadataCell> | null {
    const panel = this.panel(key);
    return panel && panel.context.isReady ? panel.context.model.cells : null;
  }

  private _onCurrentChanged(): void {
    const panel = this._options.notebooks.currentWidget;
    this._options.model.setCurrent(panel ? NotebookFollower.keyOf(panel) : null);
  }

  private _options: INotebookFollowerOptions;
  private _bridges = new Map<string, KernelBridge>();
  private _metadata: CellMetadataSync;
  private _isDisposed = false;
}
