/**
 * The "Variables" section of the sidebar: the largest live variables of the
 * current notebook's kernel (VariablesModel), filterable by name or type,
 * sortable by name, size and change, each with "Why alive?" and, where it
 * applies, "Release…" (the leak list's flows, releaseFlow.ts). Long lists are
 * windowed in their own scroller: only the rows in view are in the DOM.
 * textContent only: names and types come from user code.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { WINDOW_THRESHOLD } from './cellTable';
import { Units } from './format';
import type { ILeakRequests } from './kernelBridge';
import { ILiveVariable } from './protocol';
import { askWhy, NoticeKind, runRelease, whyStatus, whyText } from './releaseFlow';
import { moveTarget, ScrollWindow } from './scrollWindow';
import { variableHead, variableRow } from './variableRows';
import { VariablesModel } from './variablesModel';

/** Rows rendered beyond each edge of the scroller's view. */
const OVERSCAN = 20;
/** Rows rendered when the scroller's size is unknown (hidden, or no layout). */
const UNMEASURED_WINDOW = 60;

let nextId = 0;

export interface IVariableListOptions {
  model: VariablesModel;
  trans: TranslationBundle;
  /** The why/release requests of the notebook shown; undefined when not connected. */
  requests: () => ILeakRequests | undefined;
  /** Opened or closed by the user (the sidebar makes the model active accordingly). */
  onToggle?: (expanded: boolean) => void;
}

export class VariableList {
  readonly node = document.createElement('section');

  constructor(options: IVariableListOptions) {
    this._model = options.model;
    this._trans = options.trans;
    this._requests = options.requests;
    this._onToggle = options.onToggle;
    const trans = this._trans;
    const id = `jp-Memtrack-variables-${++nextId}`;
    this.node.className = 'jp-Memtrack-variables';
    this.node.setAttribute('aria-labelledby', `${id}-title`);

    const header = document.createElement('div');
    header.className = 'jp-Memtrack-varTitleBar';
    const title = document.createElement('h3');
    title.className = 'jp-Memtrack-varTitle';
    title.id = `${id}-title`;
    this._toggle.type = 'button';
    this._toggle.className = 'jp-Memtrack-varToggle';
    this._toggle.setAttribute('aria-controls', `${id}-body`);
    this._toggle.addEventListener('click', () => this.setExpanded(!this._expanded, true));
    this._count.className = 'jp-Memtrack-varCount';
    this._toggle.append(trans.__('Variables'), this._count);
    title.append(this._toggle);
    this._refresh.type = 'button';
    this._refresh.className = 'jp-Memtrack-button jp-Memtrack-varRefresh';
    this._refresh.textContent = trans.__('Refresh');
    this._refresh.title = trans.__('Ask the kernel for the variables and their sizes now');
    this._refresh.addEventListener('click', () => this._model.refresh());
    header.append(title, this._refresh);

    this._body.id = `${id}-body`;
    this._body.className = 'jp-Memtrack-varBody';
    this._filter.type = 'search';
    this._filter.className = 'jp-Memtrack-varFilter';
    this._filter.placeholder = trans.__('Filter by name or type');
    this._filter.setAttribute('aria-label', trans.__('Filter the variables by name or type'));
    this._filter.addEventListener('input', () => this._model.setFilter(this._filter.value));
    this._status.className = 'jp-Memtrack-varStatus';
    this._status.setAttribute('role', 'status');
    this._notice.className = 'jp-Memtrack-varNotice';
    this._notice.setAttribute('role', 'status');
    this._notice.hidden = true;

    this._table.className = 'jp-Memtrack-varTable';
    this._table.setAttribute('role', 'table');
    this._table.setAttribute('aria-label', trans.__('Live variables, largest first'));
    this._head.setAttribute('role', 'rowgroup');
    this._head.className = 'jp-Memtrack-varHead';
    this._scroller.className = 'jp-Memtrack-varScroller';
    this._window.setContainer(this._scroller);
    this._rowsNode.setAttribute('role', 'rowgroup');
    this._rowsNode.className = 'jp-Memtrack-varRows';
    this._rowsNode.addEventListener('keydown', event => this._onKey(event));
    this._topSpacer.className = this._bottomSpacer.className = 'jp-Memtrack-varSpacer';
    this._topSpacer.setAttribute('aria-hidden', 'true');
    this._bottomSpacer.setAttribute('aria-hidden', 'true');
    this._scroller.append(this._rowsNode);
    this._table.append(this._head, this._scroller);
    this._body.append(this._filter, this._status, this._notice, this._table);
    this.node.append(header, this._body);

    this._model.changed.connect(this._onModelChanged, this);
    this.setExpanded(true);
  }

