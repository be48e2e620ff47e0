/** The plot's x axis at a narrow width (plotLabels.ts), and text escaped once for plotly. */
import { escapePlotlyText } from '../format';
import { fitTickLabels, shortenLabel, xRange } from '../plotLabels';
import { buildSeries } from '../series';
import { HistoryEntry } from '../tokens';
import { sampleRecord } from './fixtures';

describe('tick labels', () => {
  it('cut a label to its room without splitting an entity', () => {
    expect(shortenLabel('[3] load', 20)).toBe('[3] load');
    expect(shortenLabel('[3] a long label', 9)).toBe('[3] a lo…');
    expect(shortenLabel('[3] a long label', 7)).toBe('[3]');
    expect(shortenLabel(escapePlotlyText('<&>xyz and more'), 5)).toBe('&lt;&amp;&gt;x…');
  });

  it('label every point of a short history, horizontally fitting, at 130 px', () => {
    const labels = ['[1] warmup', '[2] load the data', '[3] a very long label indeed'];
    const { tickvals, ticktext } = fitTickLabels([1, 2, 3], labels, 130);
    expect(tickvals).toEqual([1, 2, 3]);
    // 130 px over 5 units (the minimum span): 4 characters a unit: the counts alone.
    expect(ticktext).toEqual(['[1]', '[2]', '[3]']);
    // 500 px: room for part of each label, cut with an ellipsis (the hover has it whole).
    const wide = fitTickLabels([1, 2, 3], labels, 500).ticktext;
    expect(wide[0]).toBe('[1] warmup');
    expect(wide[2]).toMatch(/^\[3\] a very.*…$/);
  });

  it('thin the labels of a long history, keeping the last', () => {
    const x = Array.from({ length: 24 }, (_, i) => i + 1);
    const { tickvals } = fitTickLabels(
      x,
      x.map(i => `[${i}]`),
      130
    );
    expect(tickvals.length).toBeLessThan(24);
    expect(tickvals.at(-1)).toBe(24);
  });

  it('keep one to three points from filling the plot', () => {
    expect(xRange([1])).toEqual([-1.5, 3.5]);
    expect(xRange([1, 2, 3])).toEqual([-0.5, 4.5]);
    expect(xRange([1, 10])).toEqual([0.5, 10.5]);
  });
});

describe('hover and labels with quotes, <, & and non-ASCII', () => {
  it('are escaped exactly once: quotes stay quotes (plotly shows &quot; as is)', () => {
    const entries: HistoryEntry[] = [
      {
        kind: 'record',
        record: sampleRecord({
          seq: 1,
          execution_count: 1,
          label: 'déjà "vu" <b> & ü',
          top_lines: [{ line: 2, code: 'x = f("a") < g(\'b\') & 1', increment: 1000 }]
        })
      }
    ];
    const series = buildSeries(entries);
    expect(series.labels[0]).toBe('[1] déjà "vu" &lt;b&gt; &amp; ü');
    expect(series.hover[0]).toContain('[1] déjà "vu" &lt;b&gt; &amp; ü<br>');
    expect(series.hover[0]).toContain('x = f("a") &lt; g(\'b\') &amp; 1');
    expect(series.hover[0]).not.toContain('&quot;');
    expect(series.hover[0]).not.toContain('&amp;amp;');
  });
});
