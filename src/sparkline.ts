/**
 * A small inline SVG line of a value's sizes over the last cells (the
 * variables section). Built with createElementNS and textContent only.
 */
const SVG_NS = 'http://www.w3.org/2000/svg';

export interface ISparklineOptions {
  width?: number;
  height?: number;
  /** What the line shows, in words (its accessible name and tooltip). */
  label: string;
}

/**
 * The path of `values` drawn into width x height (oldest left); unknown values
 * (null) break the line. Empty when fewer than one value is known.
 */
export function sparklinePath(
  values: readonly (number | null)[],
  width: number,
  height: number
): string {
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (known.length === 0) {
    return '';
  }
  const min = Math.min(...known);
  const max = Math.max(...known);
  const pad = 1.5;
  const x = (i: number) =>
    values.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (values.length - 1);
  // A flat history sits in the middle; otherwise the largest size touches the top.
  const y = (v: number) =>
    max === min ? height / 2 : height - pad - ((v - min) * (height - 2 * pad)) / (max - min);
  const parts: string[] = [];
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null || !Number.isFinite(value)) {
      drawing = false;
      return;
    }
    parts.push(`${drawing ? 'L' : 'M'}${x(i).toFixed(1)} ${y(value).toFixed(1)}`);
    drawing = true;
  });
  return parts.join(' ');
}

/** The sparkline of `values`, or null when none of them is known. */
export function sparkline(
  values: readonly (number | null)[],
  options: ISparklineOptions
): SVGSVGElement | null {
  const width = options.width ?? 44;
  const height = options.height ?? 14;
  const d = sparklinePath(values, width, height);
  if (!d) {
    return null;
  }
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'jp-Memtrack-sparkline');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', options.label);
  const title = document.createElementNS(SVG_NS, 'title');
  title.textContent = options.label;
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', 'none');
  svg.append(title, path);
  // The latest size, marked (a single known size is only this dot).
  const segments = d.split(/[ML]/).filter(Boolean);
  const last = segments[segments.length - 1].trim().split(' ');
  const dot = document.createElementNS(SVG_NS, 'circle');
  dot.setAttribute('cx', last[0]);
  dot.setAttribute('cy', last[1]);
  dot.setAttribute('r', '1.5');
  svg.append(dot);
  return svg;
}
