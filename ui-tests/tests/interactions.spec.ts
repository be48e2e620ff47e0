import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';

import { linePoints, notebookWithSidebar, SIDEBAR, waitConnected } from './helpers';

test.describe('sidebar interactions', () => {
  test('tracks every cell in light mode from the toolbar', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'light.ipynb', [
      'a = [0] * 1_000_000',
      'b = [1] * 2_000_000'
    ]);
    const toggle = sidebar.locator('button[data-command="memtrack:toggle-tracking"]');
    await expect(toggle).toBeEnabled();
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-pressed', 'true');
    await page.notebook.run();
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-pressed', 'false');
    await page.notebook.addCell('code', 'c = 1');
    await page.notebook.runCell(2);
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);
  });

  test('sorts the table by delta', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'sort.ipynb', [
      '%%memtrack --label small\nsmall = bytearray(1_000_000)',
      '%%memtrack --label big\nbig = bytearray(40_000_000)',
      '%%memtrack --label medium\nmedium = bytearray(10_000_000)'
    ]);
    await page.notebook.run();
    const rows = sidebar.locator('tbody tr');
    await expect(rows).toHaveCount(3);
    await sidebar.locator('th button', { hasText: 'Delta' }).click();
    await expect(sidebar.locator('th[aria-sort="descending"]')).toHaveText(/Delta/);
    await expect(rows.nth(0)).toContainText('big');
    await expect(rows.nth(1)).toContainText('medium');
    await expect(rows.nth(2)).toContainText('small');
  });

  test('badges each tracked cell and hides badges by setting', async ({ page }) => {
    await notebookWithSidebar(page, 'badges.ipynb', [
      '%%memtrack\nx = bytearray(20_000_000)',
      'y = 1'
    ]);
    await page.notebook.run();
    const cells = page.locator('.jp-Notebook .jp-Cell');
    await expect(cells.nth(0).locator('.jp-Memtrack-badge')).toHaveText(/^\+20\.\d MB$/);
    await expect(cells.nth(1).locator('.jp-Memtrack-badge')).toHaveCount(0);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('memtrack:toggle-badges');
    });
    await expect(page.locator('.jp-Memtrack-badge')).toHaveCount(0);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('memtrack:toggle-badges');
    });
    await expect(cells.nth(0).locator('.jp-Memtrack-badge')).toHaveCount(1);
  });

  test('keeps the history across a kernel change, with a marker', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'restart.ipynb', [
      '%%memtrack --label before\nx = bytearray(5_000_000)'
    ]);
    await page.notebook.run();
    await expect(sidebar.locator('tbody tr')).toHaveCount(1);
    // A new kernel for the notebook: the bridge re-arms on the new connection.
    await page.evaluate(async () => {
      const panel: any = window.jupyterapp.shell.currentWidget;
      await panel.sessionContext.changeKernel({ name: 'python3' });
    });
    await waitConnected(sidebar);
    await page.notebook.setCell(0, 'code', '%%memtrack --label after\nx = bytearray(5_000_000)');
    await page.notebook.runCell(0);
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);
    await expect(linePoints(sidebar)).toHaveCount(2);
    // The kernel change is a vertical line between the two points.
    await expect(sidebar.locator('.jp-Memtrack-plot .shapelayer path')).toHaveCount(1);
  });

  test('toggles the sidebar with Alt+Shift+M', async ({ page }) => {
    await page.notebook.createNew('shortcut.ipynb');
    const sidebar = page.locator(SIDEBAR);
    await expect(sidebar).toBeHidden();
    await page.keyboard.press('Alt+Shift+M');
    await expect(sidebar).toBeVisible();
    await page.keyboard.press('Alt+Shift+M');
    await expect(sidebar).toBeHidden();
  });

  test('exports the history as JSON, CSV and HTML downloads', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'export.ipynb', [
      '%%memtrack --label "<img src=x onerror=alert(1)>"\nx = bytearray(3_000_000)'
    ]);
    await page.notebook.run();
    await expect(sidebar.locator('tbody tr')).toHaveCount(1);
    // The label stays text in the sidebar.
    await expect(sidebar.locator('tbody img')).toHaveCount(0);

    const [json] = await Promise.all([
      page.waitForEvent('download'),
      sidebar.locator('button[data-command="memtrack:export-json"]').click()
    ]);
    expect(json.suggestedFilename()).toBe('export.memtrack.json');
    const report = JSON.parse(fs.readFileSync(await json.path(), 'utf-8'));
    expect(report.format).toBe('memtrack-report');
    expect(report.cells).toHaveLength(1);
    expect(report.cells[0].label).toBe('<img src=x onerror=alert(1)>');

    const [csv] = await Promise.all([
      page.waitForEvent('download'),
      sidebar.locator('button[data-command="memtrack:export-csv"]').click()
    ]);
    const lines = fs
      .readFileSync(await csv.path(), 'utf-8')
      .trim()
      .split('\r\n');
    expect(lines).toHaveLength(2);
    expect(lines[0].startsWith('seq,execution_count,cell_id,label')).toBe(true);

    // The HTML report is the kernel's: offline, no script, the label escaped.
    const [htmlReport] = await Promise.all([
      page.waitForEvent('download'),
      sidebar.locator('button[data-command="memtrack:export-html"]').click()
    ]);
    expect(htmlReport.suggestedFilename()).toBe('export.memtrack.html');
    const html = fs.readFileSync(await htmlReport.path(), 'utf-8');
    expect(html).toContain('<title>memtrack report</title>');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html.toLowerCase()).not.toContain('<script');
    expect(html).not.toContain('<img');
  });

  test('switches the plotted metric', async ({ page }) => {
    // The selector's other effects (table, badges, dashes) are in metric.spec.ts.
    const sidebar = await notebookWithSidebar(page, 'metric.ipynb', [
      '%%memtrack\nx = bytearray(8_000_000)'
    ]);
    await page.notebook.run();
    // 'auto': the allocated memory, which the kernel reads.
    await expect(sidebar.locator('.legend')).toContainText('allocated');
    await sidebar.locator('select.jp-Memtrack-metric').selectOption('rss');
    await expect(sidebar.locator('.legend')).toContainText('RSS');
    await sidebar.locator('select.jp-Memtrack-metric').selectOption('traced');
    await expect(sidebar.locator('.legend')).toContainText('traced (sum over %%memtrack cells)');
  });
});

