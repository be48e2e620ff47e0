/**
 * The right-sidebar panel: renders the current notebook's history from the
 * model (plot, leak suspects, variables, cell table). It does no work while
 * hidden: a closed panel costs nothing (the variables are not asked for), and
 * it catches up when shown.
 */
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { CellTable } from './cellTable';
import { gpuCapacityLine } from './gpuFigures';
import type { IVariableRequests } from './kernelBridge';
import { LeakList } from './leakList';
import { LiveLine, plotLimit, plotLive, runningCellLabel } from './liveLine';
import { ILiveChange, LiveModel } from './liveModel';
import { MetricChoice, plotTitle, resolveMetric } from './metric';
import { MemtrackModel } from './model';
import { IMemtrackRecord, isReleaseRecord } from './record';
import { buildSeries, IPlotSeries } from './series';
import { sessionStarts } from './sessionStarts';
import { SettingsState } from './settings';
import { SidebarHeader } from './sidebarHeader';
import { SidebarToolbar } from './sidebarToolbar';
import { IHistoryChange, IMemtrackModel } from './tokens';
import { VariablesSection } from './variablesSection';

/** Appends redraw the plot at most this often (the table updates at once). */
const PLOT_INTERVAL_MS = 300;

export interface IMemtrackSidebarOptions {
  model: MemtrackModel;
  settings: SettingsState;
  commands: CommandRegistry;
  /** Scroll the notebook to a record's (or the running) cell; false when it cannot be found. */
  revealCell: (key: string, record: CellRef) => boolean;
  /** Persist a metric chosen in the panel. */
  setMetric: (metric: MetricChoice) => void;
  /** The kernel requests of a notebook (why alive, release, variables); undefined when it has none. */
  leakRequests?: (key: string) => IVariableRequests | undefined;
  translator?: ITranslator;
}

/** What finds a cell: its id, and its execution count to name it when it is gone. */
export type CellRef = Pick<IMemtrackRecord, 'cell_id' | 'execution_count'>;

/** Lazily loaded so that a closed panel never pays for plotly. */
type PlotModule = typeof import('./plot');

export class MemtrackSidebar extends Widget {
  constructor(options: IMemtrackSidebarOptions) {
    super();
    this._model = options.model;
    this._settings = options.settings;
    this._commands = options.commands;
    this._revealCell = options.revealCell;
    this._trans = (options.translator ?? nullTranslator).load('jupyterlab-memtrack');
    this.addClass('jp-Memtrack-sidebar');
    const trans = this._trans;

    this._header = new SidebarHeader(trans);
    this._live = new LiveLine({
      trans,
      onActivate: state => {
        const key = this._model.currentKey;
        if (key !== null) {
          this._revealCell(key, { cell_id: state.cellId, execution_count: state.executionCount });
        }
      }
    });

    this._toolbar = new SidebarToolbar(trans, this._commands, options.setMetric);

    this._emptyNode.className = 'jp-Memtrack-empty';
    this._plotNode.className = 'jp-Memtrack-plot';
    // The table below carries the same information as text.
    this._plotNode.setAttribute('aria-hidden', 'true');
    this._table = new CellTable({
      trans,
      onActivate: record => this._reveal(record)
    });
    const leakRequests = options.leakRequests;
    this._leaks = new LeakList({
      trans,
      requests: () => {
        const key = this._model.currentKey;
        return key === null ? undefined : leakRequests?.(key);
      }
    });
    this._variables = new VariablesSection({ model: this._model, trans, requests: leakRequests });
    const tableScroller = document.createElement('div');
    tableScroller.className = 'jp-Memtrack-tableScroller';
    tableScroller.append(this._table.node);
    // The panel scrolls as a whole: long tables render the rows it shows.
    this._table.setScrollContainer(this.node);
    this.node.append(
      this._header.node,
      this._toolbar.node,
      this._live.node,
      this._emptyNode,
      this._plotNode,
      this._leaks.node,
      this._variables.node,
      tableScroller
    );

    this._model.changed.connect(this._onChanged, this);
    this._model.live.changed.connect(this._onLiveChanged, this);
    this._model.currentChanged.connect(this._onCurrentChanged, this);
    this._settings.changed.connect(this._invalidateAll, this);
    this._commands.commandChanged.connect(this._renderButtons, this);
    this._renderButtons();
  }

  /** The table, for tests and for keyboard focus. */
  get table(): CellTable {
    return this._table;
  }

  /** The variables section. */
  get variables(): VariablesSection {
    return this._variables;
  }

  /** Draw again with the current theme's colours. */
  refreshTheme(): void {
    this._invalidateAll();
  }

