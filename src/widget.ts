/**
 * The notebook-output view of `memtrack.widget()` (python_ext/memtrack/shell/widget.py): the
 * memory plot and a compact table of the last cells, for frontends without the sidebar. The
 * kernel sends the last records as the widget's `records` state, then each new record alone in
 * an `append` message. Byte units and the plotted metric follow the user's settings (the
 * sidebar's), set by the widget plugin with setWidgetSettings. Text goes into the DOM with
 * textContent only, so user-controlled labels never become markup.
 */
import { DOMWidgetModel, DOMWidgetView, IBackboneModelOptions } from '@jupyter-widgets/base';
import { nullTranslator } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';

import {
  formatBytes,
  formatDelta,
  formatDuration,
  MISSING,
  recordTitle,
  sizeClass
} from './format';
import { formatGpuPeak } from './gpuFigures';
import {
  columnHelp,
  metricName,
  missingReason,
  plotTitle,
  releaseSummary,
  resolveMetric
} from './metric';
import { validateRecord } from './protocol';
import { IMemtrackRecord, isReleaseRecord, Metric, recordDelta, recordPeak } from './record';
import { buildSeries } from './series';
import { DEFAULT_SETTINGS, IMemtrackSettings } from './settings';
import { VERSION } from './version';

/** The ipywidgets module name and version the kernel asks for (`_model_module`...). */
export const MODULE_NAME = 'jupyterlab-memtrack';
/**
 * The package's version (package.json): the kernel asks for its own version, which
 * comes from the same file, so the two always match.
 */
export const MODULE_VERSION = VERSION;

/** Rows in the table: the newest tracked cells. */
export const TABLE_ROWS = 10;

type PlotModule = typeof import('./plot');

let plotModule: Promise<PlotModule> | null = null;

/** plotly is a large chunk of its own: fetched when the first widget has records to draw. */
function loadPlot(): Promise<PlotModule> {
  plotModule = plotModule ?? import('./plot');
  return plotModule;
}

/** Views on the page, redrawn when the theme or the settings change (the plot reads its
 * colours when drawn). */
const liveViews = new Set<MemtrackWidgetView>();

/** The settings every view draws with: the plugin's, once loaded. */
let widgetSettings: Readonly<IMemtrackSettings> = DEFAULT_SETTINGS;

/**
 * Draw every widget view with these settings (byteUnits, metric, maxPoints), now and from now
 * on. A change of any other setting redraws nothing.
 */
export function setWidgetSettings(settings: Readonly<IMemtrackSettings>): void {
  const before = widgetSettings;
  widgetSettings = { ...settings };
  if (
    before.byteUnits === settings.byteUnits &&
    before.metric === settings.metric &&
    before.maxPoints === settings.maxPoints
  ) {
    return;
  }
  for (const view of liveViews) {
    view.redrawAll();
  }
}

/** Draw every widget's plot again, e.g. with the new theme's colours. */
export function redrawWidgetPlots(): void {
  for (const view of liveViews) {
    view.redrawPlot();
  }
}

/** The well-formed records of a list from the kernel (a bad one is skipped, not drawn half). */
export function validRecords(value: unknown): IMemtrackRecord[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const records: IMemtrackRecord[] = [];
  for (const item of value) {
    try {
      records.push(validateRecord(item));
    } catch (reason) {
      console.warn('jupyterlab-memtrack: widget record skipped:', reason);
    }
  }
  return records;
}

/** Fired on the model when `history` changed. */
export const HISTORY_CHANGED = 'memtrack:history';

export class MemtrackWidgetModel extends DOMWidgetModel {
  defaults(): Record<string, unknown> {
    return {
      ...super.defaults(),
      _model_name: 'MemtrackWidgetModel',
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_name: 'MemtrackWidgetView',
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
      records: [],
      max_records: 500
    };
  }

  initialize(attributes: any, options: IBackboneModelOptions): void {
    super.initialize(attributes, options);
    // Backbone calls initialize from its constructor, before class fields are set: no
    // field initializers here, the state is set up in this method.
    this._history = validRecords(this.get('records'));
    this.on('change:records', () => this._setHistory(validRecords(this.get('records'))));
    this.on('msg:custom', (content: unknown) => this._onMessage(content));
  }