  get expanded(): boolean {
    return this._expanded;
  }

  /** How many variable rows are in the DOM (all of them up to WINDOW_THRESHOLD). */
  get renderedCount(): number {
    return this._end - this._start;
  }

  /** Open or close the section; `byUser` tells the sidebar (which then asks the kernel). */
  setExpanded(expanded: boolean, byUser = false): void {
    this._expanded = expanded;
    this._toggle.setAttribute('aria-expanded', String(expanded));
    this._body.hidden = !expanded;
    this._refresh.hidden = !expanded;
    if (byUser) {
      this._onToggle?.(expanded);
    }
    if (expanded) {
      this.render(this._units);
    }
  }

  /** Draw the model's state (again) in these units. */
  render(units: Units): void {
    this._units = units;
    const model = this._model;
    const result = model.result;
    this._count.textContent = result ? ` (${result.total.toLocaleString('en-US')})` : '';
    // Not disabled while a request is in flight (the focus would be lost): the model asks again after it.
    this._refresh.dataset.loading = String(model.loading);
    this._status.textContent = this._statusText();
    this._status.dataset.status = model.status;
    if (!this._expanded) {
      return;
    }
    // A redraw replaces the header: the sort button that had the focus gets it back.
    const active = document.activeElement as HTMLElement | null;
    const focusedSort = active && this._head.contains(active) ? (active.dataset.key ?? null) : null;
    this._head.replaceChildren(
      variableHead({
        sortKey: model.sortKey,
        descending: model.descending,
        trans: this._trans,
        onSort: key => model.sortBy(key)
      })
    );
    if (focusedSort !== null) {
      this._head
        .querySelector<HTMLElement>(`.jp-Memtrack-sort[data-key="${focusedSort}"]`)
        ?.focus();
    }
    const focus = this._focusedControl();
    this._shown = model.shown;
    this._table.setAttribute('aria-rowcount', String(this._shown.length + 1));
    this._table.hidden = this._shown.length === 0;
    this._windowed = this._window.enabled = this._shown.length > WINDOW_THRESHOLD;
    this._rowsNode.replaceChildren();
    this._rows.clear();
    this._start = this._end = 0;
    this._window.invalidate();
    if (this._windowed) {
      this._rowsNode.append(this._topSpacer, this._bottomSpacer);
    }
    this._renderWindow(this._windowed ? this._visibleRange() : [0, this._shown.length]);
    if (focus) {
      this._focusControl(focus.name, focus.control);
    }
  }

  /** Render the rows now in view (after a resize, or when the panel is shown). */
  refreshWindow(): void {
    if (this._windowed && this._expanded) {
      this._renderWindow(this._visibleRange());
    }
  }

  dispose(): void {
    this._model.changed.disconnect(this._onModelChanged, this);
    this._window.dispose();
  }

  private _onModelChanged(): void {
    if (this._model.result === null && this._releasing.size === 0) {
      // Another notebook or a new kernel: what was said about the old variables no longer applies.
      this._setNotice('', 'done');
    }
    this.render(this._units);
  }

