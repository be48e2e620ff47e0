/**
 * A sidebar that never contradicts the kernel and reads at its default width
 * (issue 23): the tracking mode follows the kernel both ways and after a
 * reload; exactly the leaking cells are highlighted; Clear asks first; hover
 * text is escaped once; 250 px shows no horizontal scroll; an axe audit of the
 * sidebar and the badges finds nothing serious in either theme.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { linePoints, notebookWithSidebar, reloadWithNotebook, SIDEBAR } from './helpers';

const TOGGLE = 'memtrack:toggle-tracking';

function trackButton(sidebar: Locator): Locator {
  return sidebar.locator(`button[data-command="${TOGGLE}"]`);
}

/** The palette's label of the tracking command (the same the menu shows). */
function paletteLabel(page: IJupyterLabPageFixture): Promise<string> {
  return page.evaluate(id => window.jupyterapp.commands.label(id), TOGGLE);
}

async function shutdownKernel(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(async () => {
    const panel: any = window.jupyterapp.shell.currentWidget;
    await panel?.sessionContext.shutdown();
  });
}

test.describe('tracking mode', () => {
  // The reload restores the notebook, not the Launcher Galata waits for by default.
  test.use({
    kernels: null,
    waitForApplication: async ({}, use) => {
      await use(async page => {
        await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
      });
    }
  });

  test('follows the kernel both ways and after a reload', async ({ page, tmpPath }) => {
    const name = 'mode.ipynb';
    const sidebar = await notebookWithSidebar(page, name, [
      '%memtrack on',
      'x = 1',
      '%memtrack off'
    ]);
    const button = trackButton(sidebar);
    await expect(button).toHaveAttribute('aria-pressed', 'false');

    // A magic typed in a cell: the button and the palette follow.
    await page.notebook.runCell(0);
    await expect(button).toHaveAttribute('aria-pressed', 'true');
    await expect.poll(() => paletteLabel(page)).toBe('Stop Tracking Every Cell');
    await page.notebook.runCell(2);
    await expect(button).toHaveAttribute('aria-pressed', 'false');
    await expect.poll(() => paletteLabel(page)).toBe('Track Every Cell');

    // The button, then a magic: the first click shows at once, the magic undoes it.
    await button.click();
    await expect(button).toHaveAttribute('aria-pressed', 'true');
    await page.notebook.runCell(1);
    await expect(sidebar.locator('tbody tr')).toHaveCount(1);
    await page.notebook.runCell(2);
    await expect(button).toHaveAttribute('aria-pressed', 'false');

    // On in the kernel, then a reload: the new page shows the kernel's mode.
    await page.notebook.runCell(0);
    await expect(button).toHaveAttribute('aria-pressed', 'true');
    const reloaded = await reloadWithNotebook(page, `${tmpPath}/${name}`);
    await expect(trackButton(reloaded)).toHaveAttribute('aria-pressed', 'true');
    await expect.poll(() => paletteLabel(page)).toBe('Stop Tracking Every Cell');
    await shutdownKernel(page);
  });
});

test('highlights exactly the cells that grew a suspect, and watches before it flags', async ({
  page
}) => {
  const sidebar = await notebookWithSidebar(page, 'exact.ipynb', [
    '%%memtrack --label make\ncache = []',
    '%%memtrack --label grow\ncache.append(bytearray(2_000_000))',
    '%%memtrack --label other\ny = 1'
  ]);
  await page.notebook.runCell(0);
  await page.notebook.runCell(1);
  await page.notebook.runCell(1);
  // Grown twice: watched, with its growth, not a leak yet.
  const suspect = sidebar.locator('.jp-Memtrack-leak', { hasText: 'cache' });
  await expect(suspect).toHaveAttribute('data-watching', 'true');
  await expect(suspect.locator('.jp-Memtrack-watchingTag')).toHaveText('watching');
  await expect(suspect.locator('.jp-Memtrack-leakFacts')).toContainText('growth');
  await expect(sidebar.locator('tr.jp-Memtrack-leaking')).toHaveCount(0);

  await page.notebook.runCell(1);
  await expect(suspect).not.toHaveAttribute('data-watching', 'true');
  await page.notebook.runCell(2);
  await expect(sidebar.locator('tbody tr')).toHaveCount(5);
  // The runs of "grow" are the suspect's; "other", run after it, is not.
  const rows = sidebar.locator('tbody tr.jp-Memtrack-row');
  const highlighted = sidebar.locator('tr.jp-Memtrack-leaking');
  await expect(highlighted.filter({ hasText: 'grow' })).toHaveCount(3);
  await expect(rows.filter({ hasText: 'other' })).not.toHaveClass(/jp-Memtrack-leaking/);
  const count = await highlighted.count();
  // One cross per highlighted cell, and the legend says what a cross is.
  await expect
    .poll(() =>
      sidebar
        .locator('.jp-Memtrack-plot')
        .evaluate(
          (node: any) => node.data?.find((trace: any) => trace.name === 'leaking cell')?.x.length
        )
    )
    .toBe(count);
  await expect(sidebar.locator('.legend')).toContainText('leaking cell');
});

