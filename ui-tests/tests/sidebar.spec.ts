import { expect, test } from '@jupyterlab/galata';

import { linePoints, notebookWithSidebar } from './helpers';

test.describe('memory sidebar', () => {
  test('plots one point per %%memtrack cell', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'two-cells.ipynb', [
      '%%memtrack --label first\nfirst = bytearray(20_000_000)',
      '%%memtrack --label second\nsecond = bytearray(30_000_000)'
    ]);
    await page.notebook.run();

    const rows = sidebar.locator('tbody tr');
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(0)).toContainText('first');
    await expect(rows.nth(1)).toContainText('second');
    // The line has exactly one marker per tracked cell.
    await expect(linePoints(sidebar)).toHaveCount(2);
    // The cell's own output stays as without the magic: no summary printed
    // when the sidebar is attached.
    expect(await page.notebook.getCellTextOutput(1)).toBeNull();
    // Kept as a test artifact; docs/sidebar.png in the README is taken from it.
    await page.screenshot({ path: test.info().outputPath('sidebar.png') });
  });

  test('clicking a row selects its cell', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'reveal.ipynb', [
      '%%memtrack --label top\ntop = list(range(100_000))',
      'pass',
      '%%memtrack --label bottom\nbottom = list(range(100_000))'
    ]);
    await page.notebook.run();
    await expect(sidebar.locator('tbody tr')).toHaveCount(2);

    await page.notebook.selectCells(1);
    await sidebar.locator('tbody tr').nth(0).click();
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(0)).toHaveClass(/jp-mod-active/);
    await sidebar.locator('tbody tr').nth(1).focus();
    await page.keyboard.press('Enter');
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(2)).toHaveClass(/jp-mod-active/);
  });
});
