import { expect, test } from '@jupyterlab/galata';

import { notebookWithSidebar } from './helpers';

/**
 * A dask cluster's memory in the sidebar (issue 22), against a real kernel and
 * a LocalCluster of two worker processes: the plot's cluster line and the
 * Cluster part of the cell's row.
 */
const CELLS = [
  'from distributed import Client, LocalCluster\n' +
    'cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)\n' +
    'client = Client(cluster)',
  '%memtrack on',
  // 100 MB of task results, kept by the two workers.
  'import dask.array as da\nfrom distributed import wait\n' +
    'x = da.random.random(12_500_000, chunks=2_500_000).persist()\nwait(x)',
  'client.close()\ncluster.close()'
];

test('a dask cell draws the cluster line and its row opens to the workers', async ({ page }) => {
  const sidebar = await notebookWithSidebar(page, 'cluster.ipynb', CELLS);
  try {
    for (let cell = 0; cell <= 2; cell++) {
      await page.notebook.runCell(cell);
    }
    const row = sidebar.locator('tr.jp-Memtrack-row[data-cluster="measured"]');
    await expect(row).toHaveCount(1, { timeout: 30_000 });
    // The dask cell (a light cell has no label: its execution count).
    await expect(row).toContainText('[3]');
    await expect(row).toHaveAttribute('title', /Cluster: \d+(\.\d)? [MG]B RSS after \(\+/);

    // The plot: a trace of its own, with the cell's point on it.
    await expect(
      sidebar.locator('.jp-Memtrack-plot .legendtext', { hasText: 'cluster RSS' })
    ).toHaveCount(1);
    const points = await sidebar
      .locator('.js-plotly-plot')
      .evaluate((node: any) =>
        node.data
          .find((trace: any) => trace.name === 'cluster RSS')
          .y.filter((y: any) => y !== null)
      );
    expect(points).toHaveLength(1);
    // Two workers of a fresh interpreter each, with 100 MB between them.
    expect(points[0]).toBeGreaterThan(200_000_000);

    const disclosure = row.locator('button.jp-Memtrack-disclose');
    await disclosure.click();
    await expect(disclosure).toHaveAttribute('aria-expanded', 'true');
    const part = sidebar.locator('tr.jp-Memtrack-varsRow .jp-Memtrack-cluster');
    await expect(part).toHaveAttribute('data-status', 'measured');
    await expect(part.locator('.jp-Memtrack-clusterHead')).toContainText(
      /^Cluster · measured · tcp:\/\/127\.0\.0\.1:\d+$/
    );
    await expect(part.locator('[data-figure="workers"]')).toHaveText('2 of 2 workers listed');
    await expect(part.locator('[data-figure="managed"]')).toHaveText(/^Managed \+100 MB /);
    const workers = part.locator('tr.jp-Memtrack-clusterWorker');
    await expect(workers).toHaveCount(2);
    // Both stayed through the cell: neither is marked joined, gone or unreadable.
    await expect(part.locator('tr.jp-Memtrack-clusterWorker[data-status="stayed"]')).toHaveCount(2);
    await expect(workers.locator('.jp-Memtrack-clusterWorkerStatus')).toHaveCount(0);
    await expect(workers.first().locator('td').nth(1)).toHaveText(/^\+\d+(\.\d)? MB$/);
    await page.screenshot({ path: test.info().outputPath('cluster.png') });
    await page.theme.setDarkTheme();
    await page.screenshot({ path: test.info().outputPath('cluster-dark.png') });
    // The keyboard closes it, as the variables' detail.
    await row.focus();
    await page.keyboard.press('ArrowLeft');
    await expect(part).toHaveCount(0);
  } finally {
    await page.notebook.runCell(3);
  }
});
