/**
 * The state of the "Variables" section: the largest live variables of the
 * current notebook's kernel, as its last variables answer gave them, in the
 * order and with the filter the user chose, and when to ask again. DOM-free:
 * variableList.ts draws it.
 *
 * When it asks: after a record arrives (debounced), when the section is
 * opened, and on the refresh button; never while a request is in flight (one
 * asked for meanwhile follows the answer). While the kernel still sizes some
 * values (pending > 0) it asks again a little later, a bounded number of times.
 */
import { ISignal, Signal } from '@lumino/signaling';

import type { IVariableRequests } from './kernelBridge';
import { ILiveVariable, IVariablesResult } from './protocol';

export type VariableSortKey = 'name' | 'size' | 'change';

/** Where the section's data stands. */
export type VariablesStatus =
  /** Nothing asked yet (or the notebook changed). */
  | 'empty'
  /** A request is in flight (the previous answer, if any, is still shown). */
  | 'loading'
  /** The last answer is shown. */
  | 'ready'
  /** The last request failed; `error` says why (the previous answer, if any, stays). */
  | 'error'
  /** No kernel connection to ask. */
  | 'unavailable';

/** Variables asked for: the largest this many (the kernel's list is largest first). */
export const VARIABLES_LIMIT = 1000;
/** Records arriving in a burst (a run of cells) make one request, this long after the last. */
export const RECORD_DEBOUNCE_MS = 300;
/** While the kernel sizes values (pending > 0), ask again after this long... */
export const PENDING_RETRY_MS = 1000;
/** ...at most this many times in a row. */
export const PENDING_RETRIES = 10;

export interface IVariablesModelOptions {
  /** The kernel requests of the current notebook; undefined when it has no connection. */
  requests: () => IVariableRequests | undefined;
  limit?: number;
  debounceMs?: number;
  retryMs?: number;
  retries?: number;
}

/** A variable with what filtering and sorting read, computed once per answer. */
interface IIndexed {
  variable: ILiveVariable;
  /** Position in the kernel's answer (largest first): ties keep it. */
  index: number;
  /** Lower-cased "name type", matched by the filter. */
  haystack: string;
}

function errorText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Compare two nullable numbers; nulls last whichever the direction. */
function compareNullable(a: number | null, b: number | null, descending: boolean): number {
  if (a === null || b === null) {
    return a === b ? 0 : a === null ? 1 : -1;
  }
  return descending ? b - a : a - b;
}

/** Variables in the order asked for (stable: ties keep the kernel's order). */
export function sortVariables<T extends { variable: ILiveVariable; index: number }>(
  items: readonly T[],
  key: VariableSortKey,
  descending: boolean
): T[] {
  const sorted = [...items];
  sorted.sort((a, b) => {
    let order: number;
    if (key === 'name') {
      order = collator.compare(a.variable.name, b.variable.name);
      order = descending ? -order : order;
    } else if (key === 'size') {
      order = compareNullable(a.variable.size, b.variable.size, descending);
    } else {
      order = compareNullable(a.variable.change ?? null, b.variable.change ?? null, descending);
    }
    return order || a.index - b.index;
  });
  return sorted;
}

export class VariablesModel {
  constructor(options: IVariablesModelOptions) {
    this._requests = options.requests;
    this._limit = options.limit ?? VARIABLES_LIMIT;
    this._debounceMs = options.debounceMs ?? RECORD_DEBOUNCE_MS;
    this._retryMs = options.retryMs ?? PENDING_RETRY_MS;
    this._retries = options.retries ?? PENDING_RETRIES;
  }

  /** Emits after any change of what the section shows. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get status(): VariablesStatus {
    return this._status;
  }

  /** Why the last request failed (status 'error'). */
  get error(): string {
    return this._error;
  }

  /** The last answer; null before any. */
  get result(): IVariablesResult | null {
    return this._result;
  }

  /** Whether a request is in flight. */
  get loading(): boolean {
    return this._inFlight;
  }

  /** Whether the section asks by itself (opened, and the panel shown). */
  get active(): boolean {
    return this._active;
  }

  get sortKey(): VariableSortKey {
    return this._sortKey;
  }

  get descending(): boolean {
    return this._descending;
  }

  get filter(): string {
    return this._filter;
  }

  /** The variables shown: the last answer's, filtered and in the chosen order. */
  get shown(): readonly ILiveVariable[] {
    if (this._shown === null) {
      const needle = this._filter.trim().toLowerCase();
      const matching = needle
        ? this._indexed.filter(item => item.haystack.includes(needle))
        : this._indexed;
      this._shown = sortVariables(matching, this._sortKey, this._descending).map(
        item => item.variable
      );
    }
    return this._shown;
  }

