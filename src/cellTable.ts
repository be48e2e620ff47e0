/**
 * The tracked-cells table: sortable by delta, peak and duration, keyboard
 * navigable, and the plot's text alternative. This module decides which rows
 * are in the DOM (sort order, a window of the rows in view for long tables,
 * focus); cellTableRows.ts builds the header and the rows themselves, and
 * recordOrder.ts orders and numbers the records.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { IColumn, recordRow, SortKey, spacerRow, tableColumns, tableHead } from './cellTableRows';
import { detailRow, ExpandedRecords, hasDetail } from './cellDetail';
import { Units } from './format';
import { moveTarget, ScrollWindow } from './scrollWindow';
import { leakingRecords, sameRecords } from './leakCells';
import { IMemtrackRecord, Metric } from './record';
import { rerunsACell, runNumbers, sortRecords } from './recordOrder';
import { SessionStarts } from './sessionStarts';

export type { SortKey } from './cellTableRows';

export interface ICellTableOptions {
  trans: TranslationBundle;
  /** A row was activated (click, Enter or Space). */
  onActivate: (record: IMemtrackRecord) => void;
}

/** The table's caption: how many records it has. */
function captionText(trans: TranslationBundle, count: number): string {
  return trans._n('%1 tracked execution', '%1 tracked executions', count);
}

/**
 * Above this many rows only the rows in view (plus a margin) are in the DOM:
 * laying out 10,000 table rows takes the browser seconds.
 */
export const WINDOW_THRESHOLD = 200;
/** Rows rendered beyond each edge of the view, so that scrolling shows no gap. */
const OVERSCAN = 30;
/** Rows rendered when the view's size is unknown (hidden, or no layout). */
const UNMEASURED_WINDOW = 80;

export class CellTable {
  readonly node = document.createElement('table');

  constructor(options: ICellTableOptions) {
    this._trans = options.trans;
    this._onActivate = options.onActivate;
    this.node.className = 'jp-Memtrack-table';
    this._columns = tableColumns(this._trans, this._metric);
  }

  get sortKey(): SortKey {
    return this._sortKey;
  }

  get descending(): boolean {
    return this._descending;
  }

  /** How many record rows are in the DOM (all of them up to WINDOW_THRESHOLD). */
  get renderedCount(): number {
    return this._end - this._start;
  }

  /**
   * The element that scrolls the table: long tables render only the rows it
   * shows, and follow its scrolling.
   */
  setScrollContainer(container: HTMLElement | null): void {
    this._window.setContainer(container);
  }

  /** Render the rows now in view (after a resize, or when the panel is shown). */
  refreshWindow(): void {
    if (this._windowed) {
      this._renderWindow(this._visibleRange());
    }
  }

  dispose(): void {
    this._window.dispose();
  }

  /** Whether a record's row shows its detail (variables, cluster). */
  isExpanded(record: IMemtrackRecord): boolean {
    return this._expanded.has(record);
  }

  /** Show or hide a row's detail, its variables and cluster (its disclosure button, or Right/Left). */
  toggleVariables(record: IMemtrackRecord): void {
    if (!hasDetail(record)) {
      return;
    }
    const open = this._expanded.toggle(record);
    const row = this._rows.get(record);
    if (!row) {
      return;
    }
    row.querySelector('.jp-Memtrack-disclose')?.setAttribute('aria-expanded', String(open));
    if (open) {
      row.after(this._detail(record));
      this._expanded.measure();
    }
  }

  /** Sort by a column; the same column again flips the direction. */
  sortBy(key: SortKey): void {
    if (key === this._sortKey) {
      this._descending = !this._descending;
    } else {
      this._sortKey = key;
      // Big numbers first is what people look for; history order reads oldest first.
      this._descending = key !== 'order';
    }
    this.render(this._records, this._units, this._metric, this._sessions);
  }

  /**
   * Rebuild the table for these records, with Delta and Peak in `metric`;
   * `sessions` marks the first record after each kernel restart or death.
   */
  render(
    records: IMemtrackRecord[],
    units: Units,
    metric: Metric,
    sessions: SessionStarts = new Map()
  ): void {
    this._records = records;
    this._units = units;
    this._sessions = sessions;
    if (metric !== this._metric) {
      this._metric = metric;
      this._columns = tableColumns(this._trans, metric);
    }
    this._leaking = leakingRecords(records);
    this._runs = runNumbers(records);
    this._cellIds = new Set(
      records.map(record => record.cell_id).filter((id): id is string => !!id)
    );
    this._sorted = sortRecords(records, this._sortKey, this._descending, metric);
    this._indexOf = new Map(this._sorted.map((record, index) => [record, index]));
    this._rows.clear();
    this._expanded.clearRendered();
    this._start = this._end = 0;
    this.node.setAttribute('aria-rowcount', String(this._sorted.length + 1));
    const caption = document.createElement('caption');
    caption.textContent = captionText(this._trans, records.length);
    this.node.replaceChildren(caption, this._head());
    this._body = document.createElement('tbody');
    this._windowed = this._window.enabled = this._sorted.length > WINDOW_THRESHOLD;
    this._window.invalidate();
    if (this._windowed) {
      this._topSpacer = this._spacer();
      this._bottomSpacer = this._spacer();
      this._body.append(this._topSpacer, this._bottomSpacer);
    }
    this.node.append(this._body);
    this._renderWindow(this._windowed ? this._visibleRange() : [0, this._sorted.length]);
  }

