/**
 * The plot's x axis at any width: which points get a tick label, each label
 * cut to the room it has (the point's hover keeps the full title), and a
 * range that keeps one to three points from filling the plot. Pure: plot.ts
 * passes the plot's width.
 */

/** Average width of one character of the 11 px tick font, in px. */
const CHAR_PX = 6.5;
/** Room kept between two neighbouring labels, in characters. */
const GAP_CHARS = 0.5;
/** The shortest useful label: an execution count, "[12]". */
const MIN_CHARS = 4;
/** The x range spans at least this many points, so that a single bar stays a bar. */
const MIN_SPAN = 5;

/**
 * The characters of plotly-escaped text, an entity (`&amp;`) counting as one,
 * so a cut never splits one.
 */
function characters(escaped: string): string[] {
  return escaped.match(/&(?:amp|lt|gt|#\d+);|[\s\S]/gu) ?? [];
}

/**
 * `escaped` cut to at most `max` characters, an ellipsis marking the cut; a
 * cut that would leave under 3 characters of the label after its "[12]" is
 * the execution count alone.
 */
export function shortenLabel(escaped: string, max: number): string {
  const chars = characters(escaped);
  if (chars.length <= max) {
    return escaped;
  }
  const count = /^\[[^\]]*\]/.exec(escaped)?.[0];
  if (count && max - 1 - count.length < 4) {
    return count;
  }
  return `${chars
    .slice(0, Math.max(1, max - 1))
    .join('')
    .trimEnd()}…`;
}

export interface ITickLabels {
  tickvals: number[];
  ticktext: string[];
}

/**
 * Tick labels for points at `x` (labels escaped for plotly) on a plot area
 * `widthPx` wide: every point while each label gets MIN_CHARS, else every
 * k-th point (the last always); each label cut to the room it has.
 */
export function fitTickLabels(x: number[], labels: string[], widthPx: number): ITickLabels {
  const n = x.length;
  if (n === 0) {
    return { tickvals: [], ticktext: [] };
  }
  const span = Math.max(MIN_SPAN, x[n - 1] - x[0] + 1);
  // Room per unit of x, in characters: labels sit at their points, so spacing is by x.
  const charsPerUnit = Math.max(1, widthPx) / span / CHAR_PX;
  const minGap = n > 1 ? Math.min(...x.slice(1).map((v, i) => v - x[i])) : span;
  let step = 1;
  while (step < n && charsPerUnit * minGap * step < MIN_CHARS) {
    step++;
  }
  const room = Math.max(
    MIN_CHARS,
    Math.floor(charsPerUnit * (n > 1 ? minGap * step : span)) - GAP_CHARS
  );
  const chosen: number[] = [];
  for (let i = n - 1; i >= 0; i -= step) {
    chosen.unshift(i);
  }
  return {
    tickvals: chosen.map(i => x[i]),
    ticktext: chosen.map(i => shortenLabel(labels[i], room))
  };
}

/** The x range: the points and half a step each side, at least MIN_SPAN wide (centred). */
export function xRange(x: number[]): [number, number] {
  if (x.length === 0) {
    return [0, MIN_SPAN];
  }
  let low = x[0] - 0.5;
  let high = x[x.length - 1] + 0.5;
  if (high - low < MIN_SPAN) {
    const middle = (low + high) / 2;
    low = middle - MIN_SPAN / 2;
    high = middle + MIN_SPAN / 2;
  }
  return [low, high];
}
