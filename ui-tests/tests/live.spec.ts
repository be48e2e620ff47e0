/**
 * Issue 18: the running cell is shown live, a kernel that dies leaves a row
 * that says so, and a page reload after a restart shows every earlier row (the
 * kernel sends its earlier processes' records). These need the kernel half
 * (live messages, the KernelDied record, history's `earlier`).
 */
import { expect, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';

import {
  linePoints,
  notebookWithSidebar,
  reloadWithNotebook,
  SIDEBAR,
  waitConnected
} from './helpers';

/** Grows a list by 10 MB every 0.2 s, for about 4 s. */
const GROWING_CELL = [
  'import time',
  'grown = []',
  'for _ in range(20):',
  "    grown.append(b'x' * 10_000_000)",
  '    time.sleep(0.2)'
].join('\n');

/** Run the active cell without waiting for it to finish. */
async function startActiveCell(page: Page): Promise<void> {
  await page.evaluate(() => {
    void window.jupyterapp.commands.execute('notebook:run-cell');
  });
}

/** Not mocked, so not cleaned up by Galata: shut the kernel down here. */
async function shutdownKernel(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const panel: any = window.jupyterapp.shell.currentWidget;
    await panel?.sessionContext.shutdown();
  });
}

test.describe('a running cell', () => {
  test('updates the sidebar while it runs', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'live.ipynb', ['%memtrack on', GROWING_CELL]);
    await page.notebook.runCell(0);
    await page.notebook.selectCells(1);
    await startActiveCell(page);

    const live = sidebar.locator('.jp-Memtrack-live');
    await expect(live).toBeVisible({ timeout: 15_000 });
    await expect(live).toContainText('running for');
    const rssNow = async () => Number((await live.getAttribute('data-rss')) || 0);
    const first = await rssNow();
    // The RSS rises by at least 50 MB while the line is still there, i.e. before the
    // cell's end (the done message hides it).
    await expect.poll(rssNow, { timeout: 10_000 }).toBeGreaterThan(first + 50_000_000);
    await expect(live).toBeVisible();
    await expect(live).toContainText(/RSS \d/);

    // When the cell ends, the live line goes and the cell's row stays.
    await expect(live).toBeHidden({ timeout: 20_000 });
    await expect(sidebar.locator('tbody tr').last()).toContainText('[2]');
  });
});

test.describe('a kernel that dies or restarts', () => {
  // Galata's kernel mock answers a restart's 200 with 201: the real kernels API.
  test.use({ kernels: null });

  test('a killed kernel leaves a row saying it died, and its separator', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'killed.ipynb', [
      '%%memtrack --label before\nx = bytearray(5_000_000)',
      'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'
    ]);
    await page.notebook.runCell(0);
    await expect(sidebar.locator('tbody tr')).toHaveCount(1);
    await page.notebook.selectCells(1);
    await startActiveCell(page);

    // The server restarts the kernel; the extension loads again and the new process
    // sends the KernelDied record of the cell that was running.
    const died = sidebar.locator('tr.jp-Memtrack-died');
    await expect(died).toHaveCount(1, { timeout: 90_000 });
    await expect(died).toContainText('during [2]');
    await waitConnected(sidebar);
    await expect(sidebar.locator('.jp-Memtrack-kernelEnd')).toContainText('Kernel died');
    await expect(sidebar.locator('tbody tr').first()).toContainText('before');
    // One separator, a death (solid, labelled), not a plain restart.
    await expect(sidebar.locator('.jp-Memtrack-plot .shapelayer path')).toHaveCount(1);
    await expect(sidebar.locator('.jp-Memtrack-plot .annotation-text')).toContainText([/died/]);
    await shutdownKernel(page);
  });

  test('every row is back after a restart and a page reload', async ({ page, tmpPath }) => {
    const name = 'reload.ipynb';
    const sidebar = await notebookWithSidebar(page, name, [
      '%%memtrack --label before\nx = bytearray(5_000_000)'
    ]);
    await page.notebook.run();
    await expect(sidebar.locator('tbody tr')).toHaveCount(1);

    await page.menu.clickMenuItem('Kernel>Restart Kernel…');
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    await waitConnected(sidebar);
    await page.notebook.setCell(0, 'code', '%%memtrack --label after\nx = bytearray(5_000_000)');
    await page.notebook.runCell(0);
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);

    const reloaded = await reloadWithNotebook(page, `${tmpPath}/${name}`);
    const rows = reloaded.locator('tbody tr');
    await expect(rows).toHaveCount(2, { timeout: 30_000 });
    await expect(rows.nth(0)).toContainText('before');
    await expect(rows.nth(1)).toContainText('after');
    await expect(linePoints(reloaded)).toHaveCount(2);
    await expect(reloaded.locator('.jp-Memtrack-plot .shapelayer path')).toHaveCount(1);
    await shutdownKernel(page);
  });
});
