import { expect, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { notebookWithSidebar } from './helpers';

/**
 * The variables section and the cell table's variables, against a real kernel
 * (the kernel answers the sidebar's variables request between cells).
 */
const CELLS = [
  '%memtrack on',
  'import numpy as np\nbig = np.ones(5_000_000)\nsmall = np.ones(10)',
  "import pandas as pd\ndf = pd.DataFrame({'a': range(1_000_000), 's': ['x' * 10] * 1_000_000})"
];

/** The rows of the variables section, by name. */
function variableRow(section: Locator, name: string): Locator {
  return section.locator(`.jp-Memtrack-var[data-name="${name}"]`);
}

async function names(section: Locator): Promise<string[]> {
  return section
    .locator('.jp-Memtrack-var')
    .evaluateAll(rows => rows.map(row => (row as HTMLElement).dataset.name ?? ''));
}

async function sizes(section: Locator): Promise<number[]> {
  return section
    .locator('.jp-Memtrack-var')
    .evaluateAll(rows => rows.map(row => Number((row as HTMLElement).dataset.bytes ?? -1)));
}

test.describe('variables', () => {
  test('the section lists the largest live variables first, after light cells', async ({
    page
  }) => {
    const sidebar = await notebookWithSidebar(page, 'variables.ipynb', CELLS);
    await page.notebook.run();
    await expect(sidebar.locator('tr.jp-Memtrack-row[data-variables]')).toHaveCount(2, {
      timeout: 60_000
    });

    const section = sidebar.locator('.jp-Memtrack-variables');
    await expect(section).toBeVisible();
    await expect(section.locator('.jp-Memtrack-varToggle')).toHaveAttribute(
      'aria-expanded',
      'true'
    );
    // The DataFrame, with its size (the kernel may still be finishing it: "≥" meanwhile).
    const df = variableRow(section, 'df');
    await expect(df).toHaveCount(1, { timeout: 30_000 });
    await expect(df.locator('.jp-Memtrack-varType')).toContainText('DataFrame');
    await expect(df.locator('.jp-Memtrack-varSize')).toHaveText(/^(≥ )?\d+(\.\d)? MB$/);
    // big: 5e6 float64 = 40 MB, exact once sized.
    const big = variableRow(section, 'big');
    await expect(big.locator('.jp-Memtrack-varSize')).toHaveText('40.0 MB', { timeout: 30_000 });
    await expect(big.locator('.jp-Memtrack-varType')).toContainText('ndarray');
    await expect(section.locator('.jp-Memtrack-varStatus')).not.toContainText('sizing', {
      timeout: 30_000
    });

    // Sorted largest first: the Size column is the sorted one, sizes never grow down the list.
    await expect(section.locator('[role="columnheader"][aria-sort="descending"]')).toHaveText(
      'Size'
    );
    const shown = await names(section);
    expect(shown.indexOf('big')).toBeLessThan(shown.indexOf('small'));
    const bytes = await sizes(section);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    const dfBytes = Number(await df.getAttribute('data-bytes'));
    // Never less than its int64 column alone.
    expect(dfBytes).toBeGreaterThan(8_000_000);
    expect(shown[0]).toBe(dfBytes > 40_000_000 ? 'df' : 'big');
    // A sparkline of its sizes after each cell: drawn once a cell has ended since it was sized.
    await page.notebook.addCell('code', 'after = 1');
    await page.notebook.runCell(CELLS.length);
    await expect(big.locator('svg.jp-Memtrack-sparkline')).toHaveCount(1, { timeout: 30_000 });

    // Sorting from the keyboard: Enter on the Name header button.
    await section.locator('.jp-Memtrack-sort[data-key="name"]').focus();
    await page.keyboard.press('Enter');
    await expect(section.locator('[role="columnheader"][aria-sort="ascending"]')).toHaveText(
      'Name'
    );
    const byName = await names(section);
    expect(byName.indexOf('big')).toBeLessThan(byName.indexOf('df'));
    expect(byName.indexOf('df')).toBeLessThan(byName.indexOf('small'));
    await section.locator('.jp-Memtrack-sort[data-key="size"]').click();
    await expect(section.locator('[role="columnheader"][aria-sort="descending"]')).toHaveText(
      'Size'
    );

    // The filter keeps the names (or types) that contain its text.
    await section.locator('.jp-Memtrack-varFilter').fill('small');
    await expect(section.locator('.jp-Memtrack-var')).toHaveCount(1);
    await expect(variableRow(section, 'small')).toHaveCount(1);
    await section.locator('.jp-Memtrack-varFilter').fill('');

    // Why alive? asks the kernel, which finds the name in the namespace.
    await big.locator('[data-control="why"]').click();
    await expect(section.locator('.jp-Memtrack-varNotice')).toContainText('big: Alive through', {
      timeout: 30_000
    });

    // Release asks first, then the variable is gone from the list.
    await variableRow(section, 'small').locator('[data-control="release"]').click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Release small?');
    await dialog.locator('.jp-mod-accept').click();
    await expect(section.locator('.jp-Memtrack-varNotice')).toContainText('Released small', {
      timeout: 30_000
    });
    await expect(variableRow(section, 'small')).toHaveCount(0, { timeout: 30_000 });
    await page.screenshot({ path: test.info().outputPath('variables.png') });
    await page.theme.setDarkTheme();
    await page.screenshot({ path: test.info().outputPath('variables-dark.png') });
  });

  test('a table row expands to the variables its cell created', async ({ page }) => {
    const sidebar = await notebookWithSidebar(page, 'cell-variables.ipynb', CELLS.slice(0, 2));
    await page.notebook.run();
    const row = sidebar.locator('tr.jp-Memtrack-row[data-variables]');
    await expect(row).toHaveCount(1, { timeout: 60_000 });
    const disclosure = row.locator('button.jp-Memtrack-disclose');
    await expect(disclosure).toHaveAttribute('aria-expanded', 'false');
    await disclosure.click();
    await expect(disclosure).toHaveAttribute('aria-expanded', 'true');
    const detail = sidebar.locator('tr.jp-Memtrack-varsRow');
    await expect(detail).toHaveCount(1);
    const big = detail.locator('li.jp-Memtrack-cellVar', { hasText: 'big' });
    await expect(big.locator('.jp-Memtrack-cellVarChange')).toHaveText('created');
    await expect(big.locator('.jp-Memtrack-cellVarSize')).toHaveText(/^(≥ )?40\.0 MB$/);
    await expect(big.locator('.jp-Memtrack-cellVarDelta')).toHaveText('+40.0 MB');
    await expect(detail.locator('li.jp-Memtrack-cellVar', { hasText: 'small' })).toHaveCount(1);
    // The largest change first.
    await expect(detail.locator('li.jp-Memtrack-cellVar').first()).toContainText('big');
    // Opening it did not go to the cell; the keyboard closes and opens it again.
    await row.focus();
    await page.keyboard.press('ArrowLeft');
    await expect(detail).toHaveCount(0);
    await expect(disclosure).toHaveAttribute('aria-expanded', 'false');
    await page.keyboard.press('ArrowRight');
    await expect(detail).toHaveCount(1);
    // The row's tooltip names its largest variable too.
    await expect(row).toHaveAttribute('title', /Variables: big created/);
  });
});
