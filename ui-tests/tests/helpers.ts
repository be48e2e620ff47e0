import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

export const SIDEBAR = '#jp-memtrack-sidebar';

/** Create a notebook with these cells, open the sidebar, and wait for the kernel bridge. */
export async function notebookWithSidebar(
  page: IJupyterLabPageFixture,
  name: string,
  cells: string[]
): Promise<Locator> {
  await page.notebook.createNew(name);
  await page.notebook.setCell(0, 'code', cells[0]);
  for (const source of cells.slice(1)) {
    await page.notebook.addCell('code', source);
  }
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('memtrack:open-sidebar');
  });
  const sidebar = page.locator(SIDEBAR);
  await expect(sidebar).toBeVisible();
  await waitConnected(sidebar);
  return sidebar;
}

/** autoLoad loads the kernel extension and the bridge opens the comm. */
export async function waitConnected(sidebar: Locator): Promise<void> {
  await expect(sidebar.locator('.jp-Memtrack-status')).toHaveText('Connected', {
    timeout: 60_000
  });
}

/** The plotted line's markers (first scatter trace). */
export function linePoints(sidebar: Locator): Locator {
  return sidebar.locator('.jp-Memtrack-plot .scatterlayer .trace').first().locator('path.point');
}
