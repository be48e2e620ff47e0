import { expect, test } from '@jupyterlab/galata';

import { notebookWithSidebar, SIDEBAR } from './helpers';

test('cell metadata keeps a run that the sidebar shows after reopening', async ({
  page,
  tmpPath
}) => {
  const name = 'saved-runs.ipynb';
  const sidebar = await notebookWithSidebar(page, name, [
    '%%memtrack --label "fill <b>buffer</b>"\nbuf = bytearray(5_000_000)',
    'untracked = 1'
  ]);
  await page.evaluate(async () => {
    const registry = await window.galata.getPlugin('@jupyterlab/apputils-extension:settings');
    await registry!.set('jupyterlab-memtrack:plugin', 'cellMetadata', true);
  });
  await page.notebook.runCell(0);
  await page.notebook.runCell(1);
  await expect(sidebar.locator('tbody tr')).toHaveCount(1);
  await page.notebook.save();

  // The saved file carries the run in the tracked cell's metadata, and only there.
  const saved = await page.evaluate(async path => {
    const model = await window.jupyterapp.serviceManager.contents.get(path, { content: true });
    return model.content.cells.map((cell: any) => cell.metadata.memtrack ?? null);
  }, `${tmpPath}/${name}`);
  expect(saved[1]).toBeNull();
  expect(saved[0].version).toBe(1);
  expect(saved[0].runs).toHaveLength(1);
  const run = saved[0].runs[0];
  expect(run.label).toBe('fill <b>buffer</b>');
  expect(run.mode).toBe('deep');
  expect(Number.isInteger(run.rss_after)).toBe(true);
  expect(run.traced_delta).toBeGreaterThanOrEqual(5_000_000);
  expect(JSON.stringify(run).length).toBeLessThan(2048);

  // Close it with its kernel shut down, and reopen it without a kernel.
  await page.evaluate(async () => {
    const panel: any = window.jupyterapp.shell.currentWidget;
    await panel.sessionContext.shutdown();
  });
  await page.notebook.close();
  await expect(sidebar.locator('tbody tr')).toHaveCount(0);
  await page.notebook.open(name, { noKernel: true });
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('memtrack:open-sidebar');
  });

  const row = page.locator(`${SIDEBAR} tbody tr.jp-Memtrack-row`);
  await expect(row).toHaveCount(1);
  await expect(row).toHaveClass(/jp-Memtrack-saved/);
  await expect(row.locator('.jp-Memtrack-savedTag')).toHaveText('saved');
  // The label is text, never markup.
  await expect(row.locator('td').first()).toContainText('fill <b>buffer</b>');
  await expect(row.locator('b')).toHaveCount(0);
  await expect(page.locator(`${SIDEBAR} .jp-Memtrack-status`)).toHaveText('No kernel');

  // Clicking the saved run still leads to its cell.
  await page.notebook.selectCells(1);
  await row.click();
  await expect(page.locator('.jp-Notebook .jp-Cell').nth(0)).toHaveClass(/jp-mod-active/);
});
