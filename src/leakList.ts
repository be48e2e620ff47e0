/**
 * The "Leak suspects" section: what the kernel's leak analysis reports in the
 * latest record, each suspect expandable to its reason and size history.
 * textContent only: names and reasons come from user code.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, formatDelta, Units } from './format';
import { IMemtrackRecord } from './tokens';

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
}

function asNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Read the suspects of a record defensively (the leak analysis may add fields). */
export function leakSuspects(record: IMemtrackRecord | undefined): ILeakSuspect[] {
  if (!record) {
    return [];
  }
  return record.leaks.map(leak => ({
    name: typeof leak.name === 'string' ? leak.name : '?',
    kind: typeof leak.kind === 'string' ? leak.kind : 'unknown',
    size: asNumber(leak.size),
    growth: asNumber(leak.growth),
    reason: typeof leak.reason === 'string' ? leak.reason : '',
    cells: Array.isArray(leak.cells) ? leak.cells.filter(Number.isInteger) : [],
    history: Array.isArray(leak.history)
      ? (leak.history as unknown[]).map(asNumber).filter((v): v is number => v !== null)
      : [],
    chain: Array.isArray(leak.chain) ? leak.chain.map(String) : []
  }));
}

export class LeakList {
  readonly node = document.createElement('section');

  constructor(trans: TranslationBundle) {
    this._trans = trans;
    this.node.className = 'jp-Memtrack-leaks';
    this.node.setAttribute('aria-label', trans.__('Leak suspects'));
  }

  render(records: IMemtrackRecord[], units: Units): void {
    const suspects = leakSuspects(records[records.length - 1]);
    this.node.replaceChildren();
    this.node.hidden = suspects.length === 0;
    if (!suspects.length) {
      return;
    }
    const heading = document.createElement('h3');
    heading.className = 'jp-Memtrack-sectionTitle';
    heading.textContent = this._trans.__('Leak suspects');
    this.node.append(heading);
    for (const suspect of suspects) {
      const details = document.createElement('details');
      details.className = 'jp-Memtrack-leak';
      details.dataset.kind = suspect.kind;
      const summary = document.createElement('summary');
      const name = document.createElement('code');
      name.className = 'jp-Memtrack-leakName';
      name.textContent = suspect.name;
      const facts = document.createElement('span');
      facts.className = 'jp-Memtrack-leakFacts';
      const parts = [suspect.kind, formatBytes(suspect.size, units)];
      if (suspect.growth !== null) {
        parts.push(this._trans.__('%1 growth', formatDelta(suspect.growth, units)));
      }
      facts.textContent = parts.join(' · ');
      summary.append(name, facts);
      details.append(summary);
      if (suspect.reason) {
        const reason = document.createElement('p');
        reason.textContent = suspect.reason;
        details.append(reason);
      }
      if (suspect.history.length) {
        const history = document.createElement('p');
        history.className = 'jp-Memtrack-leakHistory';
        history.textContent = this._trans.__(
          'Size history: %1',
          suspect.history.map(v => formatBytes(v, units)).join(' → ')
        );
        details.append(history);
      }
      if (suspect.chain.length) {
        const chain = document.createElement('p');
        chain.className = 'jp-Memtrack-leakChain';
        chain.textContent = this._trans.__('Kept alive by: %1', suspect.chain.join(' → '));
        details.append(chain);
      }
      this.node.append(details);
    }
  }

  private _trans: TranslationBundle;
}
