import { expect, test } from '@jupyterlab/galata';

import { notebookWithSidebar } from './helpers';

/**
 * Screenshot baselines of the sidebar in light and dark themes. The plot shows
 * traced memory (the same bytes every run); columns that vary between runs
 * (RSS, time) are masked.
 */
const CELLS = [
  '%%memtrack --label load\ndata = bytearray(30_000_000)',
  '%%memtrack --label "temporary peak"\ntmp = bytes(50_000_000); del tmp',
  '%%memtrack --label grow\nmore = bytearray(20_000_000)',
  '%%memtrack --label release\ndel data'
];

async function sidebarScreenshot(page: any, name: string, dark: boolean): Promise<void> {
  const sidebar = await notebookWithSidebar(page, `${name}.ipynb`, CELLS);
  await page.notebook.run();
  await expect(sidebar.locator('tbody tr')).toHaveCount(CELLS.length);
  await sidebar.locator('select.jp-Memtrack-metric').selectOption('traced');
  await expect(sidebar.locator('.legend')).toContainText('traced (sum over %%memtrack cells)');
  // The variables section (variables.spec.ts takes its screenshots) closed: the table stays in
  // view, and the names the kernel lists do not move it.
  await sidebar.locator('.jp-Memtrack-varToggle').click();
  await expect(sidebar.locator('.jp-Memtrack-varToggle')).toHaveAttribute('aria-expanded', 'false');
  if (dark) {
    await page.theme.setDarkTheme();
  }
  // Let the panel take its final width before comparing.
  await page.sidebar.setWidth(420, 'right');
  await expect(sidebar).toHaveScreenshot(`${name}.png`, {
    mask: [
      sidebar.locator('tbody td:nth-child(4)'),
      sidebar.locator('tbody td:nth-child(5)'),
      sidebar.locator('.jp-Memtrack-varCount')
    ],
    maxDiffPixelRatio: 0.02,
    animations: 'disabled'
  });
  await page.screenshot({ path: test.info().outputPath(`${name}-page.png`) });
}

test.describe('sidebar screenshots', () => {
  test('light theme', async ({ page }) => {
    await sidebarScreenshot(page, 'sidebar-light', false);
  });

  test('dark theme', async ({ page }) => {
    await sidebarScreenshot(page, 'sidebar-dark', true);
  });
});