  dispose(): void {
    window.clearTimeout(this._plotTimer);
    cancelAnimationFrame(this._liveFrame);
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onChanged, this);
    this._model.live.changed.disconnect(this._onLiveChanged, this);
    this._model.currentChanged.disconnect(this._onCurrentChanged, this);
    this._settings.changed.disconnect(this._invalidateAll, this);
    this._commands.commandChanged.disconnect(this._renderButtons, this);
    this._plot?.purgePlot(this._plotNode);
    this._table.dispose();
    this._variables.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._catchUp();
    this._variables.setVisible(this.isVisible);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._table.refreshWindow();
    this._catchUp();
    this._variables.setVisible(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._variables.setVisible(false);
  }

  protected onBeforeDetach(msg: Message): void {
    this._variables.setVisible(false);
    super.onBeforeDetach(msg);
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    if (this.isVisible && this._plot) {
      this._plot.resizePlot(this._plotNode);
    }
    if (this.isVisible) {
      this._table.refreshWindow();
      this._variables.refreshWindow();
    }
  }

  private _onCurrentChanged(): void {
    this._variables.onCurrentChanged();
    this._invalidateAll();
  }

  /** Go to a record's cell; a release ran in no cell. */
  private _reveal(record: IMemtrackRecord): void {
    const key = this._model.currentKey;
    if (key !== null && !isReleaseRecord(record)) {
      this._revealCell(key, record);
    }
  }

  private _catchUp(): void {
    if (this.isVisible && !this._plotLoading) {
      window.setTimeout(() => void this._loadPlot(), 0);
    }
    if (this._dirty !== 'none' && this.isVisible) {
      void this._render();
    }
  }

  private _onChanged(_: IMemtrackModel, change: IHistoryChange): void {
    if (change.key !== this._model.currentKey) {
      return;
    }
    this._variables.onHistoryChanged(change);
    if (change.kind === 'status') {
      this._renderStatus();
      this._renderButtons();
      return;
    }
    if (change.kind === 'append') {
      this._appended += change.count ?? 1;
      this._invalidate('append');
    } else {
      this._invalidate('all');
    }
  }

  /**
   * A live message (or the running cell's end): the live line follows within a
   * frame, the plot with the usual coalescing (at most every PLOT_INTERVAL_MS).
   */
  private _onLiveChanged(_: LiveModel, change: ILiveChange): void {
    if (change.key !== this._model.currentKey || !this.isVisible) {
      // Drawn from the model's state when shown or switched to.
      return;
    }
    if (this._liveFrame === 0) {
      this._liveFrame = requestAnimationFrame(() => {
        this._liveFrame = 0;
        this._renderLive();
      });
    }
    if (this._plotDrawnAt !== 0 && this._model.records(change.key).length > 0) {
      this._schedulePlot();
    }
  }

  private _renderLive(): void {
    const key = this._model.currentKey;
    const live = this._model.live;
    const state = live.state(key);
    const records = this._model.records(key);
    const label = state ? runningCellLabel(records, state.cellId) : null;
    const settings = this._settings.value;
    const metric = resolveMetric(settings.metric, records);
    this._live.render(state, label, live.limit(key), settings.byteUnits, metric);
  }

  private _invalidateAll(): void {
    this._invalidate('all');
  }

