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

/**
 * Reload the page with the kernel still running, reopen the notebook at `path` and the
 * sidebar, and wait for the bridge; the reloaded sidebar. The reloaded page finds the kernel
 * by the notebook's path: Galata creates Untitled.ipynb and renames it, and on a loaded
 * machine the server's session did not always follow (the reload then asked for a kernel),
 * so the session is told its path and the server's list is awaited first. The restored
 * layout shows the notebook, not the Launcher Galata waits for by default.
 */
export async function reloadWithNotebook(
  page: IJupyterLabPageFixture,
  path: string
): Promise<Locator> {
  await page.evaluate(async () => {
    const panel: any = window.jupyterapp.shell.currentWidget;
    await panel.sessionContext.session?.setPath(panel.context.path);
  });
  await expect
    .poll(
      () =>
        page.evaluate(async () => {
          const sessions = window.jupyterapp.serviceManager.sessions;
          await sessions.refreshRunning();
          return Array.from(sessions.running()).map(session => session.path);
        }),
      { timeout: 30_000 }
    )
    .toContain(path);
  await page.reload({ waitForIsReady: false });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  await page.evaluate(async notebook => {
    await window.jupyterapp.commands.execute('docmanager:open', { path: notebook });
    await window.jupyterapp.commands.execute('memtrack:open-sidebar');
  }, path);
  const reloaded = page.locator(SIDEBAR);
  await waitConnected(reloaded);
  return reloaded;
}