  private _statusText(): string {
    const trans = this._trans;
    const model = this._model;
    const result = model.result;
    const parts: string[] = [];
    if (model.status === 'unavailable') {
      return trans.__('Not connected to the kernel.');
    }
    if (model.status === 'error') {
      parts.push(trans.__('No answer: %1', model.error));
    }
    if (!result) {
      return parts.length
        ? parts.join(' · ')
        : model.loading
          ? trans.__('Sizing the variables…')
          : '';
    }
    if (result.variables.length === 0) {
      parts.push(trans.__('No variables in the namespace.'));
    } else if (result.variables.length < result.total) {
      parts.push(trans.__('The largest %1 of %2', result.variables.length, result.total));
    }
    const shown = model.shown.length;
    if (model.filter.trim() && shown < result.variables.length) {
      parts.push(
        shown === 0
          ? trans.__('none matches the filter')
          : trans._n('%1 matches the filter', '%1 match the filter', shown)
      );
    }
    if (result.pending > 0) {
      parts.push(trans.__('sizing %1 more…', result.pending));
    }
    return parts.join(' · ');
  }

  // -- windowing ----------------------------------------------------------------------------

  private _visibleRange(): [number, number] {
    return this._window.range(this._shown.length, this._start, this._rowsNode);
  }

  /** Show the rows [start, end); rows still inside the range stay (focus stays). */
  private _renderWindow([start, end]: [number, number]): void {
    const shown = this._shown;
    for (let i = this._start; i < this._end; i++) {
      if (i < start || i >= end) {
        this._rows.get(i)?.remove();
        this._rows.delete(i);
      }
    }
    const above = document.createDocumentFragment();
    const below = document.createDocumentFragment();
    for (let i = start; i < end; i++) {
      if (!this._rows.has(i)) {
        const row = this._row(shown[i], i);
        this._rows.set(i, row);
        (i < this._start ? above : below).append(row);
      }
    }
    if (this._windowed) {
      this._topSpacer.after(above);
      this._bottomSpacer.before(below);
    } else {
      this._rowsNode.prepend(above);
      this._rowsNode.append(below);
    }
    this._start = start;
    this._end = end;
    if (this._windowed) {
      this._window.measure(this._rows.values().next().value);
      const height = this._window.rowHeight;
      this._topSpacer.style.height = `${start * height}px`;
      this._bottomSpacer.style.height = `${(shown.length - end) * height}px`;
    }
  }

  private _row(variable: ILiveVariable, index: number): HTMLElement {
    const row = variableRow(variable, {
      units: this._units,
      trans: this._trans,
      releasing: this._releasing.has(variable.name),
      onWhy: v => void this._askWhy(v.name),
      onRelease: (v, target) => void this._release(v.name, target)
    });
    row.setAttribute('aria-rowindex', String(index + 2));
    row.dataset.index = String(index);
    return row;
  }

  // -- keyboard -----------------------------------------------------------------------------

  /** Up/Down (Home/End, PageUp/PageDown) move to the same button of another row. */
  private _onKey(event: KeyboardEvent): void {
    const button = event.target as HTMLElement;
    const control = button.dataset?.control;
    const row = button.closest<HTMLElement>('.jp-Memtrack-var');
    if (!control || !row) {
      return;
    }
    const index = Number(row.dataset.index);
    const target = moveTarget(event.key, index, this._shown.length, this._window.page());
    if (target !== null) {
      event.preventDefault();
      this._focusIndex(target, control);
    }
  }

  private _focusIndex(index: number, control: string): void {
    const target = Math.max(0, Math.min(index, this._shown.length - 1));
    if (this._shown.length === 0) {
      return;
    }
    if (target < this._start || target >= this._end) {
      const size = this._window.size();
      const start = Math.max(0, Math.min(target - Math.floor(size / 2), this._shown.length - size));
      this._renderWindow([start, Math.min(this._shown.length, start + size)]);
    }
    const row = this._rows.get(target);
    row?.scrollIntoView?.({ block: 'nearest' });
    const button =
      row?.querySelector<HTMLElement>(`[data-control="${control}"]`) ??
      row?.querySelector<HTMLElement>('[data-control]');
    button?.focus();
  }