test('Clear asks first and says it clears the kernel history too', async ({ page }) => {
  const sidebar = await notebookWithSidebar(page, 'clear.ipynb', ['%%memtrack --label one\na = 1']);
  await page.notebook.runCell(0);
  await expect(sidebar.locator('tbody tr')).toHaveCount(1);
  const clear = sidebar.locator('button[data-command="memtrack:clear"]');
  const dialog = page.locator('.jp-Dialog');

  await clear.click();
  await expect(dialog).toContainText("This clears the kernel's memory history too");
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(sidebar.locator('tbody tr')).toHaveCount(1);

  await clear.click();
  await dialog.getByRole('button', { name: 'Clear' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(sidebar.locator('tbody tr')).toHaveCount(0);
  // The kernel forgot it too: the next cell is the only row.
  await page.notebook.runCell(0);
  await expect(sidebar.locator('tbody tr')).toHaveCount(1);
});

test('hover text and labels show quotes, <, & and non-ASCII once', async ({ page }) => {
  const label = 'say "hi" <b> & ü';
  const sidebar = await notebookWithSidebar(page, 'quotes.ipynb', [
    `%%memtrack --label '${label}'\nx = "quoted" + '<&>' + "é"`
  ]);
  await page.notebook.runCell(0);
  await expect(sidebar.locator('tbody tr')).toHaveCount(1);
  await expect(sidebar.locator('tbody tr').first()).toContainText(label);
  await linePoints(sidebar).first().hover({ force: true });
  const hover = sidebar.locator('.hoverlayer .hovertext');
  await expect(hover).toContainText(`[1] ${label}`);
  await expect(hover).toContainText(`x = "quoted" + '<&>' + "é"`);
  await expect(hover).not.toContainText('&quot;');
  await expect(hover).not.toContainText('&amp;');
});

/** The sidebar at JupyterLab's default width, with rows, a release and a leak suspect. */
async function auditedSidebar(page: IJupyterLabPageFixture, name: string): Promise<Locator> {
  const sidebar = await notebookWithSidebar(page, name, [
    '%%memtrack --label "load the data and keep it"\ndata = bytearray(30_000_000)',
    '%%memtrack --label grow\nmore = [bytearray(20_000_000)]',
    '%%memtrack --label release\ndel data'
  ]);
  await page.notebook.run();
  await expect(sidebar.locator('tbody tr')).toHaveCount(3);
  await page.sidebar.setWidth(250, 'right');
  await expect.poll(() => sidebar.evaluate(node => node.clientWidth)).toBeLessThanOrEqual(252);
  return sidebar;
}

async function expectNoSeriousViolations(page: IJupyterLabPageFixture): Promise<void> {
  const results = await new AxeBuilder({ page })
    .include(SIDEBAR)
    .include('.jp-Memtrack-badge')
    .analyze();
  const serious = results.violations
    .filter(violation => violation.impact === 'serious' || violation.impact === 'critical')
    .map(violation => ({
      id: violation.id,
      nodes: violation.nodes.map(node => `${node.target.join(' ')}: ${node.failureSummary}`)
    }));
  expect(serious).toEqual([]);
}

test.describe('at the default width', () => {
  test('250 px: no horizontal scroll, labels that fit', async ({ page }) => {
    const sidebar = await auditedSidebar(page, 'narrow.ipynb');
    await sidebar.locator('.jp-Memtrack-varToggle').click();
    // Traced: the same bytes every run, so the screenshot compares.
    await sidebar.locator('select.jp-Memtrack-metric').selectOption('traced');
    await expect(sidebar.locator('.legend')).toContainText('traced (sum over %%memtrack cells)');
    const overflow = await sidebar.evaluate(node =>
      [node, ...Array.from(node.querySelectorAll<HTMLElement>('.jp-Memtrack-tableScroller'))].map(
        element => element.scrollWidth - element.clientWidth
      )
    );
    expect(overflow.every(extra => extra <= 0)).toBe(true);
    // Cell, Delta and Peak visible; RSS and Time in each row's tooltip.
    await expect(sidebar.locator('thead th:visible')).toHaveCount(3);
    await expect(sidebar.locator('tbody tr').first()).toHaveAttribute('title', /RSS after: /);
    // Horizontal tick labels inside the plot.
    const ticks = sidebar.locator('.jp-Memtrack-plot .xtick text');
    await expect(ticks).not.toHaveCount(0);
    const plotBox = (await sidebar.locator('.jp-Memtrack-plot').boundingBox())!;
    for (const tick of await ticks.all()) {
      const box = (await tick.boundingBox())!;
      expect(box.height).toBeLessThan(20);
      expect(box.x).toBeGreaterThanOrEqual(plotBox.x - 1);
      expect(box.x + box.width).toBeLessThanOrEqual(plotBox.x + plotBox.width + 1);
    }
    await expect(sidebar).toHaveScreenshot('sidebar-250.png', {
      mask: [sidebar.locator('.jp-Memtrack-varCount')],
      maxDiffPixelRatio: 0.03,
      animations: 'disabled'
    });
  });

  test('axe finds no serious violation, light and dark', async ({ page }) => {
    await auditedSidebar(page, 'audit.ipynb');
    await expectNoSeriousViolations(page);
    await page.theme.setDarkTheme();
    await expectNoSeriousViolations(page);
    // The plot's toolbar is out of the tab order (the plot is hidden from assistive technology).
    const focusable = await page
      .locator(`${SIDEBAR} .modebar-btn`)
      .evaluateAll(
        buttons => buttons.filter(button => (button as HTMLElement).tabIndex >= 0).length
      );
    expect(focusable).toBe(0);
  });
});
