/**
 * The only module that imports plotly.js: a partial bundle (core, which
 * carries scatter, plus bar) instead of the 3 MB full dist.
 */
import Plotly from 'plotly.js/lib/core';
import bar from 'plotly.js/lib/bar';

import { escapePlotlyText, formatBytes, Units } from './format';
import { fitTickLabels } from './plotLabels';
import { IPlotSeparator, IPlotSeries } from './series';

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
  /** Trace and axis titles, translated by the caller; plain text (escaped here). */
  metricTitle: string;
  peakTitle: string;
  deltaTitle: string;
  leakTitle: string;
  /** The legend name of the death markers (translated). */
  deathTitle?: string;
  /** The legend name of the release markers (translated). */
  releaseTitle?: string;
  /** The legend name of the dask cluster's line (translated). */
  clusterTitle?: string;
  /** What the separators' labels say (translated): a restart, a death, the end of the saved runs. */
  separatorTitles?: Record<IPlotSeparator['kind'], string>;
  /**
   * A horizontal line when near the data: the kernel's memory limit on the RSS
   * plot, the devices' capacity on the GPU plot (none on the others).
   */
  limit?: IPlotLimit | null;
  /** The running cell, drawn past the last record while it runs. */
  live?: IPlotLive | null;
  /** A point was clicked: its index in series.records. */
  onPointClick?: (index: number) => void;
}

/** The memory limit line. */
export interface IPlotLimit {
  bytes: number;
  /** Its label, e.g. "limit 2.0 GB (cgroup-v2)", plain text (escaped here). */
  label: string;
}

/** The running cell's point (its RSS now) and bar (its RSS change so far). */
export interface IPlotLive {
  rss: number | null;
  delta: number | null;
  /** The GPU bytes allocated now (its point on the GPU plot), where the samples carry them. */
  gpu?: number | null;
  /** Legend name and hover lines, plain text (escaped here). */
  title: string;
  hover: string[];
}

/**
 * The limit line is drawn only when it is at most this many times the highest
 * value plotted: the machine's whole memory (source meminfo) is often far
 * above, and drawing it would flatten the data to the bottom of the plot. Past
 * that the limit is written in a corner instead.
 */
export const LIMIT_DRAW_FACTOR = 3;

const SEPARATOR_TITLES: Record<IPlotSeparator['kind'], string> = {
  restart: 'restart',
  died: 'died',
  saved: 'saved'
};

/** A separator's line: dashed for a restart, solid for a death, dotted after the saved runs. */
function separatorShape(separator: IPlotSeparator, fg: string, deathColor: string): any {
  const line =
    separator.kind === 'died'
      ? { color: deathColor, width: 2 }
      : { color: fg, dash: separator.kind === 'saved' ? 'dot' : 'dash', width: 1 };
  return {
    type: 'line',
    xref: 'x',
    yref: 'paper',
    x0: separator.x,
    x1: separator.x,
    y0: 0,
    y1: 1,
    line
  };
}

/** A separator's label, at the top of its line ("died [12]"). */
function separatorLabel(separator: IPlotSeparator, title: string, color: string): any {
  return {
    xref: 'x',
    yref: 'paper',
    x: separator.x,
    y: 1,
    xanchor: 'left',
    yanchor: 'top',
    showarrow: false,
    font: { size: 9, color },
    // The cell is escaped by buildSeries, the title here.
    text: separator.cell ? `${escapePlotlyText(title)} ${separator.cell}` : escapePlotlyText(title)
  };
}

/** At most this many x tick labels are written out; beyond, plotly picks numeric ticks. */
const MAX_LABELLED_TICKS = 24;

/** The layout's left and right margins together (the byte axes' labels). */
const PLOT_SIDE_MARGINS = 120;