test.describe('page reload', () => {
  // The restored layout shows the notebook, not the Launcher Galata waits for by default.
  test.use({
    waitForApplication: async ({}, use) => {
      await use(async page => {
        await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
      });
    }
  });

  test('replays the history after a page reload', async ({ page, tmpPath }) => {
    await notebookWithSidebar(page, 'reload.ipynb', [
      '%%memtrack --label one\na = bytearray(1_000_000)',
      '%%memtrack --label two\nb = bytearray(2_000_000)'
    ]);
    await page.notebook.run();
    await expect(page.locator(SIDEBAR).locator('tbody tr')).toHaveCount(2);
    // The kernel keeps running across the reload; the page starts empty.
    await page.reload();
    await page.evaluate(async path => {
      await window.jupyterapp.commands.execute('docmanager:open', { path });
      await window.jupyterapp.commands.execute('memtrack:open-sidebar');
    }, `${tmpPath}/reload.ipynb`);
    const sidebar = page.locator(SIDEBAR);
    await waitConnected(sidebar);
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);
    await expect(sidebar.locator('tbody tr').nth(1)).toContainText('two');
  });
});

test.describe('kernel restart', () => {
  // Galata's kernel mock answers a restart's 200 with 201, which the page
  // rejects: in-place restarts need the real kernels API.
  test.use({ kernels: null });

  test('keeps the history across an in-place restart, with a marker', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'restart-in-place.ipynb', [
      '%%memtrack --label before\nx = bytearray(5_000_000)'
    ]);
    await page.notebook.run();
    await expect(sidebar.locator('tbody tr')).toHaveCount(1);

    // The user's path: Kernel menu, Restart Kernel…, confirm.
    await page.menu.clickMenuItem('Kernel>Restart Kernel…');
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    await waitConnected(sidebar);

    await page.notebook.setCell(0, 'code', '%%memtrack --label after\nx = bytearray(5_000_000)');
    await page.notebook.runCell(0);
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);
    await expect(sidebar.locator('tbody tr').nth(1)).toContainText('after');
    await expect(linePoints(sidebar)).toHaveCount(2);
    // The restart is a vertical line between the two points.
    await expect(sidebar.locator('.jp-Memtrack-plot .shapelayer path')).toHaveCount(1);

    // Not mocked, so not cleaned up by Galata: shut the kernel down here.
    await page.evaluate(async () => {
      const panel: any = window.jupyterapp.shell.currentWidget;
      await panel.sessionContext.shutdown();
    });
  });
});