  /** Sort by a column; the same column again flips the direction. */
  sortBy(key: VariableSortKey): void {
    if (key === this._sortKey) {
      this._descending = !this._descending;
    } else {
      this._sortKey = key;
      // Big numbers first is what people look for; names read A to Z.
      this._descending = key !== 'name';
    }
    this._shown = null;
    this._changed.emit();
  }

  /** Show the variables whose name or type contains `text` (case-insensitive). */
  setFilter(text: string): void {
    if (text === this._filter) {
      return;
    }
    this._filter = text;
    this._shown = null;
    this._changed.emit();
  }

  /**
   * Whether the section asks by itself: opened and shown. Becoming active asks
   * at once (the section was opened, or shown again).
   */
  setActive(active: boolean): void {
    if (active === this._active) {
      return;
    }
    this._active = active;
    if (active) {
      this.refresh();
    } else {
      this._clearTimer();
    }
  }

  /** A new record arrived: ask again once the burst is over (when active). */
  recordArrived(): void {
    if (!this._active) {
      return; // becoming active asks anyway
    }
    this._clearTimer();
    this._timer = window.setTimeout(() => {
      this._timer = 0;
      this.refresh();
    }, this._debounceMs);
  }

  /** Another notebook (or a new kernel): forget the answer; ask again when active. */
  reset(): void {
    this._clearTimer();
    this._token += 1;
    this._inFlight = false;
    this._again = false;
    this._result = null;
    this._indexed = [];
    this._shown = null;
    this._error = '';
    this._status = 'empty';
    this._retried = 0;
    this._changed.emit();
    if (this._active) {
      this.refresh();
    }
  }

  /** Ask the kernel now (the refresh button, opening the section); after the answer if one is awaited. */
  refresh(): void {
    this._retried = 0;
    this._request();
  }

  dispose(): void {
    this._clearTimer();
    this._token += 1;
    Signal.clearData(this);
  }

  private _request(): void {
    if (this._inFlight) {
      this._again = true;
      return;
    }
    this._clearTimer();
    const requests = this._requests();
    if (!requests) {
      this._status = 'unavailable';
      this._changed.emit();
      return;
    }
    const token = this._token;
    this._inFlight = true;
    this._status = 'loading';
    this._changed.emit();
    requests.variables(this._limit).then(
      result => this._answered(token, result, null),
      reason => this._answered(token, null, errorText(reason))
    );
  }

  private _answered(token: number, result: IVariablesResult | null, error: string | null): void {
    if (token !== this._token) {
      return; // about a notebook or kernel no longer shown
    }
    this._inFlight = false;
    if (result) {
      this._setResult(result);
      this._status = 'ready';
      this._error = '';
    } else {
      this._status = 'error';
      this._error = error ?? '';
    }
    this._changed.emit();
    if (this._again) {
      // Asked for while this one was in flight: that answer may be stale already.
      this._again = false;
      this.refresh();
    } else if (result && result.pending > 0 && this._retried < this._retries && this._active) {
      this._retried += 1;
      this._timer = window.setTimeout(() => {
        this._timer = 0;
        this._request();
      }, this._retryMs);
    }
  }

  private _setResult(result: IVariablesResult): void {
    this._result = result;
    this._indexed = result.variables.map((variable, index) => ({
      variable,
      index,
      haystack: `${variable.name} ${variable.type}`.toLowerCase()
    }));
    this._shown = null;
  }

  private _clearTimer(): void {
    if (this._timer !== 0) {
      window.clearTimeout(this._timer);
      this._timer = 0;
    }
  }

  private _requests: () => IVariableRequests | undefined;
  private _limit: number;
  private _debounceMs: number;
  private _retryMs: number;
  private _retries: number;
  private _changed = new Signal<this, void>(this);
  private _status: VariablesStatus = 'empty';
  private _error = '';
  private _result: IVariablesResult | null = null;
  private _indexed: IIndexed[] = [];
  private _shown: ILiveVariable[] | null = null;
  private _sortKey: VariableSortKey = 'size';
  private _descending = true;
  private _filter = '';
  private _active = false;
  private _inFlight = false;
  /** A request was asked for while one was in flight. */
  private _again = false;
  /** Pending retries made since the last fresh request. */
  private _retried = 0;
  private _timer = 0;
  /** Bumped by reset: answers to older requests are dropped. */
  private _token = 0;
}
