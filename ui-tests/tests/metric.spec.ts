/**
 * One meaning per number: the metric selector drives the table, the plot and the cell badges
 * together, a record without the metric shows a dash that says why, and a release from the leak
 * list is a row and a point of its own. Real cells on the real kernel extension.
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';

import { notebookWithSidebar } from './helpers';

const CELLS = [
  '%memtrack on',
  "keep = b'x' * 30_000_000",
  '%%memtrack --label deep\nrows = [str(i) * 10 for i in range(200_000)]'
];

/** The plot's y values of its first trace (the metric's line), from plotly's own data. */
function linePlotted(sidebar: Locator): Promise<(number | null)[]> {
  return sidebar.locator('.js-plotly-plot').evaluate((node: any) => [...node.data[0].y]);
}

/** The metric setting as the setting registry holds it. */
function savedMetric(page: Page): Promise<unknown> {
  return page.evaluate(async () => {
    const registry = await window.galata.getPlugin('@jupyterlab/apputils-extension:settings');
    return (await registry!.get('jupyterlab-memtrack:plugin', 'metric')).composite;
  });
}

test('the metric selector switches the table, the plot and the badges together', async ({
  page
}) => {
  const sidebar = await notebookWithSidebar(page, 'metric.ipynb', CELLS);
  await page.notebook.run();
  const rows = sidebar.locator('tbody tr');
  await expect(rows).toHaveCount(2);
  const light = rows.nth(0);
  const deep = rows.nth(1);
  const deltaHeader = sidebar.locator('thead th').nth(1);
  const yTitle = sidebar.locator('.jp-Memtrack-plot .ytitle');
  const legend = sidebar.locator('.jp-Memtrack-plot .legend');
  const cells = page.locator('.jp-Notebook .jp-Cell');
  const lightBadge = cells.nth(1).locator('.jp-Memtrack-badge');
  const deepBadge = cells.nth(2).locator('.jp-Memtrack-badge');
  const select = sidebar.getByRole('combobox', {
    name: 'Memory metric of the table, plot and badges'
  });
  await expect(select).toHaveValue('auto');

  await select.selectOption('rss');
  await expect(deltaHeader).toHaveAttribute('title', /^Delta: change of the kernel's RSS/);
  await expect(light.locator('td').nth(1)).toHaveAttribute('title', /^RSS delta: /);
  await expect(deep.locator('td').nth(1)).toHaveAttribute('title', /^RSS delta: /);
  await expect(yTitle).toHaveText('RSS');
  await expect(legend).toContainText('RSS');
  await expect(lightBadge).toHaveAttribute('title', /^memtrack \[\d+\]: RSS /);
  await expect(lightBadge).not.toHaveText('—');
  await expect.poll(() => savedMetric(page)).toBe('rss');

  await select.selectOption('traced');
  // The light cell has no traced figure: a dash saying why, never its RSS change.
  await expect(light.locator('td').nth(1)).toHaveText('—');
  await expect(light.locator('td').nth(1)).toHaveAttribute(
    'title',
    'traced only for %%memtrack cells'
  );
  await expect(light.locator('td').nth(2)).toHaveText('—');
  await expect(deep.locator('td').nth(1)).toHaveText(/^\+\d+(\.\d)? MB$/);
  await expect(deep.locator('td').nth(1)).toHaveAttribute('title', /^traced delta: \+/);
  await expect(deltaHeader).toHaveAttribute('title', /^Delta: change of the memory tracemalloc/);
  await expect(yTitle).toHaveText('traced (sum over %%memtrack cells)');
  await expect(lightBadge).toHaveText('—');
  await expect(lightBadge).toHaveAttribute(
    'title',
    /^memtrack \[\d+\], traced: traced only for %%memtrack cells$/
  );
  await expect(deepBadge).toHaveAttribute('title', /^memtrack \[\d+\]: traced \+/);
  // The light cell is no point of the traced line.
  await expect.poll(async () => (await linePlotted(sidebar))[0]).toBeNull();
  await expect.poll(() => savedMetric(page)).toBe('traced');

  // The kernel reads the allocated memory: 'auto' stands for it.
  await expect(select.locator('option').first()).toHaveText('Auto (allocated)');
  await select.selectOption('allocated');
  // b'x' * 30_000_000 is one 30 MB block of the malloc heap.
  await expect(light.locator('td').nth(1)).toHaveText(/^\+30\.\d MB$/);
  // Exact bytes in the title: the block and what else the cell's kernel allocated (< 300 kB).
  await expect(light.locator('td').nth(1)).toHaveAttribute(
    'title',
    /^allocated delta: \+30,[0-2]\d\d,\d{3} bytes$/
  );
  await expect(deltaHeader).toHaveAttribute(
    'title',
    /^Delta: change of the allocated memory \(malloc heap in use \+ mmapped chunks/
  );
  await expect(yTitle).toHaveText('allocated');
  await expect(legend).toContainText('allocated');
  await expect(lightBadge).toHaveText(/^\+30\.\d MB$/);
  await expect(lightBadge).toHaveAttribute('title', /^memtrack \[\d+\]: allocated \+30\.\d MB/);
  await expect.poll(async () => (await linePlotted(sidebar))[0]).not.toBeNull();

  // A real select: the keyboard changes it too.
  await select.focus();
  await page.keyboard.press('ArrowUp');
  await expect(select).toHaveValue('rss');
  await expect(yTitle).toHaveText('RSS');
  await expect(lightBadge).toHaveAttribute('title', /: RSS /);
  // Kept as a test artifact: the selector, the table and the plot in one metric.
  await page.screenshot({ path: test.info().outputPath('metric.png') });
});

test('a release from the leak list is a row and a point of its own, at the lower level', async ({
  page
}) => {
  // A 30 MB value with a short repr: the browser need not render 30 MB of bytes.
  const sidebar = await notebookWithSidebar(page, 'release-row.ipynb', [
    "%memtrack on\nclass Big: __repr__ = lambda self: 'Big(30 MB)'",
    'big = Big(); big.data = bytearray(30_000_000)\nbig',
    'del big'
  ]);
  await page.notebook.run();
  const rows = sidebar.locator('tbody tr');
  await expect(rows).toHaveCount(2);
  const suspect = sidebar.locator('.jp-Memtrack-leak', { hasText: 'Out[' });
  await expect(suspect).toHaveCount(1);
  await expect(sidebar.locator('tr.jp-Memtrack-leaking')).not.toHaveCount(0);
  await sidebar.getByRole('combobox').selectOption('allocated');

  await suspect.locator('summary').click();
  await suspect.getByRole('button', { name: /^Release Out\[\d+\]$/ }).click();
  const dialog = page.locator('.jp-Dialog');
  await dialog.getByRole('button', { name: 'Release' }).click();
  await expect(sidebar.locator('.jp-Memtrack-leakNotice')).toHaveText(/^Released Out\[\d+\]/);

  const release = sidebar.locator('tr.jp-Memtrack-releaseRow');
  await expect(release).toHaveCount(1);
  await expect(rows).toHaveCount(3);
  await expect(release.locator('td').first()).toHaveText(/^release: delete Out\[\d+\], _\d+/);
  await expect(release.locator('td').nth(1)).toHaveText(/^-30\.\d MB$/);
  await expect(release).toHaveAttribute('title', /freed .+, expected 30\.0 MB/);
  // The released output is no suspect any more: nothing is highlighted.
  await expect(sidebar.locator('tr.jp-Memtrack-leaking')).toHaveCount(0);
  await expect(sidebar.locator('.jp-Memtrack-plot .legend')).toContainText('release');
  // The last point is the release's, 30 MB below the cell before it.
  await expect
    .poll(async () => {
      const y = await linePlotted(sidebar);
      return y.length === 3 && y[1] !== null && y[2] !== null ? y[1] - y[2] : null;
    })
    .toBeGreaterThan(29_000_000);
  // No badge for a release: it ran in no cell.
  await expect(page.locator('.jp-Memtrack-badge')).toHaveCount(2);
  // Kept as a test artifact: the release row and point in the dark theme.
  await page.theme.setDarkTheme();
  await page.screenshot({ path: test.info().outputPath('release-dark.png') });
});
