/**
 * Jupyter Notebook 7 (same server, /notebooks/ URL): the sidebar opens in the
 * right panel from the keyboard shortcut and records a %%memtrack cell.
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
          {
            cell_type: 'code',
            id: 'nb7-cell',
            metadata: {},
            source: '%%memtrack --label in notebook 7\nkept = bytearray(10_000_000)',
            outputs: [],
            execution_count: null
          }
        ]
      }
    }
  });
  expect(created.status()).toBe(201);

  await page.goto(`${BASE}/notebooks/${name}`);
  await expect(page.locator('.jp-Notebook .jp-Cell')).toHaveCount(1, { timeout: 60_000 });
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

  await request.delete(`${BASE}/api/contents/${name}`);
});