  /** Render on the next frame when visible (appends in a burst coalesce); else on show. */
  private _invalidate(kind: 'append' | 'all'): void {
    // Appends in a burst stay an append (the table adds them all); anything else redraws.
    this._dirty = this._dirty === 'none' || this._dirty === kind ? kind : 'all';
    if (!this.isVisible || this._frame !== 0) {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      void this._render();
    });
  }

  /** Render, and note how long it took on the node (read by bench/ and tests). */
  private async _render(): Promise<void> {
    const started = performance.now();
    const kind = this._dirty;
    await this._draw();
    this.node.dataset.renderMs = (performance.now() - started).toFixed(2);
    this.node.dataset.renderKind = kind;
    this.node.dataset.renderCount = String(this._model.records(this._model.currentKey).length);
  }

  private async _draw(): Promise<void> {
    const dirty = this._dirty;
    const appended = this._appended;
    this._dirty = 'none';
    this._appended = 0;
    const settings = this._settings.value;
    const key = this._model.currentKey;
    const records = this._model.records(key);
    this._renderStatus();
    this._renderButtons();
    this._renderLive();
    const metric = resolveMetric(settings.metric, records);
    this._toolbar.showMetric(settings.metric, resolveMetric('auto', records));

    // Shown before the table renders: a long table measures its rows to window them.
    const empty = records.length === 0;
    this._emptyNode.hidden = !empty;
    this._plotNode.hidden = empty;
    this._table.node.hidden = empty;

    const tableStarted = performance.now();
    const append = dirty === 'append' && this._shownCount + appended === records.length;
    const sessions = sessionStarts(this._model.entries(key));
    if (append) {
      this._table.append(records, settings.byteUnits, metric, sessions);
    } else {
      this._table.render(records, settings.byteUnits, metric, sessions);
    }
    this._shownCount = records.length;
    this._leaks.render(records, settings.byteUnits);
    this._variables.render(settings.byteUnits);
    this.node.dataset.tableMs = (performance.now() - tableStarted).toFixed(2);

    if (empty) {
      this._emptyNode.textContent =
        key === null
          ? this._trans.__('Open a notebook to see its memory history.')
          : this._trans.__(
              // "%%" in a translated string reads as "%": the magic is an argument.
              'Run a cell with %1 on its first line, or track every cell with the button above.',
              '%%memtrack'
            );
      return;
    }
    if (append && this._plotDrawnAt !== 0) {
      // A plotly redraw takes tens of milliseconds whatever the number of points: appends
      // update the table within the frame and the plot at most every PLOT_INTERVAL_MS.
      this._schedulePlot();
      return;
    }
    await this._drawPlot();
  }

  /** One trailing plot redraw, PLOT_INTERVAL_MS after the last one (appends coalesce). */
  private _schedulePlot(): void {
    if (this._plotTimer !== 0) {
      return;
    }
    const wait = Math.max(0, this._plotDrawnAt + PLOT_INTERVAL_MS - performance.now());
    this._plotTimer = window.setTimeout(() => {
      this._plotTimer = 0;
      if (this.isVisible) {
        void this._drawPlot();
      } else {
        this._dirty = 'all'; // drawn on show
      }
    }, wait);
  }

  private async _drawPlot(): Promise<void> {
    if (this._plotTimer !== 0) {
      window.clearTimeout(this._plotTimer);
      this._plotTimer = 0;
    }
    const settings = this._settings.value;
    const key = this._model.currentKey;
    if (this._model.records(key).length === 0) {
      return;
    }
    const metric = resolveMetric(settings.metric, this._model.records(key));
    this._series = buildSeries(this._model.entries(key), {
      metric,
      maxPoints: settings.maxPoints,
      units: settings.byteUnits
    });
    this._plot = this._plot ?? (await this._loadPlot());
    const plotStarted = performance.now();
    const trans = this._trans;
    const limit = this._model.live.limit(key);
    const liveState = this._model.live.state(key);
    const liveLabel = liveState
      ? runningCellLabel(this._model.records(key), liveState.cellId)
      : null;
    await this._plot.renderPlot(this._plotNode, this._series, {
      units: settings.byteUnits,
      metricTitle: plotTitle(metric, trans),
      peakTitle: trans.__('peak'),
      deltaTitle: trans.__('delta'),
      // The crosses mark the cells that created or grew a current suspect (leakCells.ts).
      leakTitle: trans.__('leaking cell'),
      deathTitle: trans.__('kernel died'),
      releaseTitle: trans.__('release'),
      clusterTitle: trans.__('cluster RSS'),
      separatorTitles: {
        restart: trans.__('restart'),
        died: trans.__('died'),
        saved: trans.__('saved')
      },
      // The limit is about RSS, the devices' capacity about the GPU: each on its own plot.
      limit:
        metric === 'rss'
          ? plotLimit(limit, settings.byteUnits, trans)
          : metric === 'gpu'
            ? gpuCapacityLine(this._model.records(key), settings.byteUnits, trans)
            : null,
      live: plotLive(liveState, liveLabel, limit, settings.byteUnits, trans),
      onPointClick: index => {
        const record = this._series?.records[index];
        if (record) {
          this._reveal(record);
        }
      }
    });
    this._plotDrawnAt = performance.now();
    this.node.dataset.plotMs = (this._plotDrawnAt - plotStarted).toFixed(2);
    // How many records the plot shows (tests and the bench wait on it).
    this.node.dataset.plotCount = String(this._model.records(key).length);
  }

  /** plotly is a large chunk: fetch it once the panel is first shown, while idle. */
  private _loadPlot(): Promise<PlotModule> {
    this._plotLoading = this._plotLoading ?? import('./plot');
    return this._plotLoading;
  }

  private _renderStatus(): void {
    const key = this._model.currentKey;
    const { status, detail } = this._model.status(key);
    this._header.renderStatus(status, detail);
    this._header.renderKernelEnd(this._model.previousKernelEnd(key));
  }

  private _renderButtons(): void {
    this._toolbar.renderButtons();
  }

  private _model: MemtrackModel;
  private _settings: SettingsState;
  private _commands: CommandRegistry;
  private _revealCell: (key: string, record: CellRef) => boolean;
  private _trans: TranslationBundle;
  private _plot: PlotModule | null = null;
  private _plotLoading: Promise<PlotModule> | null = null;
  private _series: IPlotSeries | null = null;
  private _dirty: 'none' | 'append' | 'all' = 'all';
  private _frame = 0;
  private _plotTimer = 0;
  private _plotDrawnAt = 0;
  private _shownCount = 0;
  /** Records appended since the last draw (the table adds just those when nothing else changed). */
  private _appended = 0;
  private _table: CellTable;
  private _leaks: LeakList;
  private _variables: VariablesSection;
  private _header: SidebarHeader;
  private _live: LiveLine;
  private _liveFrame = 0;
  private _toolbar: SidebarToolbar;
  private _emptyNode = document.createElement('p');
  private _plotNode = document.createElement('div');
}
