import { Dialog } from '@jupyterlab/apputils';
import { TranslationBundle, nullTranslator } from '@jupyterlab/translation';

import type { IVariableRequests } from '../kernelBridge';
import { ILiveVariable, IReleaseResult, IVariablesResult, IWhyResult } from '../protocol';
import { sparklinePath } from '../sparkline';
import { VariableList } from '../variableList';
import { VariablesModel } from '../variablesModel';
import { fixtures, settle, waitFor } from './fixtures';

const trans: TranslationBundle = nullTranslator.load('jupyterlab-memtrack');

/** The kernel's side of the requests: answers queued per call. */
class KernelStandIn implements IVariableRequests {
  answers: IVariablesResult[] = [];
  variableCalls = 0;
  why: string[] = [];
  releases: [string, boolean][] = [];
  whyAnswers: IWhyResult[] = [];
  releaseAnswers: IReleaseResult[] = [];

  async variables(): Promise<IVariablesResult> {
    this.variableCalls += 1;
    return this.answers.shift() ?? this.answers[0] ?? result([]);
  }

  async whyAlive(name: string): Promise<IWhyResult> {
    this.why.push(name);
    return this.whyAnswers.shift()!;
  }

  async release(target: string, dryRun: boolean): Promise<IReleaseResult> {
    this.releases.push([target, dryRun]);
    return this.releaseAnswers.shift()!;
  }
}

function result(
  variables: ILiveVariable[],
  pending = 0,
  total = variables.length
): IVariablesResult {
  return { request_id: 'r', variables, total, pending, seq: 3 };
}

/** The kernel's answer of the wire fixture: df, a hostile name (partial) and a device tensor. */
const FIXTURE: IVariablesResult = fixtures('valid').find(
  ([name]) => name === 'variables_result.json'
)![1];

