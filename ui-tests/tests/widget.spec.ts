import { expect, test } from '@jupyterlab/galata';

test.describe('memtrack.widget()', () => {
  test('shows the tracked cells in the notebook and adds a row per new cell', async ({ page }) => {
    await page.notebook.createNew('widget.ipynb');
    await page.notebook.setCell(0, 'code', '%load_ext memtrack\n%memtrack on');
    await page.notebook.addCell('code', 'first = list(range(200_000))');
    await page.notebook.addCell('code', 'second = bytearray(5_000_000)');
    await page.notebook.addCell('code', 'import memtrack\nmemtrack.widget()');
    await page.notebook.run();

    const widget = page.locator('.jp-Memtrack-widget');
    await expect(widget).toBeVisible({ timeout: 60_000 });
    const rows = widget.locator('tbody tr');
    // Cells 2 and 3, and the cell showing the widget: recorded once it ran, it comes live.
    await expect(rows).toHaveCount(3, { timeout: 30_000 });
    await expect(rows.locator('td:first-child')).toHaveText(['2', '3', '4']);
    await expect(rows.nth(1).locator('td').nth(2)).toHaveText(/^\+\d/);
    await expect(widget.locator('.jp-Memtrack-widgetSummary')).toHaveText(
      'memtrack: 3 tracked cells'
    );
    // The plot is drawn by plotly inside the widget: one marker per record on the line.
    const plot = widget.locator('.jp-Memtrack-widgetPlot.js-plotly-plot');
    await expect(plot).toBeVisible();
    const points = plot.locator('.scatterlayer .trace').first().locator('path.point');
    await expect(points).toHaveCount(3);

    // Another tracked cell, with a label: a new row and a new point, without re-running the
    // widget's cell.
    await page.notebook.addCell(
      'code',
      '%%memtrack --label "<b>third</b>"\nthird = [0] * 1_000_000'
    );
    await page.notebook.runCell(4);
    await expect(rows).toHaveCount(4, { timeout: 30_000 });
    await expect(rows.nth(3).locator('td').nth(1)).toHaveText('<b>third</b>');
    await expect(widget.locator('b')).toHaveCount(0);
    await expect(points).toHaveCount(4);
    await widget.screenshot({ path: test.info().outputPath('widget.png') });
  });
});
