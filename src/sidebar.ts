/**
 * The right-sidebar panel: renders the current notebook's history from the
 * model. Builds DOM with textContent only, so user-controlled strings (labels,
 * type names) can never become markup.
 */
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { formatBytes, formatDelta, formatDuration, recordTitle } from './format';
import { MemtrackModel } from './model';
import { buildSeries, recordDelta } from './series';
import { BridgeStatus, IHistoryChange, IMemtrackModel, IMemtrackRecord } from './tokens';

export interface IMemtrackSidebarOptions {
  model: MemtrackModel;
  /** Scroll the notebook to a record's cell; false when it cannot be found. */
  revealCell: (key: string, record: IMemtrackRecord) => boolean;
  translator?: ITranslator;
}

/** Lazily loaded so that a closed panel never pays for plotly. */
type PlotModule = typeof import('./plot');

export class MemtrackSidebar extends Widget {
  constructor(options: IMemtrackSidebarOptions) {
    super();
    this._model = options.model;
    this._revealCell = options.revealCell;
    this._trans = (options.translator ?? nullTranslator).load('jupyterlab-memtrack');
    this.addClass('jp-Memtrack-sidebar');

    const header = document.createElement('div');
    header.className = 'jp-Memtrack-header';
    const title = document.createElement('h2');
    title.className = 'jp-Memtrack-title';
    title.textContent = this._trans.__('Memory');
    this._statusNode.className = 'jp-Memtrack-status';
    this._statusNode.setAttribute('role', 'status');
    header.append(title, this._statusNode);

    this._emptyNode.className = 'jp-Memtrack-empty';
    this._plotNode.className = 'jp-Memtrack-plot';
    this._plotNode.setAttribute('aria-hidden', 'true');
    this._table.className = 'jp-Memtrack-table';
    // The table scrolls sideways in a narrow sidebar instead of clipping columns.
    const tableScroller = document.createElement('div');
    tableScroller.className = 'jp-Memtrack-tableScroller';
    tableScroller.append(this._table);
    this.node.append(header, this._emptyNode, this._plotNode, tableScroller);

    this._model.changed.connect(this._onChanged, this);
    this._model.currentChanged.connect(this._invalidate, this);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onChanged, this);
    this._model.currentChanged.disconnect(this._invalidate, this);
    this._plot?.purgePlot(this._plotNode);
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this._dirty && this.isVisible) {
      void this._render();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this._dirty) {
      void this._render();
    }
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    if (this.isVisible && this._plot) {
      this._plot.resizePlot(this._plotNode);
    }
  }

  private _onChanged(_: IMemtrackModel, change: IHistoryChange): void {
    if (change.key === this._model.currentKey) {
      this._invalidate();
    }
  }

  /** Render now when visible; otherwise on the next show (a closed panel costs nothing). */
  private _invalidate(): void {
    this._dirty = true;
    if (this.isVisible) {
      void this._render();
    }
  }

  private async _render(): Promise<void> {
    this._dirty = false;
    const key = this._model.currentKey;
    const entries = this._model.entries(key);
    const series = buildSeries(entries);
    this._renderStatus(key);
    this._renderTable(key, series.records);

    const empty = series.records.length === 0;
    this._emptyNode.hidden = !empty;
    this._plotNode.hidden = empty;
    if (empty) {
      this._emptyNode.textContent =
        key === null
          ? this._trans.__('Open a notebook to see its memory history.')
          : this._trans.__('Run a cell with %%memtrack on its first line to record its memory.');
      return;
    }
    this._plot = this._plot ?? (await import('./plot'));
    await this._plot.renderPlot(this._plotNode, series, {
      onPointClick: index => {
        const record = buildSeries(this._model.entries(this._model.currentKey)).records[index];
        if (record && this._model.currentKey) {
          this._revealCell(this._model.currentKey, record);
        }
      }
    });
  }

  private _renderStatus(key: string | null): void {
    const { status, detail } = this._model.status(key);
    const text: Record<BridgeStatus, string> = {
      'no-kernel': this._trans.__('No kernel'),
      connecting: this._trans.__('Connecting to the kernel…'),
      connected: this._trans.__('Tracking'),
      'unsupported-kernel': this._trans.__('Not a Python kernel'),
      'not-loaded': this._trans.__('Kernel extension not loaded'),
      error: this._trans.__('Error')
    };
    this._statusNode.textContent = text[status];
    this._statusNode.title = detail;
    this._statusNode.dataset.status = status;
  }

  private _renderTable(key: string | null, records: IMemtrackRecord[]): void {
    const table = this._table;
    table.replaceChildren();
    if (records.length === 0) {
      table.hidden = true;
      return;
    }
    table.hidden = false;
    const caption = document.createElement('caption');
    caption.textContent = this._trans.__('Tracked cells');
    const head = document.createElement('thead');
    const headRow = document.createElement('tr');
    for (const name of [
      this._trans.__('Cell'),
      this._trans.__('Delta'),
      this._trans.__('Peak'),
      this._trans.__('RSS'),
      this._trans.__('Time')
    ]) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = name;
      headRow.append(th);
    }
    head.append(headRow);
    const body = document.createElement('tbody');
    for (const record of records) {
      const row = document.createElement('tr');
      row.className = 'jp-Memtrack-row';
      row.tabIndex = 0;
      const delta = recordDelta(record);
      if (delta !== null) {
        row.dataset.sign = delta > 0 ? 'grow' : delta < 0 ? 'release' : 'flat';
      }
      const cells = [
        recordTitle(record),
        formatDelta(delta),
        formatBytes(record.traced_peak ?? record.rss_peak),
        formatBytes(record.rss_after),
        formatDuration(record.duration_s)
      ];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        row.append(td);
      }
      if (record.error) {
        row.title = this._trans.__('The cell raised %1', record.error);
      }
      const reveal = () => {
        if (key !== null) {
          this._revealCell(key, record);
        }
      };
      row.addEventListener('click', reveal);
      row.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          reveal();
        }
      });
      body.append(row);
    }
    table.append(caption, head, body);
  }

  private _model: MemtrackModel;
  private _revealCell: (key: string, record: IMemtrackRecord) => boolean;
  private _trans: TranslationBundle;
  private _plot: PlotModule | null = null;
  private _dirty = true;
  private _statusNode = document.createElement('span');
  private _emptyNode = document.createElement('p');
  private _plotNode = document.createElement('div');
  private _table = document.createElement('table');
}