  /** Which variable's which button has the focus (kept across a redraw). */
  private _focusedControl(): { name: string; control: string } | null {
    const active = document.activeElement as HTMLElement | null;
    if (!active || !this._rowsNode.contains(active) || !active.dataset.control) {
      return null;
    }
    const row = active.closest<HTMLElement>('.jp-Memtrack-var');
    return row ? { name: row.dataset.name ?? '', control: active.dataset.control } : null;
  }

  private _focusControl(name: string, control: string): void {
    for (const row of this._rows.values()) {
      if (row.dataset.name === name) {
        row.querySelector<HTMLElement>(`[data-control="${control}"]`)?.focus();
        return;
      }
    }
  }

  // -- why alive, release -------------------------------------------------------------------

  private async _askWhy(name: string): Promise<void> {
    const requests = this._requests();
    if (requests) {
      this._setNotice(whyText(this._trans, name, { state: 'pending' }), 'busy', 'pending');
    }
    const state = await askWhy(requests, name, this._trans);
    const kind: NoticeKind = state.state === 'failed' ? 'failed' : 'done';
    this._setNotice(`${name}: ${whyText(this._trans, name, state)}`, kind, whyStatus(state));
  }

  private async _release(name: string, target: string): Promise<void> {
    const requests = this._requests();
    if (!requests) {
      this._setNotice(this._trans.__('Not connected to the kernel.'), 'failed');
      return;
    }
    if (this._releasing.has(name)) {
      return;
    }
    this._releasing.add(name);
    this._setReleaseDisabled(name, true);
    try {
      const done = await runRelease({
        requests,
        name,
        target,
        trans: this._trans,
        units: this._units,
        notify: (text, kind) => this._setNotice(text, kind)
      });
      if (done) {
        this._model.refresh();
      }
    } finally {
      this._releasing.delete(name);
      this._setReleaseDisabled(name, false);
    }
  }

  private _setReleaseDisabled(name: string, disabled: boolean): void {
    for (const row of this._rows.values()) {
      if (row.dataset.name === name) {
        const button = row.querySelector<HTMLButtonElement>('[data-control="release"]');
        if (button) {
          button.disabled = disabled;
        }
      }
    }
  }

  private _setNotice(text: string, kind: NoticeKind, status = ''): void {
    this._notice.textContent = text;
    this._notice.dataset.kind = kind;
    this._notice.dataset.status = status;
    this._notice.hidden = !text;
  }

  private _model: VariablesModel;
  private _trans: TranslationBundle;
  private _requests: () => ILeakRequests | undefined;
  private _onToggle: ((expanded: boolean) => void) | undefined;
  private _units: Units = 'decimal';
  private _expanded = true;
  private _toggle = document.createElement('button');
  private _count = document.createElement('span');
  private _refresh = document.createElement('button');
  private _body = document.createElement('div');
  private _filter = document.createElement('input');
  private _status = document.createElement('p');
  private _notice = document.createElement('p');
  private _table = document.createElement('div');
  private _head = document.createElement('div');
  private _scroller = document.createElement('div');
  private _rowsNode = document.createElement('div');
  private _topSpacer = document.createElement('div');
  private _bottomSpacer = document.createElement('div');
  /** The variables in display order, and the rendered rows by position, [_start, _end). */
  private _shown: readonly ILiveVariable[] = [];
  private _rows = new Map<number, HTMLElement>();
  private _start = 0;
  private _end = 0;
  private _windowed = false;
  private _window = new ScrollWindow({
    overscan: OVERSCAN,
    unmeasured: UNMEASURED_WINDOW,
    onChange: () => this.refreshWindow()
  });
  private _releasing = new Set<string>();
}
