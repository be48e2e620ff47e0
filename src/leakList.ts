/**
 * The "Leak suspects" section: what the kernel's leak analysis reports in the
 * latest record, each suspect expandable to its reason and size history, with
 * "Why alive?" (a referrer chain the kernel searches for) and, where
 * `%memtrack release` applies, a release that asks before it acts.
 * textContent only: names, reasons and chains come from user code.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatDelta, Units } from './format';
import type { ILeakRequests } from './kernelBridge';
import { IMemtrackRecord, isReleaseRecord } from './record';
import {
  askWhy,
  IDENTIFIER,
  NoticeKind,
  runRelease,
  WhyState,
  whyStatus,
  whyText
} from './releaseFlow';

/** A leak suspect as the kernel describes it; every field is optional on the wire. */
export interface ILeakSuspect {
  name: string;
  kind: string;
  size: number | null;
  growth: number | null;
  reason: string;
  cells: number[];
  history: number[];
  chain: string[];
  /** Only watched so far: it grew one time fewer than needed to be flagged (not highlighted). */
  watching: boolean;
}

function asNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Read suspects defensively (the leak analysis may add fields). */
export function parseSuspects(leaks: Record<string, unknown>[]): ILeakSuspect[] {
  return leaks.map(leak => ({
    name: typeof leak.name === 'string' ? leak.name : '?',
    kind: typeof leak.kind === 'string' ? leak.kind : 'unknown',
    size: asNumber(leak.size),
    growth: asNumber(leak.growth),
    reason: typeof leak.reason === 'string' ? leak.reason : '',
    cells: Array.isArray(leak.cells) ? leak.cells.filter(Number.isInteger) : [],
    history: Array.isArray(leak.history)
      ? (leak.history as unknown[]).map(asNumber).filter((v): v is number => v !== null)
      : [],
    chain: Array.isArray(leak.chain) ? leak.chain.map(String) : [],
    watching: leak.watching === true
  }));
}

/** The suspects of a record. */
export function leakSuspects(record: IMemtrackRecord | undefined): ILeakSuspect[] {
  return record ? parseSuspects(record.leaks) : [];
}

/**
 * The `%memtrack release` arguments that free a suspect, or null when release
 * does not apply (cycles, gc.garbage, a deleted name): `out N` for Out[N],
 * `traceback` for the last traceback, the name of a variable.
 */
export function releaseTarget(suspect: ILeakSuspect): string | null {
  switch (suspect.kind) {
    case 'output-history': {
      const match = /^Out\[(\d+)\]$/.exec(suspect.name);
      return match ? `out ${match[1]}` : null;
    }
    case 'traceback':
      return 'traceback';
    case 'growing-variable':
    case 'shared-after-del':
      return IDENTIFIER.test(suspect.name) ? suspect.name : null;
    default:
      return null;
  }
}

export interface ILeakListOptions {
  trans: TranslationBundle;
  /** The kernel requests of the notebook shown; undefined when not connected. */
  requests?: () => ILeakRequests | undefined;
}

/** The nodes of one drawn suspect that async answers update in place (focus stays). */
interface IDrawn {
  why: HTMLElement;
  release: HTMLButtonElement | null;
}

export class LeakList {
  readonly node = document.createElement('section');

  constructor(options: ILeakListOptions) {
    this._trans = options.trans;
    this._requests = options.requests;
    this.node.className = 'jp-Memtrack-leaks';
    this.node.setAttribute('aria-label', this._trans.__('Leak suspects'));
    this._notice.className = 'jp-Memtrack-leakNotice';
    this._notice.setAttribute('role', 'status');
    this._notice.tabIndex = -1;
    this._notice.hidden = true;
  }

