import { expect, test } from '@jupyterlab/galata';

import { notebookWithSidebar } from './helpers';

test('a growing cache becomes a highlighted leak suspect', async ({ page }) => {
  const sidebar = await notebookWithSidebar(page, 'leak.ipynb', [
    'cache = []',
    '%%memtrack --label "add to cache"\ncache.append(bytearray(2_000_000))'
  ]);
  await page.notebook.runCell(0);
  // No suspect after one or two runs: one growth step is not a leak.
  for (let run = 1; run <= 2; run++) {
    await page.notebook.runCell(1);
  }
  await expect(sidebar.locator('tbody tr')).toHaveCount(2);
  await expect(sidebar.locator('.jp-Memtrack-leak')).toHaveCount(0);
  for (let run = 3; run <= 4; run++) {
    await page.notebook.runCell(1);
  }
  await expect(sidebar.locator('tbody tr')).toHaveCount(4);
  const suspect = sidebar.locator('.jp-Memtrack-leak', { hasText: 'cache' });
  await expect(suspect).toHaveCount(1);
  await expect(suspect.locator('.jp-Memtrack-leakFacts')).toContainText('growing-variable');
  // The latest run's row is highlighted, and the plot marks it.
  await expect(sidebar.locator('tbody tr').last()).toHaveClass(/jp-Memtrack-leaking/);
  await suspect.locator('summary').click();
  await expect(suspect).toContainText('Size history');
});