  /**
   * Add the records past the ones shown, at the end: cheap when the table is in
   * history order, none of them starts a re-run marking and the rows shown
   * stay highlighted as they are (a release, or a new suspect, changes which
   * earlier rows are); otherwise a full render.
   */
  append(
    records: IMemtrackRecord[],
    units: Units,
    metric: Metric,
    sessions: SessionStarts = this._sessions
  ): void {
    const shown = this._records.length;
    const added = records.slice(shown);
    const inOrder = this._sortKey === 'order' && !this._descending;
    const leaking = leakingRecords(records);
    const shownLeaking = new Set(records.slice(0, shown).filter(record => leaking.has(record)));
    if (
      added.length === 0 ||
      !inOrder ||
      units !== this._units ||
      metric !== this._metric ||
      !sameRecords(shownLeaking, this._leaking) ||
      !this._body ||
      this._windowed !== records.length > WINDOW_THRESHOLD ||
      rerunsACell(added, this._cellIds)
    ) {
      this.render(records, units, metric, sessions);
      return;
    }
    this._records = records;
    this._leaking = leaking;
    this._sessions = sessions;
    for (const record of added) {
      this._runs.set(record, null);
      this._indexOf.set(record, this._sorted.length);
      this._sorted.push(record);
      if (record.cell_id) {
        this._cellIds.add(record.cell_id);
      }
    }
    this.node.setAttribute('aria-rowcount', String(this._sorted.length + 1));
    this.node.querySelector('caption')!.textContent = captionText(this._trans, records.length);
    if (this._windowed) {
      // Rows below the view are only spacer height; a view at the end shows the new rows in it.
      const following = this._end === shown && this._inView(shown);
      const end = following ? Math.max(this._end, this._visibleRange()[1]) : this._end;
      this._renderWindow([this._start, end]);
    } else {
      this._renderWindow([0, this._sorted.length]);
    }
  }

  /** Focus the row of the record at this table position, bringing it into view. */
  focusIndex(index: number): void {
    const target = Math.max(0, Math.min(index, this._sorted.length - 1));
    if (this._sorted.length === 0) {
      return;
    }
    if (target < this._start || target >= this._end) {
      const size = this._window.size();
      const start = Math.max(
        0,
        Math.min(target - Math.floor(size / 2), this._sorted.length - size)
      );
      this._renderWindow([start, Math.min(this._sorted.length, start + size)]);
    }
    const row = this._rows.get(this._sorted[target]);
    row?.scrollIntoView?.({ block: 'nearest' });
    row?.focus();
  }

  private _head(): HTMLElement {
    return tableHead({
      columns: this._columns,
      sortKey: this._sortKey,
      descending: this._descending,
      trans: this._trans,
      onSort: key => this.sortBy(key)
    });
  }

  private _spacer(): HTMLTableRowElement {
    return spacerRow(this._columns.length);
  }

  /** The rows the scroll container shows, plus the overscan each side. */
  private _visibleRange(): [number, number] {
    return this._window.range(this._sorted.length, this._start, this._body, (y, rowHeight) =>
      this._expanded.indexAt(y, rowHeight, this._sorted)
    );
  }

  private _inView(index: number): boolean {
    const [start, end] = this._visibleRange();
    return index >= start && index < end;
  }

  /**
   * Show the rows [start, end): rows still inside the range stay in place (a
   * focused row keeps its focus); the spacers stand for the rest.
   */
  private _renderWindow([start, end]: [number, number]): void {
    const body = this._body;
    if (!body) {
      return;
    }
    const sorted = this._sorted;
    const overlap = start < this._end && end > this._start;
    if (!overlap) {
      for (const [record, row] of this._rows) {
        row.remove();
        this._expanded.drop(record);
      }
      this._rows.clear();
      this._start = this._end = start;
    }
    // Drop rows that left the range.
    for (let i = this._start; i < Math.min(start, this._end); i++) {
      this._dropRow(sorted[i]);
    }
    for (let i = Math.max(end, this._start); i < this._end; i++) {
      this._dropRow(sorted[i]);
    }
    // Add rows above and below what is already rendered.
    const above = document.createDocumentFragment();
    for (let i = start; i < Math.min(this._start, end); i++) {
      above.append(...this._rowNodes(sorted[i], i));
    }
    const below = document.createDocumentFragment();
    for (let i = Math.max(this._end, start); i < end; i++) {
      below.append(...this._rowNodes(sorted[i], i));
    }
    if (this._windowed) {
      this._topSpacer!.after(above);
      this._bottomSpacer!.before(below);
    } else {
      body.prepend(above);
      body.append(below);
    }
    this._start = start;
    this._end = end;
    if (this._windowed) {
      this._window.measure(this._rows.values().next().value);
      this._expanded.measure();
      this._setSpacer(this._topSpacer!, start, this._expanded.extraBetween(0, start, sorted));
      this._setSpacer(
        this._bottomSpacer!,
        sorted.length - end,
        this._expanded.extraBetween(end, sorted.length, sorted)
      );
    }
  }

