import * as path from 'path';

import { TranslationBundle, nullTranslator } from '@jupyterlab/translation';

import { CellTable } from '../cellTable';
import { IMemtrackRecord } from '../record';
import { readJson, sampleRecord } from './fixtures';

const trans: TranslationBundle = nullTranslator.load('jupyterlab-memtrack');

const FIXTURES = path.resolve(__dirname, '..', '..', 'schema', 'fixtures', 'valid');

/** record-cluster.json's cluster: 3 workers, "0" joined, another "0" gone, "1" stayed. */
const MEASURED = readJson(path.join(FIXTURES, 'record-cluster.json')).record.cluster;
const UNREACHABLE = readJson(path.join(FIXTURES, 'record-cluster-unreachable.json')).record.cluster;
const HOSTILE = '<b>&"quotes"';

function record(seq: number, overrides: Record<string, unknown> = {}): IMemtrackRecord {
  return sampleRecord({
    seq,
    execution_count: seq,
    cell_id: `c${seq}`,
    label: `cell ${seq}`,
    variables: [],
    ...overrides
  });
}

describe('CellTable rows with a cluster reading', () => {
  let activated: number[];
  let table: CellTable;
  const hostile = {
    ...MEASURED,
    scheduler: `tcp://${HOSTILE}:8786`,
    workers_total: 20,
    workers: [{ ...MEASURED.workers[2], name: HOSTILE }]
  };
  const records = [
    record(1),
    record(2, { cluster: MEASURED }),
    record(3, { cluster: UNREACHABLE }),
    record(4, {
      cluster: hostile,
      variables: [{ name: 'x', type: 'dask.array.Array', size: 800, delta: 800, change: 'created' }]
    })
  ];

  beforeEach(() => {
    activated = [];
    table = new CellTable({ trans, onActivate: r => activated.push(r.seq) });
    document.body.append(table.node);
    table.render(records, 'decimal', 'rss');
  });

  afterEach(() => table.node.remove());

  const row = (seq: number) =>
    table.node.querySelector<HTMLTableRowElement>(`tr.jp-Memtrack-row[data-seq="${seq}"]`)!;
  const disclosure = (seq: number) =>
    row(seq).querySelector<HTMLButtonElement>('button.jp-Memtrack-disclose');
  const cluster = (seq: number) =>
    table.node.querySelector<HTMLElement>(
      `tr.jp-Memtrack-varsRow[data-seq="${seq}"] .jp-Memtrack-cluster`
    );
  const texts = (root: Element, selector: string) =>
    Array.from(root.querySelectorAll(selector)).map(node => node.textContent);

  it('marks the rows that have a reading, with a disclosure and a tooltip line', () => {
    expect(row(1).dataset.cluster).toBeUndefined();
    expect(disclosure(1)).toBeNull();
    expect(row(2).dataset.cluster).toBe('measured');
    expect(row(3).dataset.cluster).toBe('unreachable');
    // No variables: the disclosure opens the cluster alone, and says so.
    expect(row(2).dataset.variables).toBeUndefined();
    expect(disclosure(2)!.getAttribute('aria-label')).toBe('Cluster memory of [2] cell 2');
    expect(disclosure(4)!.getAttribute('aria-label')).toBe(
      'Variables of [4] cell 4: 1 changed; cluster memory'
    );
    expect(row(2).title).toContain('Cluster: 945 MB RSS after (+400 MB), 3 workers');
    expect(row(2).title).toContain('Right arrow: show its cluster memory; left arrow: hide it');
    expect(row(3).title).toContain(
      'Cluster unreachable: scheduler did not answer within 2 s; not asked again'
    );
  });

  it('opens to the scheduler, the totals and the workers, changed ones marked in words', () => {
    disclosure(2)!.click();
    expect(activated).toEqual([]);
    const part = cluster(2)!;
    expect(part.dataset.status).toBe('measured');
    expect(part.querySelector('.jp-Memtrack-clusterHead')!.textContent).toBe(
      'Cluster · measured · tcp://127.0.0.1:43765'
    );
    expect(part.querySelector('.jp-Memtrack-clusterReason')!.textContent).toBe(
      '1 worker(s) joined, 1 worker(s) gone'
    );
    expect(texts(part, '.jp-Memtrack-clusterFigure')).toEqual([
      'RSS 545 MB → 945 MB (+400 MB)',
      'Peak 466 MB above the start',
      'Managed +400 MB (0 B → 400 MB)',
      '3 of 3 workers listed',
      'Limit 25.3 GB'
    ]);
    const workers = Array.from(part.querySelectorAll('tr.jp-Memtrack-clusterWorker'));
    expect(workers.map(tr => Array.from(tr.children).map(td => td.textContent))).toEqual([
      ['0 joined', '—', '—', '—'],
      ['0 gone', '—', '—', '—'],
      ['1', '+407 MB', '407 MB', '+200 MB']
    ]);
    expect(texts(part, '.jp-Memtrack-clusterWorkerStatus')).toEqual(['joined', 'gone']);
    expect(workers.map(tr => (tr as HTMLElement).dataset.status)).toEqual([
      'joined',
      'gone',
      'stayed'
    ]);
    // A missing figure says why; the name's tooltip gives the address.
    const joined = workers[0].children;
    expect((joined[0] as HTMLElement).title).toBe('0 (tcp://127.0.0.1:39473)');
    expect((joined[1] as HTMLElement).title).toBe(
      'Joined during the cell: no reading at its start (RSS 266 MB at the end, peak 266 MB)'
    );
    expect((workers[1].children[1] as HTMLElement).title).toContain('Left or died during the cell');
    expect((workers[2].children[1] as HTMLElement).title).toBe('406,602,240 bytes');
    expect(texts(part, '.jp-Memtrack-clusterWorkers th')).toEqual([
      'Worker',
      'RSS',
      'Peak',
      'Managed'
    ]);
  });

  it('shows only the status and the reason of a reading that did not happen', () => {
    row(3).dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    const part = cluster(3)!;
    expect(part.dataset.status).toBe('unreachable');
    expect(part.querySelector('.jp-Memtrack-clusterHead')!.textContent).toBe(
      'Cluster · unreachable · tcp://10.0.0.5:8786'
    );
    expect(part.querySelector('.jp-Memtrack-clusterReason')!.textContent).toContain(
      'scheduler did not answer within 2 s'
    );
    expect(part.querySelector('.jp-Memtrack-clusterTotals')).toBeNull();
    expect(part.querySelector('.jp-Memtrack-clusterWorkers')).toBeNull();
    row(3).dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft', bubbles: true }));
    expect(cluster(3)).toBeNull();
  });

  it('lists the variables and then the cluster, user text shown literally once', () => {
    disclosure(4)!.click();
    const detail = table.node.querySelector('tr.jp-Memtrack-varsRow[data-seq="4"]')!;
    expect(texts(detail, '.jp-Memtrack-cellVarName')).toEqual(['x']);
    const part = cluster(4)!;
    expect(part.previousElementSibling!.className).toBe('jp-Memtrack-cellVars');
    expect(texts(part, '.jp-Memtrack-clusterFigure')).toContain('1 of 20 workers listed');
    const name = part.querySelector('.jp-Memtrack-clusterWorkerName')!;
    expect(name.textContent).toBe(HOSTILE);
    expect(name.innerHTML).toBe('&lt;b&gt;&amp;"quotes"');
    expect(part.querySelector('.jp-Memtrack-clusterScheduler')!.textContent).toBe(
      `tcp://${HOSTILE}:8786`
    );
    expect(part.querySelector('b')).toBeNull();
    expect(part.textContent!.split(HOSTILE)).toHaveLength(3);
  });
});
