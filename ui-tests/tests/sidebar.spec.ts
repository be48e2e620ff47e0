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

test.describe('a long history', () => {
  // 1,000 synthetic records through the real path (kernel store -> comm -> model),
  // as a page reload receives a long history.
  const PUSH = [
    'import memtrack',
    '_t = memtrack._require()',
    "_base = dict(seq=0, execution_count=1, cell_id=None, label='long', mode='light', started_at='2026-11-23T00:00:00+00:00', duration_s=0.001, rss_before=100_000_000, rss_after=100_000_000, rss_peak=100_000_000, traced_delta=None, traced_peak=None, top_lines=[], types=[], variables=[], gc=None, error=None, leaks=[])",
    '_ = [_t.store.add(dict(_base, execution_count=i + 1, rss_after=100_000_000 + i * 1000)) for i in range(1000)]',
    '_ = [_t.bridge.send_history(comm) for comm in list(_t.bridge._comms.values())]'
  ].join('\n');

  test('renders the rows in view and follows scrolling and the keyboard', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'long.ipynb', [PUSH]);
    await page.notebook.run();
    await expect(sidebar.locator('caption')).toHaveText('1000 tracked executions');
    const rows = sidebar.locator('tr.jp-Memtrack-row');
    // Only a window of rows is in the DOM; the table still describes them all.
    expect(await rows.count()).toBeLessThan(200);
    await expect(sidebar.locator('table')).toHaveAttribute('aria-rowcount', '1001');
    await expect(rows.first()).toContainText('[1] long');

    // Scrolling to the end renders the last rows, in view.
    await sidebar.evaluate(node => (node.scrollTop = node.scrollHeight));
    const last = sidebar.locator('tr.jp-Memtrack-row[data-seq="1000"]');
    await expect(last).toBeInViewport();
    await expect(last).toContainText('[1000] long');
    expect(await rows.count()).toBeLessThan(200);

    // Home from the last row goes back to the first, rendered and focused.
    await last.focus();
    await page.keyboard.press('Home');
    const first = sidebar.locator('tr.jp-Memtrack-row[data-seq="1"]');
    await expect(first).toBeFocused();
    await expect(first).toBeInViewport();
  });
});