/** Up to this many points the x axis is padded and bars narrowed (plotly fills the axis). */
const FEW_POINTS = 3;
/** A bar's width, in cells, while the plot has few points. */
const FEW_POINTS_BAR_WIDTH = 0.35;

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
      name: escapePlotlyText(options.metricTitle),
      x: series.x,
      y: series.cumulative,
      // Traced: the sum joins the records that have a traced delta, across those that have none.
      connectgaps: series.metric === 'traced',
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
      name: escapePlotlyText(options.peakTitle),
      x: series.x,
      y: series.peak,
      customdata: indices,
      hoverinfo: 'skip',
      marker: { symbol: 'triangle-up', size: 7, color: peakColor }
    },
    {
      type: 'bar',
      name: escapePlotlyText(options.deltaTitle),
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
  if (series.hasCluster) {
    // The cluster's total beside the kernel's, on the same byte axis (the same unit, so they
    // compare); dashed with square marks, not told apart by colour alone. No reading, no point:
    // the line breaks rather than joining across the cells without one.
    data.push({
      type: 'scatter',
      mode: markers ? 'lines+markers' : 'lines',
      name: escapePlotlyText(options.clusterTitle ?? 'cluster RSS'),
      x: series.x,
      y: series.cluster,
      connectgaps: false,
      customdata: indices,
      text: series.clusterHover,
      hoverinfo: 'text',
      line: { color: themeColor(node, '--jp-info-color1', '#0097a7'), dash: 'dash', width: 1.5 },
      marker: { symbol: 'square', size: 6 }
    });
  }
  // Points of the history marked apart (leaking cells, releases, deaths): one trace each,
  // hover and click like the line's points.
  const markTrace = (
    name: string,
    indices: number[],
    y: (i: number) => number | null,
    marker: Record<string, unknown>
  ): void => {
    if (indices.length) {
      data.push({
        type: 'scatter',
        mode: 'markers',
        name: escapePlotlyText(name),
        x: indices.map(i => series.x[i]),
        y: indices.map(y),
        customdata: indices,
        text: indices.map(i => series.hover[i]),
        hoverinfo: 'text',
        marker
      });
    }
  };
  const leakIdx = series.leaking.flatMap((leaking, i) => (leaking ? [i] : []));
  markTrace(options.leakTitle, leakIdx, i => series.cumulative[i], {
    symbol: 'x-thin-open',
    size: 14,
    line: { width: 3, color: leakColor }
  });
  // A release is a point of the history like a cell, at the level it left.
  markTrace(options.releaseTitle ?? 'release', series.releases, i => series.cumulative[i], {
    symbol: 'diamond-wide',
    size: 12,
    color: releaseColor,
    line: { width: 1, color: fg }
  });
  const deathColor = themeColor(node, '--jp-error-color1', '#d32f2f');
  markTrace(options.deathTitle ?? 'kernel died', series.deaths, i => series.markerY[i], {
    symbol: 'x',
    size: 13,
    color: deathColor,
    line: { width: 1, color: fg }
  });
  const live = options.live;
  const liveX = (series.x[series.x.length - 1] ?? series.total) + 1;
  // The running cell's level in the plotted metric: its RSS, or on the GPU plot its GPU bytes.
  const liveLevel =
    series.metric === 'rss' ? live?.rss : series.metric === 'gpu' ? live?.gpu : null;
  const deltaTrace = data[2];
  if (live) {
    // The bar joins the delta trace (a second bar trace would halve every bar's width). The
    // running cell's change is RSS only (live messages send no GPU start): none among the
    // deltas of another metric.
    deltaTrace.x = [...series.x, liveX];
    deltaTrace.y = [...series.delta, series.metric === 'rss' ? live.delta : null];
    const liveHover = live.hover.map(escapePlotlyText).join('<br>');
    deltaTrace.text = [...series.hover, liveHover];
    deltaTrace.marker.color = [...deltaTrace.marker.color, peakColor];
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: escapePlotlyText(live.title),
      x: [liveX],
      y: [liveLevel ?? null],
      text: [liveHover],
      hoverinfo: 'text',
      marker: { symbol: 'circle-open', size: 11, line: { width: 2, color: peakColor } }
    });
  }
  const plotted = [
    ...series.cumulative,
    ...series.peak,
    ...series.cluster,
    ...series.deaths.map(i => series.markerY[i])
  ];
  if (live) {
    plotted.push(liveLevel ?? null);
  }
  const high = Math.max(0, ...plotted.filter((v): v is number => v !== null));
  // The kernel's limit is about RSS, the capacity about the GPU: no line on the other plots.
  const limit = series.metric === 'rss' || series.metric === 'gpu' ? options.limit : null;
  const drawLimit = !!limit && high > 0 && limit.bytes <= high * LIMIT_DRAW_FACTOR;
  const annotations: any[] = [];
  if (limit && drawLimit) {
    const lastX = live ? liveX : (series.x[series.x.length - 1] ?? 1);
    data.push({
      type: 'scatter',
      mode: 'lines',
      name: escapePlotlyText(limit.label),
      showlegend: false,
      x: [0.5, lastX + 0.5],
      y: [limit.bytes, limit.bytes],
      hoverinfo: 'skip',
      line: { color: deathColor, dash: 'dot', width: 1.5 }
    });
    plotted.push(limit.bytes);
    annotations.push({
      xref: 'paper',
      yref: 'y',
      x: 1,
      y: limit.bytes,
      xanchor: 'right',
      yanchor: 'bottom',
      showarrow: false,
      font: { size: 9, color: deathColor },
      text: escapePlotlyText(limit.label)
    });
  } else if (limit) {
    // Below the x axis' labels: the top of the plot holds the restart and death labels.
    annotations.push({
      xref: 'paper',
      yref: 'paper',
      x: 1,
      y: 0,
      yshift: -20,
      xanchor: 'right',
      yanchor: 'top',
      showarrow: false,
      font: { size: 9, color: fg },
      text: `${escapePlotlyText(limit.label)} ↑`
    });
  }
  const pointXs = live ? [...series.x, liveX] : series.x;
  if (pointXs.length > 0 && pointXs.length <= FEW_POINTS) {
    // One to three cells: plotly widens bars to the whole axis (a single bar filled the plot).
    // Narrow bars and an invisible line to a step beyond each end keep them bars: a trace, not
    // a fixed range, so that autorange and double-click reset keep working, and a line without
    // markers, which plotly does not pad by pixels (the reset range would depend on the width).
    deltaTrace.width = pointXs.map(() => FEW_POINTS_BAR_WIDTH);
    const anchorY = plotted.find((v): v is number => v !== null) ?? null;
    if (anchorY !== null) {
      data.push({
        type: 'scatter',
        mode: 'lines',
        name: 'padding',
        showlegend: false,
        x: [Math.min(...pointXs) - 1, Math.max(...pointXs) + 1],
        y: [anchorY, anchorY],
        hoverinfo: 'skip',
        line: { width: 0 }
      });
    }
  }
  const titles = options.separatorTitles ?? SEPARATOR_TITLES;
  for (const separator of series.separators) {
    const color = separator.kind === 'died' ? deathColor : fg;
    annotations.push(separatorLabel(separator, titles[separator.kind], color));
  }

  const labelled = series.x.length <= MAX_LABELLED_TICKS;
  const tickX = live ? [...series.x, liveX] : series.x;
  const tickLabels = live ? [...series.labels, escapePlotlyText(live.title)] : series.labels;
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
    // In the theme's colours (plotly's default is each trace's colour, bright blue in both).
    hoverlabel: {
      bgcolor: themeColor(node, '--jp-layout-color1', '#fff'),
      bordercolor: themeColor(node, '--jp-border-color1', '#bdbdbd'),
      font: { color: fg, size: 11 }
    },
    dragmode: 'zoom',
    xaxis: {
      gridcolor: grid,
      automargin: true,
      // Horizontal labels cut to fit (the hover has the full title); 1-3 points stay narrow.
      tickangle: 0,
      ...(labelled ? fitTickLabels(tickX, tickLabels, plotAreaWidth(node)) : {})
    },
    yaxis: {
      // Says which metric the line is, in the plot itself (the legend may be scrolled away).
      title: { text: escapePlotlyText(options.metricTitle), font: { size: 10 }, standoff: 4 },
      automargin: true,
      gridcolor: grid,
      zeroline: false,
      ...byteTicks(plotted, options.units, series.metric === 'traced')
    },
    yaxis2: {
      overlaying: 'y',
      side: 'right',
      showgrid: false,
      zeroline: true,
      zerolinecolor: grid,
      ...byteTicks(
        live && series.metric === 'rss' ? [...series.delta, live.delta] : series.delta,
        options.units,
        true
      )
    },
    // One shape per separator (nothing else is a shape: tests count them).
    shapes: series.separators.map(separator => separatorShape(separator, fg, deathColor)),
    annotations
  };
  const config: any = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ['toImage', 'lasso2d', 'select2d']
  };
  await Plotly.react(node, data, layout, config);
  keepToolbarOutOfTabOrder(node);
  const plotNode = node as any;
  // A resize recomputes the tick labels for the new width.
  plotNode.__memtrackDraw = () => renderPlot(node, series, options);
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

/**
 * The plot is hidden from assistive technology (the table is its text
 * alternative) and its zoom and reset are mouse gestures: plotly's toolbar
 * buttons stay out of the tab order, rather than focusable inside a hidden region.
 */
function keepToolbarOutOfTabOrder(node: HTMLElement): void {
  node.querySelectorAll<HTMLElement>('.modebar-btn, .modebar a').forEach(button => {
    button.tabIndex = -1;
  });
}

/** The plot area's width in px: the node's less plotly's side margins. */
function plotAreaWidth(node: HTMLElement): number {
  return Math.max(60, (node.clientWidth || 250) - PLOT_SIDE_MARGINS);
}

/** Resize after the panel changed size: drawn again, so the tick labels fit the new width. */
export function resizePlot(node: HTMLElement): void {
  const plotNode = node as any;
  if (plotNode._fullLayout) {
    if (plotNode.__memtrackDraw) {
      void plotNode.__memtrackDraw();
    } else {
      void Plotly.Plots.resize(plotNode);
    }
  }
}

/** Free plotly's state for `node`. */
export function purgePlot(node: HTMLElement): void {
  Plotly.purge(node as any);
}