  /** The records to show: the kernel's `records` state and the records appended since. */
  get history(): readonly IMemtrackRecord[] {
    return this._history;
  }

  private _onMessage(content: unknown): void {
    const message = content as { type?: unknown; record?: unknown } | null;
    if (message?.type !== 'append') {
      return;
    }
    const [record] = validRecords([message.record]);
    if (!record) {
      return;
    }
    // State updates are applied asynchronously, custom messages at once: queue the append
    // behind any update the kernel sent before it (a reset, the first state).
    this.state_change = this.state_change.then(() => {
      const max = Math.max(1, Number(this.get('max_records')) || 1);
      this._setHistory([...this._history, record].slice(-max));
    });
  }

  private _setHistory(records: IMemtrackRecord[]): void {
    this._history = records;
    this.trigger(HISTORY_CHANGED);
  }

  private _history!: IMemtrackRecord[];
}

/** The widget has no translator of its own: its words are the sidebar's, untranslated. */
const trans = nullTranslator.load('jupyterlab-memtrack');

const COLUMNS: { title: string; numeric: boolean; help?: 'delta' | 'peak' }[] = [
  { title: '#', numeric: true },
  { title: 'Cell', numeric: false },
  { title: 'Delta', numeric: true, help: 'delta' },
  { title: 'Peak', numeric: true, help: 'peak' },
  { title: 'Time', numeric: true }
];

/** A Delta or Peak cell: the figure, or "—" with why the record lacks it. */
function figureCell(record: IMemtrackRecord, metric: Metric, which: 'delta' | 'peak') {
  const units = widgetSettings.byteUnits;
  const value = which === 'delta' ? recordDelta(record, metric) : recordPeak(record, metric);
  if (value === null) {
    return { text: MISSING, title: missingReason(record, metric, which, trans) };
  }
  return {
    text:
      which === 'delta'
        ? formatDelta(value, units)
        : metric === 'gpu'
          ? formatGpuPeak(record, units) // "≥" where a device's peak is only bounded
          : formatBytes(value, units),
    title: `${metricName(metric, trans)} ${which}`
  };
}

export class MemtrackWidgetView extends DOMWidgetView {
  render(): void {
    this.el.classList.add('jp-Memtrack-widget');
    this._summary.className = 'jp-Memtrack-widgetSummary';
    this._plotNode.className = 'jp-Memtrack-widgetPlot';
    // The table carries the same information as text.
    this._plotNode.setAttribute('aria-hidden', 'true');
    this._table.className = 'jp-Memtrack-widgetTable';
    this.el.replaceChildren(this._summary, this._plotNode, this._table);
    liveViews.add(this);
    this.listenTo(this.model, HISTORY_CHANGED, () => this._refresh());
    this._refresh();
    // plotly sizes the plot from its node: draw once the view is in the page.
    void this.displayed.then(() => {
      this._shown = true;
      this.redrawPlot();
    });
  }

  /** The metric of the table and the plot: the sidebar's setting, 'auto' resolved on these records. */
  private get _metric(): Metric {
    return resolveMetric(widgetSettings.metric, this._records);
  }

  /** New records from the kernel: the table now, the plot when shown. */
  private _refresh(): void {
    this._records = (this.model as MemtrackWidgetModel).history;
    this._renderTable();
    this.redrawPlot();
  }

  redrawPlot(): void {
    this._plotDirty = true;
    void this._drawPlot();
  }

  /** The table and the plot again, e.g. in other byte units. */
  redrawAll(): void {
    this._renderTable();
    this.redrawPlot();
  }

  processLuminoMessage(msg: Message): void {
    super.processLuminoMessage(msg);
    if ((msg.type === 'resize' || msg.type === 'after-show') && this._plot) {
      this._plot.resizePlot(this._plotNode);
    }
  }

  remove(): any {
    this._removed = true;
    liveViews.delete(this);
    this._plot?.purgePlot(this._plotNode);
    return super.remove();
  }