  render(records: IMemtrackRecord[], units: Units): void {
    const latest = records[records.length - 1];
    if (latest !== this._latest) {
      // Answers about an older state would mislead: start over (requests in flight stay).
      // A release's own record carries the suspects the kernel re-evaluated after it, the same
      // as its answer: the notice saying what it freed stays.
      this._latest = latest;
      this._why.clear();
      this._override = null;
      if (!latest || !isReleaseRecord(latest)) {
        this._setNotice('', 'done');
      }
    }
    this._units = units;
    this._draw();
  }

  /** The suspects shown: the kernel's list after a release, else the latest record's. */
  get suspects(): ILeakSuspect[] {
    return this._override ?? leakSuspects(this._latest);
  }

  private _draw(): void {
    const suspects = this.suspects;
    const units = this._units;
    this.node.replaceChildren();
    this._drawn.clear();
    this.node.hidden = suspects.length === 0 && !this._notice.textContent;
    if (this.node.hidden) {
      return;
    }
    const heading = document.createElement('h3');
    heading.className = 'jp-Memtrack-sectionTitle';
    heading.textContent = this._trans.__('Leak suspects');
    this.node.append(heading, this._notice);
    for (const suspect of suspects) {
      this.node.append(this._drawSuspect(suspect, units));
    }
  }

  private _drawSuspect(suspect: ILeakSuspect, units: Units): HTMLElement {
    const trans = this._trans;
    const key = `${suspect.kind}:${suspect.name}`;
    const details = document.createElement('details');
    details.className = 'jp-Memtrack-leak';
    details.dataset.kind = suspect.kind;
    details.open = this._open.has(key);
    details.addEventListener('toggle', () => {
      if (details.open) {
        this._open.add(key);
      } else {
        this._open.delete(key);
      }
    });
    const summary = document.createElement('summary');
    const name = document.createElement('code');
    name.className = 'jp-Memtrack-leakName';
    name.textContent = suspect.name;
    const facts = document.createElement('span');
    facts.className = 'jp-Memtrack-leakFacts';
    const parts = [suspect.kind, formatBytes(suspect.size, units)];
    if (suspect.growth !== null) {
      parts.push(trans.__('%1 growth', formatDelta(suspect.growth, units)));
    }
    facts.textContent = parts.join(' · ');
    summary.append(name);
    if (suspect.watching) {
      // Not a leak yet: no highlight, no cross on the plot; its growth so far is in the facts.
      details.dataset.watching = 'true';
      const tag = document.createElement('span');
      tag.className = 'jp-Memtrack-watchingTag';
      tag.textContent = trans.__('watching');
      tag.title = trans.__('Grew at its last changes; flagged as a leak if it grows again');
      summary.append(' ', tag);
    }
    summary.append(facts);
    details.append(summary);
    if (suspect.reason) {
      const reason = document.createElement('p');
      reason.textContent = suspect.reason;
      details.append(reason);
    }
    if (suspect.history.length) {
      const history = document.createElement('p');
      history.className = 'jp-Memtrack-leakHistory';
      history.textContent = trans.__(
        'Size history: %1',
        suspect.history.map(v => formatBytes(v, units)).join(' → ')
      );
      details.append(history);
    }
    if (suspect.chain.length) {
      const chain = document.createElement('p');
      chain.className = 'jp-Memtrack-leakChain';
      chain.textContent = trans.__('Kept alive by: %1', suspect.chain.join(' → '));
      details.append(chain);
    }

    const actions = document.createElement('div');
    actions.className = 'jp-Memtrack-leakActions';
    const whyButton = document.createElement('button');
    whyButton.type = 'button';
    whyButton.className = 'jp-Memtrack-button jp-Memtrack-why';
    whyButton.textContent = trans.__('Why alive?');
    whyButton.setAttribute('aria-label', trans.__('Why is %1 still alive?', suspect.name));
    whyButton.title = trans.__('Ask the kernel what keeps %1 alive', suspect.name);
    whyButton.addEventListener('click', () => void this._askWhy(suspect.name));
    actions.append(whyButton);
    let releaseButton: HTMLButtonElement | null = null;
    const target = releaseTarget(suspect);
    if (target !== null) {
      releaseButton = document.createElement('button');
      releaseButton.type = 'button';
      releaseButton.className = 'jp-Memtrack-button jp-Memtrack-release';
      releaseButton.textContent = trans.__('Release…');
      releaseButton.setAttribute('aria-label', trans.__('Release %1', suspect.name));
      releaseButton.title = trans.__(
        'Free what %1 keeps alive (like %%memtrack release %2); asks first',
        suspect.name,
        target
      );
      releaseButton.disabled = this._releasing.has(target);
      releaseButton.addEventListener('click', () => void this._release(suspect, target));
      actions.append(releaseButton);
    }
    const why = document.createElement('p');
    why.className = 'jp-Memtrack-whyResult';
    why.setAttribute('aria-live', 'polite');
    details.append(actions, why);
    this._drawn.set(suspect.name, { why, release: releaseButton });
    this._showWhy(suspect.name);
    return details;
  }

