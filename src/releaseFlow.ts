/**
 * The "Why alive?" and "Release…" flows the leak list and the variables
 * section share: asking the kernel, the words for its answers, and the release
 * that asks before it acts (a dry run, a JupyterLab dialog, then the release).
 * textContent only: names, actions and chains come from user code.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { formatBytes, Units } from './format';
import type { ILeakRequests } from './kernelBridge';
import { IReleaseResult, IWhyResult } from './protocol';

/** A Python identifier: what `%memtrack release NAME` accepts as a variable. */
export const IDENTIFIER = /^[\p{L}_][\p{L}\p{N}_]*$/u;

/** Where a "Why alive?" question stands. */
export type WhyState =
  | { state: 'pending' }
  | { state: 'answer'; result: IWhyResult }
  | { state: 'failed'; reason: string };

/** How a notice about a release reads: in progress, done, or failed. */
export type NoticeKind = 'busy' | 'done' | 'failed';

/** The text of a rejection, for the user. */
export function errorText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** Ask the kernel why `name` is alive; never rejects (a failure is a state). */
export async function askWhy(
  requests: ILeakRequests | undefined,
  name: string,
  trans: TranslationBundle
): Promise<WhyState> {
  if (!requests) {
    return { state: 'failed', reason: trans.__('not connected to the kernel') };
  }
  try {
    return { state: 'answer', result: await requests.whyAlive(name) };
  } catch (reason) {
    return { state: 'failed', reason: errorText(reason) };
  }
}

/** What a why state says, in a sentence. */
export function whyText(trans: TranslationBundle, name: string, state: WhyState): string {
  if (state.state === 'pending') {
    return trans.__('Searching…');
  }
  if (state.state === 'failed') {
    return trans.__('No answer: %1', state.reason);
  }
  const { chain, status } = state.result;
  const path = (chain ?? []).join(' → ');
  const text: Record<string, string> = {
    found: trans.__('Alive through: %1', path),
    timeout: chain
      ? trans.__('The search ran out of time; found so far: %1', path)
      : trans.__('The search ran out of time before it found a holder.'),
    'not-found': trans.__('No holder found in the namespaces memtrack searches.'),
    gone: trans.__('%1 is gone: no such variable or suspect any more.', name)
  };
  return text[status] ?? state.result.message;
}

/** The data-status a why state is drawn with (the answer's status, else the state). */
export function whyStatus(state: WhyState | undefined): string {
  if (!state) {
    return '';
  }
  return state.state === 'answer' ? state.result.status : state.state;
}

/** What a real release did, in a sentence. */
export function releasedText(
  trans: TranslationBundle,
  name: string,
  done: IReleaseResult,
  units: Units
): string {
  const expected = formatBytes(done.expected_bytes, units);
  return done.freed_bytes === null
    ? trans.__('Released %1 (expected to free %2).', name, expected)
    : trans.__(
        'Released %1: memory dropped by %2 (expected %3).',
        name,
        formatBytes(done.freed_bytes, units),
        expected
      );
}

/** The JupyterLab dialog that asks before releasing; true when confirmed. */
export async function confirmRelease(
  trans: TranslationBundle,
  name: string,
  plan: IReleaseResult,
  units: Units
): Promise<boolean> {
  const body = document.createElement('div');
  body.className = 'jp-Memtrack-releaseDialog';
  const action = document.createElement('p');
  action.className = 'jp-Memtrack-releaseAction';
  action.textContent = trans.__('memtrack will %1.', plan.action);
  const expected = document.createElement('p');
  expected.className = 'jp-Memtrack-releaseExpected';
  expected.textContent = trans.__('Expected to free: %1', formatBytes(plan.expected_bytes, units));
  const warning = document.createElement('p');
  warning.textContent = trans.__(
    'This cannot be undone: run the cells that made the values again if you need them.'
  );
  body.append(action, expected, warning);
  const result = await showDialog({
    title: trans.__('Release %1?', name),
    body: new Widget({ node: body }),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Release') })
    ],
    // Enter keeps everything: releasing is the deliberate choice.
    defaultButton: 0
  });
  return result.button.accept;
}

export interface IReleaseFlowOptions {
  requests: ILeakRequests;
  /** What the user sees the value as (a variable, Out[12], sys.last_traceback). */
  name: string;
  /** The arguments of `%memtrack release`. */
  target: string;
  trans: TranslationBundle;
  units: Units;
  /** Says where the release stands; an empty text clears the notice. */
  notify: (text: string, kind: NoticeKind) => void;
}

/**
 * Release `target` the way `%memtrack release` does, asking first: a dry run
 * says what it would free, the dialog asks, then the release. Resolves with the
 * kernel's answer to the real release, or null when nothing was released
 * (refused, cancelled or failed: the notice says which).
 */
export async function runRelease(options: IReleaseFlowOptions): Promise<IReleaseResult | null> {
  const { requests, name, target, trans, units, notify } = options;
  notify(trans.__('Asking the kernel what releasing %1 would free…', name), 'busy');
  try {
    const plan = await requests.release(target, true);
    if (!plan.ok) {
      notify(trans.__('Cannot release %1: %2', name, plan.message), 'failed');
      return null;
    }
    if (!(await confirmRelease(trans, name, plan, units))) {
      notify('', 'done');
      return null;
    }
    notify(trans.__('Releasing %1…', name), 'busy');
    const done = await requests.release(target, false);
    if (!done.ok) {
      notify(trans.__('Cannot release %1: %2', name, done.message), 'failed');
      return null;
    }
    notify(releasedText(trans, name, done, units), 'done');
    return done;
  } catch (reason) {
    notify(trans.__('Release of %1 failed: %2', name, errorText(reason)), 'failed');
    return null;
  }
}
