import { Dialog } from '@jupyterlab/apputils';
import { TranslationBundle, nullTranslator } from '@jupyterlab/translation';

import type { ILeakRequests } from '../kernelBridge';
import { ILeakSuspect, LeakList, releaseTarget } from '../leakList';
import { IReleaseResult, IWhyResult } from '../protocol';
import { sampleRecord, settle, waitFor } from './fixtures';

const trans: TranslationBundle = nullTranslator.load('jupyterlab-memtrack');

/**
 * The kernel's side of the requests (a real kernel is out of reach in jsdom;
 * the wire itself is tested in pytest and Galata): answers are queued per call.
 */
class KernelStandIn implements ILeakRequests {
  why: string[] = [];
  releases: [string, boolean][] = [];
  whyAnswers: (IWhyResult | Error)[] = [];
  releaseAnswers: (IReleaseResult | Error)[] = [];
  gate: Promise<void> = Promise.resolve();

  async whyAlive(name: string): Promise<IWhyResult> {
    this.why.push(name);
    await this.gate;
    const answer = this.whyAnswers.shift()!;
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  }

  async release(target: string, dryRun: boolean): Promise<IReleaseResult> {
    this.releases.push([target, dryRun]);
    const answer = this.releaseAnswers.shift()!;
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  }
}

function whyAnswer(overrides: Partial<IWhyResult>): IWhyResult {
  return {
    request_id: 'r',
    name: 'x',
    chain: null,
    message: 'kernel text',
    status: 'found',
    ...overrides
  };
}

function releaseAnswer(overrides: Partial<IReleaseResult>): IReleaseResult {
  return {
    request_id: 'r',
    target: 'out 12',
    dry_run: true,
    ok: true,
    expected_bytes: 30_000_057,
    freed_bytes: null,
    action: 'delete Out[12], _12 and _',
    message: 'would delete Out[12], _12 and _',
    ...overrides
  };
}

const LEAKS = [
  {
    name: 'Out[12]',
    kind: 'output-history',
    size: 30_000_057,
    reason: 'Out[12] holds 30.0 MB',
    chain: ["user_ns['Out']", 'dict[12]']
  },
  { name: 'cache', kind: 'growing-variable', size: 8_000_000, growth: 6_000_000 },
  { name: 'sys.last_traceback', kind: 'traceback', size: 2_000_000 },
  { name: 'node', kind: 'cycle', size: 3_000_000 }
];

function suspect(name: string, kind: string): ILeakSuspect {
  return {
    name,
    kind,
    size: 1,
    growth: null,
    reason: '',
    cells: [],
    history: [],
    chain: [],
    watching: false
  };
}

describe('releaseTarget', () => {
  it('maps each suspect to the arguments of %memtrack release', () => {
    expect(releaseTarget(suspect('Out[12]', 'output-history'))).toBe('out 12');
    expect(releaseTarget(suspect('sys.last_traceback', 'traceback'))).toBe('traceback');
    expect(releaseTarget(suspect('cache', 'growing-variable'))).toBe('cache');
    expect(releaseTarget(suspect('données', 'shared-after-del'))).toBe('données');
  });

  it('offers no release where %memtrack release does not apply', () => {
    expect(releaseTarget(suspect('node', 'cycle'))).toBeNull();
    expect(releaseTarget(suspect('gc.garbage', 'cycle'))).toBeNull();
    expect(releaseTarget(suspect('Out[x]', 'output-history'))).toBeNull();
    expect(releaseTarget(suspect('a b', 'growing-variable'))).toBeNull();
    expect(releaseTarget(suspect('x', 'something-new'))).toBeNull();
  });
});