  private _renderTable(): void {
    const records = this._records;
    const empty = records.length === 0;
    const shown = records.slice(-TABLE_ROWS);
    this._summary.textContent = empty
      ? 'memtrack: no tracked cells yet. Run a cell with %%memtrack, or %memtrack on.'
      : shown.length < records.length
        ? `memtrack: last ${shown.length} of ${records.length} tracked cells`
        : `memtrack: ${records.length} tracked cell${records.length === 1 ? '' : 's'}`;
    this._plotNode.hidden = empty;
    this._table.hidden = empty;

    const metric = this._metric;
    const help = columnHelp(metric, trans);
    const head = document.createElement('thead');
    const headRow = document.createElement('tr');
    for (const column of COLUMNS) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = column.title;
      if (column.help) {
        th.title = help[column.help];
      }
      if (column.numeric) {
        th.classList.add('jp-Memtrack-widgetNumeric');
      }
      headRow.append(th);
    }
    head.append(headRow);
    const body = document.createElement('tbody');
    for (const record of shown) {
      body.append(this._row(record, metric));
    }
    this._table.replaceChildren(head, body);
  }

  private _row(record: IMemtrackRecord, metric: Metric): HTMLTableRowElement {
    const row = document.createElement('tr');
    row.className = 'jp-Memtrack-widgetRow';
    row.dataset.size = sizeClass(recordDelta(record, metric));
    row.dataset.seq = String(record.seq);
    const release = isReleaseRecord(record);
    const cells = [
      { text: record.execution_count === null ? '' : String(record.execution_count), title: '' },
      // A release is named by its label alone ("release: delete Out[12], _12 and _").
      { text: release ? recordTitle(record) : (record.label ?? ''), title: '' },
      figureCell(record, metric, 'delta'),
      figureCell(record, metric, 'peak'),
      { text: formatDuration(record.duration_s), title: '' }
    ];
    cells.forEach((cell, i) => {
      const td = document.createElement('td');
      td.textContent = cell.text;
      if (cell.title) {
        td.title = cell.title;
      }
      if (COLUMNS[i].numeric) {
        td.classList.add('jp-Memtrack-widgetNumeric');
      }
      row.append(td);
    });
    if (release) {
      row.classList.add('jp-Memtrack-widgetRelease');
      row.title = releaseSummary(record, widgetSettings.byteUnits, trans);
    } else if (record.error) {
      row.title = `The cell raised ${record.error}`;
    }
    return row;
  }

  /** One draw at a time; changes meanwhile are drawn once it is done. */
  private async _drawPlot(): Promise<void> {
    if (!this._shown || this._drawing) {
      return;
    }
    this._drawing = true;
    try {
      while (this._plotDirty && !this._removed) {
        this._plotDirty = false;
        if (this._records.length === 0) {
          continue;
        }
        const plot = await loadPlot();
        if (this._removed) {
          break;
        }
        const settings = widgetSettings;
        const metric = this._metric;
        const entries = this._records.map(record => ({ kind: 'record' as const, record }));
        await plot.renderPlot(
          this._plotNode,
          buildSeries(entries, {
            metric,
            maxPoints: settings.maxPoints,
            units: settings.byteUnits
          }),
          {
            units: settings.byteUnits,
            metricTitle: plotTitle(metric, trans),
            peakTitle: 'peak',
            deltaTitle: 'delta',
            leakTitle: 'leak',
            releaseTitle: 'release'
          }
        );
        this._plot = plot;
      }
    } catch (reason) {
      console.error('jupyterlab-memtrack: could not draw the widget plot.', reason);
    } finally {
      this._drawing = false;
    }
  }

  private _records: readonly IMemtrackRecord[] = [];
  private _summary = document.createElement('div');
  private _plotNode = document.createElement('div');
  private _table = document.createElement('table');
  private _plot: PlotModule | null = null;
  private _shown = false;
  private _drawing = false;
  private _plotDirty = false;
  private _removed = false;
}

/** What the widget registry hands out for the module `jupyterlab-memtrack`. */
export const widgetExports = { MemtrackWidgetModel, MemtrackWidgetView };
