import { expect, test } from '@jupyterlab/galata';

import { notebookWithSidebar, waitConnected } from './helpers';

test('a growing cache becomes a highlighted leak suspect on its third run', async ({ page }) => {
  const sidebar = await notebookWithSidebar(page, 'leak.ipynb', [
    '%%memtrack --label "make the cache"\ncache = []',
    '%%memtrack --label "add to cache"\ncache.append(bytearray(2_000_000))'
  ]);
  await page.notebook.runCell(0);
  // No suspect after one run: one growth step is not a leak.
  await page.notebook.runCell(1);
  await expect(sidebar.locator('tbody tr')).toHaveCount(2);
  await expect(sidebar.locator('.jp-Memtrack-leak')).toHaveCount(0);
  // After two, it is watched (with its growth so far), not flagged: no row highlighted.
  await page.notebook.runCell(1);
  await expect(sidebar.locator('tbody tr')).toHaveCount(3);
  const suspect = sidebar.locator('.jp-Memtrack-leak', { hasText: 'cache' });
  await expect(suspect).toHaveAttribute('data-watching', 'true');
  await expect(sidebar.locator('tr.jp-Memtrack-leaking')).toHaveCount(0);
  await page.notebook.runCell(1);
  await expect(sidebar.locator('tbody tr')).toHaveCount(4);
  await expect(suspect).toHaveCount(1);
  await expect(suspect).not.toHaveAttribute('data-watching', 'true');
  await expect(suspect.locator('.jp-Memtrack-leakFacts')).toContainText('growing-variable');
  // The latest run's row is highlighted, and the plot marks it.
  await expect(sidebar.locator('tbody tr').last()).toHaveClass(/jp-Memtrack-leaking/);
  await suspect.locator('summary').click();
  await expect(suspect).toContainText('Size history');
});

test('an output kept by Out explains itself and is released after a confirmation', async ({
  page
}) => {
  // A 30 MB value with a short repr: the browser need not render 30 MB of bytes.
  const sidebar = await notebookWithSidebar(page, 'release.ipynb', [
    "%memtrack on\nclass Big: __repr__ = lambda self: 'Big(30 MB)'",
    'big = Big(); big.data = bytearray(30_000_000)\nbig',
    'del big'
  ]);
  for (let cell = 0; cell <= 2; cell++) {
    await page.notebook.runCell(cell);
  }
  const suspect = sidebar.locator('.jp-Memtrack-leak', { hasText: 'Out[' });
  await expect(suspect).toHaveCount(1);
  await expect(suspect.locator('.jp-Memtrack-leakFacts')).toContainText('output-history');
  await suspect.locator('summary').click();

  // Why alive: the kernel's referrer chain, shown as text.
  await suspect.getByRole('button', { name: /^Why is Out\[\d+\] still alive\?$/ }).click();
  await expect(suspect.locator('.jp-Memtrack-whyResult')).toHaveText(
    /^Alive through: user_ns\['Out'\] → dict\[\d+\]$/
  );

  // Release asks first, with what it will do and the bytes it expects to free.
  await suspect.getByRole('button', { name: /^Release Out\[\d+\]$/ }).click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText(/Release Out\[\d+\]\?/);
  await expect(dialog).toContainText(/memtrack will delete Out\[\d+\], _\d+/);
  await expect(dialog).toContainText('Expected to free: 30.0 MB');
  await dialog.getByRole('button', { name: 'Release' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(sidebar.locator('.jp-Memtrack-leakNotice')).toHaveText(
    /^Released Out\[\d+\]: memory dropped by .+ \(expected 30\.0 MB\)\.$/
  );
  // The kernel re-evaluated the suspects: the output is no longer one.
  await expect(sidebar.locator('.jp-Memtrack-leak', { hasText: 'Out[' })).toHaveCount(0);
  await page.notebook.setCell(2, 'code', 'len(Out), "big" in dir()');
  await page.notebook.runCell(2);
  await expect(page.locator('.jp-Cell').nth(2).locator('.jp-OutputArea-output')).toHaveText(
    '(0, False)'
  );
});

test('Run All of light cells lists every cell and ends with the current suspects', async ({
  page
}) => {
  // Back-to-back light cells reach the sidebar in batches that share one leak pass: every
  // cell gets its row, and the suspects are those of the namespace the last cell left.
  const sidebar = await notebookWithSidebar(page, 'run-all.ipynb', [
    '%memtrack on',
    'ra_big = list(range(300_000))',
    'ra_big',
    'del ra_big',
    'ra_a = 1',
    'ra_b = 2'
  ]);
  await page.notebook.run();
  const rows = sidebar.locator('tbody tr');
  await expect(rows).toHaveCount(5);
  await expect(rows.last()).toContainText('[6]');
  const suspect = sidebar.locator('.jp-Memtrack-leak', { hasText: 'Out[3]' });
  await expect(suspect).toHaveCount(1);
  await expect(suspect.locator('.jp-Memtrack-leakFacts')).toContainText('output-history');
});

test('the leak threshold setting reaches the kernel, and a new kernel too', async ({ page }) => {
  const sidebar = await notebookWithSidebar(page, 'threshold.ipynb', [
    "import memtrack\nmemtrack._tracker.leaks.config.threshold, 'marker' in dir()",
    'marker = 1'
  ]);
  const output = page.locator('.jp-Cell').nth(0).locator('.jp-OutputArea-output');
  await page.notebook.runCell(0);
  await expect(output).toHaveText('(1000000, False)');
  await page.evaluate(async () => {
    const registry = await window.galata.getPlugin('@jupyterlab/apputils-extension:settings');
    await registry!.set('jupyterlab-memtrack:plugin', 'leakThreshold', 50_000_000);
  });
  await page.notebook.runCell(1);
  await page.notebook.runCell(0);
  await expect(output).toHaveText('(50000000, True)');
  // A fresh kernel starts at 1 MB; the setting is sent again when the comm opens.
  // (A kernel change; in-place restarts are covered in interactions.spec.ts.)
  await page.evaluate(async () => {
    const panel: any = window.jupyterapp.shell.currentWidget;
    await panel.sessionContext.changeKernel({ name: 'python3' });
  });
  await waitConnected(sidebar);
  // The cell may reach the new kernel before the comm does: run it until it has.
  await expect(async () => {
    await page.notebook.runCell(0);
    await expect(output).toHaveText('(50000000, False)', { timeout: 2000 });
  }).toPass({ timeout: 60_000 });
});
