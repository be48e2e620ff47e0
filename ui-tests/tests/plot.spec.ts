/**
 * The plot's interactions (hover summary, click to the cell, zoom and reset,
 * live theme, following the panel's width) and the commands' other entry
 * points (palette, View menu, notebook toolbar).
 */
import { expect, test } from '@jupyterlab/galata';
import { Locator, Page } from '@playwright/test';

import { linePoints, notebookWithSidebar, SIDEBAR } from './helpers';

const CELLS = [
  '%%memtrack --label alpha\nalpha = bytearray(20_000_000)',
  'pass',
  '%%memtrack --label beta\nbeta = bytearray(30_000_000)'
];

/** The centre of an element, in page coordinates. */
async function centre(locator: Locator): Promise<{ x: number; y: number }> {
  const box = await locator.boundingBox();
  if (!box) {
    throw new Error('element has no box');
  }
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

/** plotly's current x range of the sidebar's plot. */
function xRange(sidebar: Locator): Promise<number[]> {
  return sidebar
    .locator('.js-plotly-plot')
    .evaluate((node: any) => [...node._fullLayout.xaxis.range].map(Number));
}

async function plotted(page: Page): Promise<Locator> {
  const sidebar = await notebookWithSidebar(page, 'plot.ipynb', CELLS);
  await page.notebook.run();
  await expect(linePoints(sidebar)).toHaveCount(2);
  return sidebar;
}

test.describe('plot', () => {
  test('hover shows the summary and a click selects the cell', async ({ page }) => {
    const sidebar = await plotted(page);
    // plotly's drag layer takes the mouse events: move the mouse rather than hover the path.
    const beta = await centre(linePoints(sidebar).nth(1));
    await page.mouse.move(beta.x, beta.y);
    const hover = sidebar.locator('.hoverlayer .hovertext');
    await expect(hover.first()).toContainText('beta');
    await expect(hover.first()).toContainText(/\+?30(\.\d)? MB/);

    await page.notebook.selectCells(1);
    const alpha = await centre(linePoints(sidebar).nth(0));
    await page.mouse.click(alpha.x, alpha.y);
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(0)).toHaveClass(/jp-mod-active/);
    await page.mouse.click(beta.x, beta.y);
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(2)).toHaveClass(/jp-mod-active/);
  });

  test('zooms on a drag and resets on a double-click', async ({ page }) => {
    const sidebar = await plotted(page);
    const full = await xRange(sidebar);
    const area = sidebar.locator('.nsewdrag').first();
    const box = (await area.boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.1, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, y, { steps: 8 });
    await page.mouse.up();
    await expect
      .poll(async () => {
        const range = await xRange(sidebar);
        return range[1] - range[0];
      })
      .toBeLessThan((full[1] - full[0]) / 2);
    // A double-click that lands while plotly still ends the drag counts as two clicks on a
    // busy machine: double-click again until the range is back (a reset is idempotent).
    await expect(async () => {
      await page.mouse.dblclick(box.x + box.width / 2, y);
      await expect.poll(() => xRange(sidebar), { timeout: 2000 }).toEqual(full);
    }).toPass({ timeout: 15_000 });
  });

  test('follows the theme live and the panel width', async ({ page }) => {
    const sidebar = await plotted(page);
    const tickColour = () =>
      sidebar
        .locator('.xtick text')
        .first()
        .evaluate(node => getComputedStyle(node).fill);
    const light = await tickColour();
    await page.theme.setDarkTheme();
    await expect.poll(tickColour).not.toBe(light);

    const width = () =>
      sidebar
        .locator('.main-svg')
        .first()
        .evaluate(node => Number(node.getAttribute('width')));
    const before = await width();
    // Drag the handle between the main area and the right panel 150 px to the left.
    const grip = await sidebar.evaluate(node => {
      const area = node.closest('.jp-SideArea')!;
      const left = area.getBoundingClientRect().left;
      const handles = Array.from(
        area.parentElement!.querySelectorAll(':scope > .lm-SplitPanel-handle')
      );
      const nearest = handles
        .map(h => h.getBoundingClientRect())
        .filter(r => r.width > 0)
        .sort((a, b) => Math.abs(a.right - left) - Math.abs(b.right - left))[0];
      return { x: nearest.left + nearest.width / 2, y: nearest.top + nearest.height / 2 };
    });
    await page.mouse.move(grip.x, grip.y);
    await page.mouse.down();
    await page.mouse.move(grip.x - 150, grip.y, { steps: 10 });
    await page.mouse.up();
    await expect.poll(width).toBeGreaterThan(before + 100);
  });
});

test.describe('commands', () => {
  test('are in the palette, the View menu and the notebook toolbar', async ({ page }) => {
    await page.notebook.createNew('commands.ipynb');
    const sidebar = page.locator(SIDEBAR);
    await expect(sidebar).toBeHidden();

    // Notebook toolbar button.
    await page.locator('.jp-NotebookPanel-toolbar [data-jp-item-name="memtrack"] button').click();
    await expect(sidebar).toBeVisible();

    // View menu: the toggle closes it.
    await page.menu.clickMenuItem('View>Memory Sidebar');
    await expect(sidebar).toBeHidden();

    // Command palette.
    await page.keyboard.press('Control+Shift+C');
    const palette = page.locator('#command-palette');
    await palette.locator('input').fill('Memory');
    const items = palette.locator('.lm-CommandPalette-item');
    await expect(items.filter({ hasText: 'Show Memory Sidebar' })).toHaveCount(1);
    await expect(items.filter({ hasText: 'Clear Memory History' })).toHaveCount(1);
    await expect(items.filter({ hasText: 'Export Memory History (JSON)' })).toHaveCount(1);
    await items.filter({ hasText: 'Show Memory Sidebar' }).click();
    await expect(sidebar).toBeVisible();
  });
});
