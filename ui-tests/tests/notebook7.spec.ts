/**
 * Jupyter Notebook 7 (same server, /notebooks/ URL): the sidebar opens in the
 * right panel from the keyboard shortcut and records %%memtrack cells; with one
 * to three points the bars stay narrow and every label shows, inside the plot.
 */
import { expect, test } from '@playwright/test';

import { SIDEBAR, waitConnected } from './helpers';

// The server the Galata tests use (see playwright.config.js).
const BASE = process.env.TARGET_URL ?? 'http://localhost:8888';

test('the sidebar works in Notebook 7', async ({ page, request }) => {
  const name = `nb7-${Date.now()}.ipynb`;
  const created = await request.put(`${BASE}/api/contents/${name}`, {
    data: {
      type: 'notebook',
      content: {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {
          kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }
        },
        cells: [
          '%%memtrack --label in notebook 7\nkept = bytearray(10_000_000)',
          '%%memtrack --label "a long label that cannot fit under its point"\nmore = bytearray(5_000_000)',
          '%%memtrack --label third\ndel more'
        ].map((source, i) => ({
          cell_type: 'code',
          id: `nb7-cell-${i}`,
          metadata: {},
          source,
          outputs: [],
          execution_count: null
        }))
      }
    }
  });
  expect(created.status()).toBe(201);

  await page.goto(`${BASE}/notebooks/${name}`);
  await expect(page.locator('.jp-Notebook .jp-Cell')).toHaveCount(3, { timeout: 60_000 });
  // Notebook 7 has no sidebar open by default: the shortcut opens ours.
  await page.locator('.jp-Notebook').click();
  await page.keyboard.press('Alt+Shift+M');
  const sidebar = page.locator(SIDEBAR);
  await expect(sidebar).toBeVisible();
  await waitConnected(sidebar);

  await page.locator('.jp-Notebook .jp-Cell .cm-content').first().click();
  await page.keyboard.press('Shift+Enter');
  const rows = sidebar.locator('tbody tr');
  await expect(rows).toHaveCount(1, { timeout: 60_000 });
  await expect(rows.first()).toContainText('in notebook 7');
  await expect(sidebar.locator('.jp-Memtrack-plot .scatterlayer')).toHaveCount(1);
  // One point: its bar is a bar, not a block across the plot.
  const plotArea = sidebar.locator('.jp-Memtrack-plot .nsewdrag').first();
  const bars = sidebar.locator('.jp-Memtrack-plot .barlayer .point path');
  await expect(bars).toHaveCount(1);
  const area = (await plotArea.boundingBox())!;
  expect((await bars.first().boundingBox())!.width).toBeLessThan(area.width / 3);

  for (let run = 2; run <= 3; run++) {
    await page.keyboard.press('Shift+Enter');
    await expect(rows).toHaveCount(run, { timeout: 60_000 });
  }
  // Three points: three labels, each inside the plot (the long one cut, in full in the hover).
  const ticks = sidebar.locator('.jp-Memtrack-plot .xtick text');
  await expect(ticks).toHaveCount(3);
  const plotBox = (await sidebar.locator('.jp-Memtrack-plot').boundingBox())!;
  for (const tick of await ticks.all()) {
    expect((await tick.textContent())!.trim()).not.toBe('');
    const box = (await tick.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(plotBox.x - 1);
    expect(box.x + box.width).toBeLessThanOrEqual(plotBox.x + plotBox.width + 1);
  }
  await expect(ticks.nth(1)).not.toContainText('cannot fit under its point');

  await request.delete(`${BASE}/api/contents/${name}`);
});