describe('VariableList', () => {
  let kernel: KernelStandIn;
  let model: VariablesModel;
  let list: VariableList;

  const show = async (answer: IVariablesResult) => {
    kernel.answers = [answer];
    model.refresh();
    await settle();
  };

  beforeEach(async () => {
    kernel = new KernelStandIn();
    model = new VariablesModel({ requests: () => kernel, retries: 0 });
    list = new VariableList({ model, trans, requests: () => kernel });
    document.body.append(list.node);
    await show(FIXTURE);
  });

  afterEach(() => {
    list.dispose();
    model.dispose();
    list.node.remove();
    Dialog.flush();
  });

  const rows = () => Array.from(list.node.querySelectorAll<HTMLElement>('.jp-Memtrack-var'));
  const row = (name: string) => rows().find(r => r.dataset.name === name)!;
  const text = (name: string, cls: string) =>
    row(name).querySelector(`.jp-Memtrack-${cls}`)?.textContent;
  const status = () => list.node.querySelector('.jp-Memtrack-varStatus')!.textContent;
  const notice = () => list.node.querySelector<HTMLElement>('.jp-Memtrack-varNotice')!;
  const header = (key: string) =>
    list.node.querySelector<HTMLButtonElement>(`.jp-Memtrack-sort[data-key="${key}"]`)!;

  it('lists name, type, size and change, largest first, with the total', () => {
    expect(rows().map(r => r.dataset.name)).toEqual(['df', '<img src=x onerror=alert(1)>', 't']);
    expect(text('df', 'varName')).toBe('df');
    expect(text('df', 'varType')).toBe('pandas.core.frame.DataFrame');
    expect(text('df', 'varSize')).toBe('118 MB');
    expect(text('df', 'varChange')).toBe('+118 MB');
    expect(row('df').querySelector('.jp-Memtrack-varNameCell')!.getAttribute('title')).toContain(
      'Last bound by cell [4]'
    );
    expect(list.node.querySelector('.jp-Memtrack-varCount')!.textContent).toBe(' (12)');
    expect(list.node.querySelector('[role="table"]')!.getAttribute('aria-rowcount')).toBe('4');
  });

  it('shows a lower bound as "≥" and says where data is not counted', () => {
    const hostile = '<img src=x onerror=alert(1)>';
    expect(text(hostile, 'varSize')).toBe('≥ 38.6 MB');
    expect(row(hostile).querySelector('.jp-Memtrack-varSize')!.getAttribute('title')).toMatch(
      /^At least 38,600,000 bytes: a lower bound/
    );
    expect(text('t', 'varSize')).toBe('≥ 160 B');
    const where = row('t').querySelector<HTMLElement>('.jp-Memtrack-varWhere')!;
    expect(where.textContent).toBe('device');
    expect(where.title).toBe('host memory only; the data is on a device');
    expect(row('t').querySelector('.jp-Memtrack-varSize')!.getAttribute('title')).toContain(
      'host memory only; the data is on a device'
    );
    expect(text('df', 'varSize')).not.toContain('≥');
    expect(row('df').querySelector('.jp-Memtrack-varWhere')).toBeNull();
  });

  it('notes a lazy value', async () => {
    await show(
      result([{ name: 'lf', type: 'polars.LazyFrame', size: 900, partial: true, where: 'lazy' }])
    );
    expect(text('lf', 'varWhere')).toBe('lazy');
    expect(row('lf').querySelector<HTMLElement>('.jp-Memtrack-varWhere')!.title).toBe(
      'lazy value: host part only'
    );
  });

  it('writes a hostile name as text, once', () => {
    const hostile = '<img src=x onerror=alert(1)>';
    expect(list.node.querySelector('img')).toBeNull();
    expect(text(hostile, 'varName')).toBe(hostile);
    // Escaped exactly once: the markup holds &lt;img, never &amp;lt;.
    const html = row(hostile).querySelector('.jp-Memtrack-varName')!.innerHTML;
    expect(html).toBe('&lt;img src=x onerror=alert(1)&gt;');
    const why = row(hostile).querySelector('[data-control="why"]')!;
    expect(why.getAttribute('aria-label')).toBe(`Why is ${hostile} still alive?`);
    // Not a Python identifier: no release, whatever the kernel says.
    expect(row(hostile).querySelector('[data-control="release"]')).toBeNull();
  });

  it('draws a sparkline of the history, none without one', () => {
    const svg = row('df').querySelector('svg.jp-Memtrack-sparkline')!;
    expect(svg).not.toBeNull();
    expect(svg.getAttribute('role')).toBe('img');
    expect(svg.getAttribute('aria-label')).toBe('Size history of df: — → 118 MB');
    expect(svg.querySelector('path')!.getAttribute('d')).toMatch(/^M/);
    expect(svg.querySelector('circle')).not.toBeNull();
    expect(row('t').querySelector('svg')).toBeNull();
  });

  it('breaks the sparkline where a size is unknown', () => {
    expect(sparklinePath([], 44, 14)).toBe('');
    expect(sparklinePath([null], 44, 14)).toBe('');
    expect(sparklinePath([5], 44, 14)).toBe('M22.0 7.0');
    const d = sparklinePath([1, 2, null, 4], 44, 14);
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d.match(/L/g)).toHaveLength(1);
  });

  it('sorts with header buttons marked by aria-sort', () => {
    const sorted = () => list.node.querySelector('[role="columnheader"][aria-sort]')!;
    expect(sorted().textContent).toBe('Size');
    expect(sorted().getAttribute('aria-sort')).toBe('descending');
    for (const key of ['name', 'size', 'change']) {
      expect(header(key).tagName).toBe('BUTTON');
      expect(header(key).type).toBe('button');
    }
    // Enter or Space on a focused native button clicks it.
    header('name').focus();
    header('name').click();
    expect(sorted().textContent).toBe('Name');
    expect(sorted().getAttribute('aria-sort')).toBe('ascending');
    expect(rows().map(r => r.dataset.name)).toEqual(['<img src=x onerror=alert(1)>', 'df', 't']);
    header('size').click();
    header('size').click();
    expect(sorted().getAttribute('aria-sort')).toBe('ascending');
    expect(rows().map(r => r.dataset.name)).toEqual(['t', '<img src=x onerror=alert(1)>', 'df']);
  });

  it('keeps the focus on a sort button across a redraw (new sizes arriving)', () => {
    header('name').focus();
    model.setFilter('d');
    expect(document.activeElement).toBe(header('name'));
    model.setFilter('');
    expect(document.activeElement).toBe(header('name'));
    expect(header('name').isConnected).toBe(true);
  });

  it('moves between the rows with the arrow keys, keeping the focus across a redraw', () => {
    const why = (name: string) =>
      row(name).querySelector<HTMLButtonElement>('[data-control="why"]')!;
    why('df').focus();
    why('df').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
    expect(document.activeElement).toBe(why('<img src=x onerror=alert(1)>'));
    why('<img src=x onerror=alert(1)>').dispatchEvent(
      new KeyboardEvent('keydown', { key: 'End', bubbles: true })
    );
    expect(document.activeElement).toBe(why('t'));
    model.setFilter('t');
    expect(document.activeElement).toBe(why('t'));
  });

  it('filters by name or type from the text box', () => {
    const input = list.node.querySelector<HTMLInputElement>('.jp-Memtrack-varFilter')!;
    expect(input.getAttribute('aria-label')).toBe('Filter the variables by name or type');
    input.value = 'TORCH';
    input.dispatchEvent(new Event('input'));
    expect(rows().map(r => r.dataset.name)).toEqual(['t']);
    expect(status()).toContain('1 matches the filter');
    input.value = 'nothing';
    input.dispatchEvent(new Event('input'));
    expect(rows()).toHaveLength(0);
    expect(status()).toContain('none matches the filter');
  });

  it('says how many values are still being sized, and the largest N of the total', () => {
    expect(status()).toBe('The largest 3 of 12 · sizing 1 more…');
  });

  it('offers Release only for releasable variables', () => {
    expect(row('df').querySelector('[data-control="release"]')!.getAttribute('aria-label')).toBe(
      'Release df'
    );
    expect(row('t').querySelector('[data-control="release"]')).toBeNull();
  });

  it('asks why a variable is alive and says the answer', async () => {
    kernel.whyAnswers.push({
      request_id: 'r',
      name: 'df',
      chain: ["user_ns['df']"],
      message: 'm',
      status: 'found'
    });
    row('df').querySelector<HTMLButtonElement>('[data-control="why"]')!.click();
    expect(notice().textContent).toBe('Searching…');
    await settle();
    expect(kernel.why).toEqual(['df']);
    expect(notice().textContent).toBe("df: Alive through: user_ns['df']");
  });

  it('releases after the dialog, then asks for the sizes again', async () => {
    const answer = (dry: boolean): IReleaseResult => ({
      request_id: 'r',
      target: 'df',
      dry_run: dry,
      ok: true,
      expected_bytes: 117_750_000,
      freed_bytes: dry ? null : 117_000_000,
      action: 'delete `df`',
      message: ''
    });
    kernel.releaseAnswers.push(answer(true), answer(false));
    const calls = kernel.variableCalls;
    row('df').querySelector<HTMLButtonElement>('[data-control="release"]')!.click();
    const dialog = await waitFor(() => document.querySelector('.jp-Dialog'), 'the dialog');
    expect(dialog.textContent).toContain('memtrack will delete `df`.');
    dialog.querySelector<HTMLButtonElement>('.jp-mod-accept')!.click();
    await waitFor(() => (/Released/.test(notice().textContent ?? '') ? true : null), 'notice');
    expect(kernel.releases).toEqual([
      ['df', true],
      ['df', false]
    ]);
    expect(notice().textContent).toBe('Released df: memory dropped by 117 MB (expected 118 MB).');
    expect(kernel.variableCalls).toBe(calls + 1);
  });

  it('opens and closes with a disclosure button', () => {
    const toggle = list.node.querySelector<HTMLButtonElement>('.jp-Memtrack-varToggle')!;
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const body = document.getElementById(toggle.getAttribute('aria-controls')!)!;
    expect(body.hidden).toBe(false);
    toggle.click();
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(body.hidden).toBe(true);
    expect(list.expanded).toBe(false);
  });

  it('keeps 10,000 variables fast: only a window of rows is in the DOM', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({
      name: `v${i}`,
      type: 'list',
      size: 10_000 - i,
      partial: i % 2 === 0,
      history: [1, 2, 3],
      change: i
    }));
    const started = performance.now();
    await show(result(many));
    model.sortBy('name');
    model.setFilter('v9');
    model.setFilter('');
    const elapsed = performance.now() - started;
    expect(rows().length).toBeLessThanOrEqual(100);
    expect(list.renderedCount).toBe(rows().length);
    expect(list.node.querySelector('[role="table"]')!.getAttribute('aria-rowcount')).toBe('10001');
    // Generous for a slow CI machine; drawing all 10,000 rows takes far longer.
    expect(elapsed).toBeLessThan(3000);
  });
});