  /** A record's row, and its variables below it when expanded. */
  private _rowNodes(record: IMemtrackRecord, index: number): HTMLTableRowElement[] {
    const row = this._rowFor(record, index);
    return this._expanded.has(record) ? [row, this._detail(record)] : [row];
  }

  private _detail(record: IMemtrackRecord): HTMLTableRowElement {
    return this._expanded.detail(record, () =>
      detailRow(record, {
        id: this._expanded.detailId(record),
        columnCount: this._columns.length,
        units: this._units,
        trans: this._trans
      })
    );
  }

  private _rowFor(record: IMemtrackRecord, index: number): HTMLTableRowElement {
    let row = this._rows.get(record);
    if (!row) {
      row = this._row(record);
      this._rows.set(record, row);
    }
    row.setAttribute('aria-rowindex', String(index + 2));
    return row;
  }

  private _dropRow(record: IMemtrackRecord): void {
    this._rows.get(record)?.remove();
    this._rows.delete(record);
    this._expanded.drop(record);
  }

  /** A spacer standing for `rows` rows, and `extra` pixels of their open details. */
  private _setSpacer(spacer: HTMLTableRowElement, rows: number, extra: number): void {
    spacer.hidden = rows === 0;
    spacer.style.height = `${rows * this._window.rowHeight + extra}px`;
  }

  private _row(record: IMemtrackRecord): HTMLTableRowElement {
    return recordRow(record, {
      columns: this._columns,
      units: this._units,
      metric: this._metric,
      leaking: this._leaking.has(record),
      // The restart markers separate the kernel's processes in run order only.
      sessionStart:
        this._sortKey === 'order' && !this._descending ? this._sessions.get(record) : undefined,
      run: this._runs.get(record) ?? null,
      trans: this._trans,
      onActivate: activated => this._onActivate(activated),
      onKey: (event, keyed) => this._onKey(event, keyed),
      expanded: this._expanded.has(record),
      detailId: this._expanded.detailId(record),
      onToggleVariables: toggled => this.toggleVariables(toggled)
    });
  }

  private _onKey(event: KeyboardEvent, record: IMemtrackRecord): void {
    const index = this._indexOf.get(record);
    if (index === undefined) {
      return;
    }
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this._onActivate(record);
      return;
    }
    if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
      // Right opens the row's variables, Left closes them.
      if ((event.key === 'ArrowRight') !== this._expanded.has(record)) {
        event.preventDefault();
        this.toggleVariables(record);
      }
      return;
    }
    const target = moveTarget(event.key, index, this._sorted.length, this._window.page());
    if (target !== null) {
      event.preventDefault();
      this.focusIndex(target);
    }
  }

  private _trans: TranslationBundle;
  private _onActivate: (record: IMemtrackRecord) => void;
  private _columns: IColumn[];
  private _records: IMemtrackRecord[] = [];
  /** The records in table order, and each one's position in it. */
  private _sorted: IMemtrackRecord[] = [];
  private _indexOf = new Map<IMemtrackRecord, number>();
  private _runs = new Map<IMemtrackRecord, number | null>();
  /** The cells the shown records ran: a new run of one of them renumbers its runs. */
  private _cellIds = new Set<string>();
  private _units: Units = 'decimal';
  private _metric: Metric = 'rss';
  /** The records that created or grew a flagged suspect current now (leakCells.ts). */
  private _leaking: ReadonlySet<IMemtrackRecord> = new Set();
  private _sessions: SessionStarts = new Map();
  private _sortKey: SortKey = 'order';
  private _descending = false;
  private _body: HTMLTableSectionElement | null = null;
  /** The rendered rows, [_start, _end) of _sorted. */
  private _rows = new Map<IMemtrackRecord, HTMLTableRowElement>();
  private _start = 0;
  private _end = 0;
  private _windowed = false;
  private _topSpacer: HTMLTableRowElement | null = null;
  private _bottomSpacer: HTMLTableRowElement | null = null;
  private _window = new ScrollWindow({
    overscan: OVERSCAN,
    unmeasured: UNMEASURED_WINDOW,
    onChange: () => this.refreshWindow()
  });
  /** The rows that show their variables. */
  private _expanded = new ExpandedRecords();
}