describe('LeakList', () => {
  let kernel: KernelStandIn;
  let connected: boolean;
  let list: LeakList;

  beforeEach(() => {
    kernel = new KernelStandIn();
    connected = true;
    list = new LeakList({ trans, requests: () => (connected ? kernel : undefined) });
    document.body.append(list.node);
    list.render([sampleRecord({ seq: 1, leaks: LEAKS })], 'decimal');
  });

  afterEach(() => {
    list.node.remove();
    Dialog.flush();
  });

  const item = (name: string): HTMLElement =>
    Array.from(list.node.querySelectorAll('.jp-Memtrack-leak')).find(
      node => node.querySelector('.jp-Memtrack-leakName')?.textContent === name
    ) as HTMLElement;
  const button = (name: string, cls: string) =>
    item(name).querySelector<HTMLButtonElement>(`.jp-Memtrack-${cls}`);
  const whyText = (name: string) => item(name).querySelector('.jp-Memtrack-whyResult')?.textContent;
  const notice = () => list.node.querySelector('.jp-Memtrack-leakNotice') as HTMLElement;

  it('gives every suspect a why button and releasable ones a release button', () => {
    for (const { name } of LEAKS) {
      const why = button(name, 'why')!;
      expect(why.tagName).toBe('BUTTON');
      expect(why.getAttribute('aria-label')).toBe(`Why is ${name} still alive?`);
    }
    expect(button('Out[12]', 'release')!.getAttribute('aria-label')).toBe('Release Out[12]');
    expect(button('cache', 'release')).not.toBeNull();
    expect(button('sys.last_traceback', 'release')).not.toBeNull();
    expect(button('node', 'release')).toBeNull();
  });

  it('shows progress, then the chain the kernel found, as text', async () => {
    let open!: () => void;
    kernel.gate = new Promise(resolve => (open = resolve));
    kernel.whyAnswers.push(
      whyAnswer({ name: 'cache', chain: ["user_ns['h']", "dict['<b>k</b>']"] })
    );
    button('cache', 'why')!.click();
    expect(kernel.why).toEqual(['cache']);
    expect(whyText('cache')).toBe('Searching…');
    open();
    await settle();
    expect(whyText('cache')).toBe("Alive through: user_ns['h'] → dict['<b>k</b>']");
    expect(item('cache').querySelector('b')).toBeNull();
  });

  it('keeps the answer while the same record is shown, and drops it for a new one', async () => {
    kernel.whyAnswers.push(whyAnswer({ chain: ['a', 'b'] }));
    const record = sampleRecord({ seq: 1, leaks: LEAKS });
    list.render([record], 'decimal');
    button('cache', 'why')!.click();
    await settle();
    const details = item('cache') as HTMLDetailsElement;
    details.open = true;
    details.dispatchEvent(new Event('toggle'));
    list.render([record], 'binary');
    expect(whyText('cache')).toBe('Alive through: a → b');
    expect((item('cache') as HTMLDetailsElement).open).toBe(true);
    list.render([record, sampleRecord({ seq: 2, leaks: LEAKS })], 'decimal');
    expect(whyText('cache')).toBe('');
  });

  it('says when the search ran out of time, found nothing, or the name is gone', async () => {
    kernel.whyAnswers.push(
      whyAnswer({ status: 'timeout', chain: null }),
      whyAnswer({ status: 'gone' }),
      new Error('the kernel did not answer the why request within 20 s')
    );
    button('Out[12]', 'why')!.click();
    button('node', 'why')!.click();
    button('cache', 'why')!.click();
    await settle();
    expect(whyText('Out[12]')).toBe('The search ran out of time before it found a holder.');
    expect(whyText('node')).toBe('node is gone: no such variable or suspect any more.');
    expect(whyText('cache')).toMatch(/^No answer: the kernel did not answer .* 20 s$/);
  });

  it('asks with a dialog before releasing, then shows what was freed', async () => {
    kernel.releaseAnswers.push(
      releaseAnswer({}),
      releaseAnswer({
        dry_run: false,
        freed_bytes: 30_003_200,
        suspects: [LEAKS[1]]
      })
    );
    button('Out[12]', 'release')!.click();
    const dialog = await waitFor(() => document.querySelector('.jp-Dialog'), 'the dialog');
    expect(kernel.releases).toEqual([['out 12', true]]);
    // The title is a React node: rendered a moment later.
    await waitFor(
      () => (/Release Out\[12\]\?/.test(dialog.textContent ?? '') ? true : null),
      'title'
    );
    expect(dialog.textContent).toContain('memtrack will delete Out[12], _12 and _.');
    expect(dialog.textContent).toContain('Expected to free: 30.0 MB');
    const accept = dialog.querySelector<HTMLButtonElement>('.jp-mod-accept')!;
    expect(accept.textContent).toBe('Release');
    accept.click();
    await waitFor(() => (kernel.releases.length === 2 ? true : null), 'the release');
    expect(kernel.releases[1]).toEqual(['out 12', false]);
    await waitFor(() => (/Released/.test(notice().textContent ?? '') ? true : null), 'notice');
    expect(notice().textContent).toBe(
      'Released Out[12]: memory dropped by 30.0 MB (expected 30.0 MB).'
    );
    // The kernel's re-evaluated suspects replace the record's.
    expect(list.suspects.map(s => s.name)).toEqual(['cache']);
    expect(list.node.querySelectorAll('.jp-Memtrack-leak')).toHaveLength(1);

    // The release's own record follows, with the same suspects: what it freed stays said.
    const first = sampleRecord({ seq: 1, leaks: LEAKS });
    const release = sampleRecord({
      seq: 2,
      mode: 'release',
      cell_id: null,
      execution_count: null,
      leaks: [LEAKS[1]]
    });
    list.render([first, release], 'decimal');
    expect(notice().textContent).toBe(
      'Released Out[12]: memory dropped by 30.0 MB (expected 30.0 MB).'
    );
    expect(list.suspects.map(s => s.name)).toEqual(['cache']);
    // The next cell's record starts over.
    list.render([first, release, sampleRecord({ seq: 3, leaks: [LEAKS[1]] })], 'decimal');
    expect(notice().hidden).toBe(true);
  });

  it('releases nothing when the dialog is cancelled', async () => {
    kernel.releaseAnswers.push(releaseAnswer({ target: 'cache', action: 'delete `cache`' }));
    button('cache', 'release')!.click();
    const dialog = await waitFor(() => document.querySelector('.jp-Dialog'), 'the dialog');
    expect(dialog.textContent).toContain('memtrack will delete `cache`.');
    dialog.querySelector<HTMLButtonElement>('.jp-mod-reject')!.click();
    await waitFor(() => (document.querySelector('.jp-Dialog') ? null : true), 'dialog closed');
    await settle();
    expect(kernel.releases).toEqual([['cache', true]]);
    expect(list.node.querySelectorAll('.jp-Memtrack-leak')).toHaveLength(4);
    expect(button('cache', 'release')!.disabled).toBe(false);
  });

  it('shows why a release cannot be done, without a dialog', async () => {
    kernel.releaseAnswers.push(
      releaseAnswer({ ok: false, expected_bytes: null, message: 'no traceback is kept' })
    );
    button('sys.last_traceback', 'release')!.click();
    await settle();
    expect(kernel.releases).toEqual([['traceback', true]]);
    expect(document.querySelector('.jp-Dialog')).toBeNull();
    expect(notice().textContent).toBe('Cannot release sys.last_traceback: no traceback is kept');
    expect(notice().dataset.kind).toBe('failed');
  });

  it('says so when the kernel is not connected', async () => {
    connected = false;
    button('cache', 'release')!.click();
    button('cache', 'why')!.click();
    await settle();
    expect(notice().textContent).toBe('Not connected to the kernel.');
    expect(whyText('cache')).toBe('No answer: not connected to the kernel');
    expect(kernel.releases).toEqual([]);
  });
});