  // -- why alive ----------------------------------------------------------------------------

  private async _askWhy(name: string): Promise<void> {
    if (this._why.get(name)?.state === 'pending') {
      return;
    }
    const requests = this._requests?.();
    const about = this._latest;
    if (requests) {
      this._why.set(name, { state: 'pending' });
      this._showWhy(name);
    }
    const next = await askWhy(requests, name, this._trans);
    if (about === this._latest) {
      this._why.set(name, next);
      this._showWhy(name);
    }
  }

  private _showWhy(name: string): void {
    const node = this._drawn.get(name)?.why;
    if (!node) {
      return;
    }
    const state = this._why.get(name);
    node.hidden = !state;
    node.dataset.status = whyStatus(state);
    node.title = state?.state === 'answer' ? state.result.message : '';
    node.textContent = state ? whyText(this._trans, name, state) : '';
  }

  // -- release ------------------------------------------------------------------------------

  private async _release(suspect: ILeakSuspect, target: string): Promise<void> {
    const trans = this._trans;
    const requests = this._requests?.();
    if (!requests) {
      this._setNotice(trans.__('Not connected to the kernel.'), 'failed');
      return;
    }
    if (this._releasing.has(target)) {
      return;
    }
    const focusWasInside = this.node.contains(document.activeElement);
    this._releasing.add(target);
    this._setReleaseDisabled(suspect.name, true);
    let redraw = false;
    try {
      const done = await runRelease({
        requests,
        name: suspect.name,
        target,
        trans,
        units: this._units,
        notify: (text, kind) => this._setNotice(text, kind)
      });
      if (done?.suspects) {
        // The kernel re-evaluated the suspects after the release: show them.
        this._override = parseSuspects(done.suspects);
        this._why.delete(suspect.name);
        redraw = true;
      }
    } finally {
      this._releasing.delete(target);
      if (redraw) {
        this._draw();
        if (focusWasInside) {
          this._notice.focus();
        }
      } else {
        this._setReleaseDisabled(suspect.name, false);
      }
    }
  }

  private _setReleaseDisabled(name: string, disabled: boolean): void {
    const button = this._drawn.get(name)?.release;
    if (button) {
      button.disabled = disabled;
    }
  }

  private _setNotice(text: string, kind: NoticeKind): void {
    this._notice.textContent = text;
    this._notice.dataset.kind = kind;
    this._notice.hidden = !text;
    if (text && this.node.hidden) {
      this._draw();
    }
  }

  private _trans: TranslationBundle;
  private _requests: (() => ILeakRequests | undefined) | undefined;
  private _latest: IMemtrackRecord | undefined = undefined;
  private _units: Units = 'decimal';
  private _override: ILeakSuspect[] | null = null;
  private _open = new Set<string>();
  private _why = new Map<string, WhyState>();
  private _releasing = new Set<string>();
  private _drawn = new Map<string, IDrawn>();
  private _notice = document.createElement('p');
}
