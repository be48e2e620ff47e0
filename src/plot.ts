/**
 * The only module that imports plotly.js: a partial bundle (core, which
 * carries scatter, plus bar) instead of the 3 MB full dist.
 */
import Plotly from 'plotly.js/lib/core';
import bar from 'plotly.js/lib/bar';

import { formatBytes, Units } from './format';
import { IPlotSeries } from './series';

Plotly.register([bar] as any);

/** Colours taken from JupyterLab's theme variables, read at each draw so theme switches apply. */
function themeColor(node: HTMLElement, name: string, fallback: string): string {
  const value = getComputedStyle(node).getPropertyValue(name).trim();
  return value || fallback;
}

/** Byte ticks in the same units the table uses. */
export function byteTicks(
  values: (number | null)[],
  units: Units,
  includeZero: boolean
): { tickvals: number[]; ticktext: string[] } {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (finite.length === 0) {
    return { tickvals: [], ticktext: [] };
  }
  let low = includeZero ? 0 : finite[0];
  let high = includeZero ? 0 : finite[0];
  for (const v of finite) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const span = high - low || Math.abs(high) || 1;
  const rough = span / 4;
  const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * magnitude).find(s => s >= rough) ?? 10 * magnitude;
  const tickvals: number[] = [];
  for (let v = Math.floor(low / step) * step; v <= high + step / 2; v += step) {
    tickvals.push(v);
  }
  return { tickvals, ticktext: tickvals.map(v => formatBytes(v, units)) };
}

export interface IPlotOptions {
  units: Units;
  /** Axis titles, translated by the caller. */
  metricTitle: string;
  peakTitle: string;
  deltaTitle: string;
  leakTitle: string;
  /** A point was clicked: its index in series.records. */
  onPointClick?: (index: number) => void;
}

/** At most this many x tick labels are written out; beyond, plotly picks numeric ticks. */
const MAX_LABELLED_TICKS = 24;

/** Draw (or redraw in place) the cumulative memory plot into `node`. */
export async function renderPlot(
  node: HTMLElement,
  series: IPlotSeries,
  options: IPlotOptions
): Promise<void> {
  const fg = themeColor(node, '--jp-ui-font-color1', '#333');
  const grid = themeColor(node, '--jp-border-color2', '#ddd');
  const lineColor = themeColor(node, '--jp-brand-color1', '#1976d2');
  const peakColor = themeColor(node, '--jp-warn-color1', '#f57c00');
  const growColor = themeColor(node, '--jp-error-color2', '#e57373');
  const releaseColor = themeColor(node, '--jp-success-color2', '#81c784');
  const leakColor = themeColor(node, '--jp-error-color0', '#b71c1c');
  // SVG cost grows with the number of marks: markers and peaks only while few.
  const markers = series.x.length <= 150;
  // Each point carries its index in series.records, whatever trace it is on.
  const indices = series.x.map((_, i) => i);

  const data: any[] = [
    {
      type: 'scatter',
      mode: markers ? 'lines+markers' : 'lines',
      name: options.metricTitle,
      x: series.x,
      y: series.cumulative,
      customdata: indices,
      text: series.hover,
      hoverinfo: 'text',
      line: { color: lineColor },
      marker: { size: 7 }
    },
    {
      type: 'scatter',
      mode: 'markers',
      visible: markers ? true : 'legendonly',
      name: options.peakTitle,
      x: series.x,
      y: series.peak,
      customdata: indices,
      hoverinfo: 'skip',
      marker: { symbol: 'triangle-up', size: 7, color: peakColor }
    },
    {
      type: 'bar',
      name: options.deltaTitle,
      x: series.x,
      y: series.delta,
      customdata: indices,
      text: series.hover,
      hoverinfo: 'text',
      textposition: 'none',
      yaxis: 'y2',
      opacity: 0.6,
      marker: { color: series.delta.map(d => ((d ?? 0) >= 0 ? growColor : releaseColor)) }
    }
  ];
  const leakIdx = series.leaking.flatMap((leaking, i) => (leaking ? [i] : []));
  if (leakIdx.length) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: options.leakTitle,
      x: leakIdx.map(i => series.x[i]),
      y: leakIdx.map(i => series.cumulative[i]),
      customdata: leakIdx,
      text: leakIdx.map(i => series.hover[i]),
      hoverinfo: 'text',
      marker: { symbol: 'x-thin-open', size: 14, line: { width: 3, color: leakColor } }
    });
  }

  const labelled = series.x.length <= MAX_LABELLED_TICKS;
  const layout: any = {
    autosize: true,
    margin: { l: 64, r: 56, t: 28, b: 40 },
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: fg, size: 11 },
    showlegend: true,
    // Above the plot: below it, the legend collides with the cell labels.
    legend: { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom' },
    hovermode: 'closest',
    dragmode: 'zoom',
    xaxis: {
      gridcolor: grid,
      automargin: true,
      ...(labelled ? { tickvals: series.x, ticktext: series.labels } : {})
    },
    yaxis: {
      gridcolor: grid,
      zeroline: false,
      ...byteTicks(
        [...series.cumulative, ...series.peak],
        options.units,
        series.metric === 'traced'
      )
    },
    yaxis2: {
      overlaying: 'y',
      side: 'right',
      showgrid: false,
      zeroline: true,
      zerolinecolor: grid,
      ...byteTicks(series.delta, options.units, true)
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
  const config: any = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ['toImage', 'lasso2d', 'select2d']
  };
  await Plotly.react(node, data, layout, config);
  const plotNode = node as any;
  plotNode.__memtrackOnClick = options.onPointClick;
  if (!plotNode.__memtrackClickBound) {
    plotNode.__memtrackClickBound = true;
    plotNode.on('plotly_click', (event: any) => {
      const index = event?.points?.[0]?.customdata;
      if (typeof index === 'number') {
        plotNode.__memtrackOnClick?.(index);
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
