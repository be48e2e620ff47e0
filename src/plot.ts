/**
 * The only module that imports plotly.js: a partial bundle (core, which
 * carries scatter, plus bar) instead of the 3 MB full dist.
 */
import Plotly from 'plotly.js/lib/core';
import bar from 'plotly.js/lib/bar';

import { formatBytes } from './format';
import { IPlotSeries } from './series';

Plotly.register([bar] as any);

/** Colours taken from JupyterLab's theme variables so dark themes work. */
function themeColor(node: HTMLElement, name: string, fallback: string): string {
  const value = getComputedStyle(node).getPropertyValue(name).trim();
  return value || fallback;
}

/** Byte ticks in the same units the table uses. */
function byteTicks(values: (number | null)[]): {
  tickvals: number[];
  ticktext: string[];
} {
  const finite = values.filter((v): v is number => v !== null);
  if (finite.length === 0) {
    return { tickvals: [], ticktext: [] };
  }
  const low = Math.min(0, ...finite);
  const high = Math.max(...finite);
  const span = high - low || Math.abs(high) || 1;
  const rough = span / 4;
  const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * magnitude).find(s => s >= rough) ?? 10 * magnitude;
  const tickvals: number[] = [];
  for (let v = Math.floor(low / step) * step; v <= high + step; v += step) {
    tickvals.push(v);
  }
  return { tickvals, ticktext: tickvals.map(v => formatBytes(v)) };
}

export interface IPlotHandlers {
  /** A point was clicked: its index in series.records. */
  onPointClick?: (index: number) => void;
}

/** Draw (or redraw in place) the cumulative memory plot into `node`. */
export async function renderPlot(
  node: HTMLElement,
  series: IPlotSeries,
  handlers: IPlotHandlers = {}
): Promise<void> {
  const fg = themeColor(node, '--jp-ui-font-color1', '#333');
  const grid = themeColor(node, '--jp-border-color2', '#ddd');
  const rssColor = themeColor(node, '--jp-brand-color1', '#1976d2');
  const tracedColor = themeColor(node, '--jp-warn-color1', '#f57c00');
  const growColor = themeColor(node, '--jp-error-color1', '#d32f2f');
  const releaseColor = themeColor(node, '--jp-success-color1', '#388e3c');

  const data: any[] = [
    {
      type: 'scatter',
      mode: 'lines+markers',
      name: 'RSS',
      x: series.x,
      y: series.rss,
      text: series.hover,
      hoverinfo: 'text',
      line: { color: rssColor },
      marker: { size: 7 }
    }
  ];
  if (series.hasTraced) {
    data.push({
      type: 'scatter',
      mode: 'lines+markers',
      name: 'traced (cumulative)',
      x: series.x,
      y: series.tracedCumulative,
      text: series.hover,
      hoverinfo: 'text',
      line: { color: tracedColor, dash: 'dot' },
      marker: { size: 5 }
    });
  }
  data.push({
    type: 'bar',
    name: 'delta',
    x: series.x,
    y: series.delta,
    text: series.hover,
    hoverinfo: 'text',
    textposition: 'none',
    yaxis: 'y2',
    opacity: 0.5,
    marker: {
      color: series.delta.map(d => ((d ?? 0) >= 0 ? growColor : releaseColor))
    }
  });

  const yTicks = byteTicks([...series.rss, ...series.tracedCumulative]);
  const y2Ticks = byteTicks(series.delta);
  const layout: any = {
    autosize: true,
    margin: { l: 64, r: 56, t: 8, b: 48 },
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: fg, size: 11 },
    showlegend: true,
    legend: { orientation: 'h', y: -0.18 },
    xaxis: {
      tickvals: series.x,
      ticktext: series.labels,
      gridcolor: grid,
      automargin: true
    },
    yaxis: { title: { text: 'memory' }, gridcolor: grid, ...yTicks },
    yaxis2: {
      overlaying: 'y',
      side: 'right',
      showgrid: false,
      zeroline: false,
      ...y2Ticks
    },
    shapes: series.restarts.map(x => ({
      type: 'line',
      xref: 'x',
      yref: 'paper',
      x0: x,
      x1: x,
      y0: 0,
      y1: 1,
      line: { color: fg, dash: 'dash', width: 1 }
    }))
  };
  const config: any = { responsive: true, displaylogo: false };
  await Plotly.react(node, data, layout, config);
  const plotNode = node as any;
  if (!plotNode.__memtrackClickBound && handlers.onPointClick) {
    plotNode.__memtrackClickBound = true;
    plotNode.on('plotly_click', (event: any) => {
      const point = event?.points?.[0];
      if (point && typeof point.pointIndex === 'number') {
        handlers.onPointClick?.(point.pointIndex);
      }
    });
  }
}

/** Resize after the panel changed size. */
export function resizePlot(node: HTMLElement): void {
  if ((node as any)._fullLayout) {
    void Plotly.Plots.resize(node as any);
  }
}

/** Free plotly's state for `node`. */
export function purgePlot(node: HTMLElement): void {
  Plotly.purge(node as any);
}
