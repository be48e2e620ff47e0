/** Pure formatting helpers shared by the sidebar, the badges and the plot. */

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export type Units = 'decimal' | 'binary';

/** What a figure that was not measured shows (never another figure in its place). */
export const MISSING = '—';

/** Bytes as a short string: 1234567 -> "1.2 MB" (decimal) or "1.2 MiB" (binary); null "—". */
export function formatBytes(bytes: number | null | undefined, units: Units = 'decimal'): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return MISSING;
  }
  const base = units === 'binary' ? 1024 : 1000;
  const names = units === 'binary' ? BINARY_UNITS : DECIMAL_UNITS;
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= base && unit < names.length - 1) {
    value /= base;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${sign}${value.toFixed(digits)} ${names[unit]}`;
}

/** What marks a size that is a lower bound (the kernel's sizing was cut short, or data elsewhere). */
export const LOWER_BOUND = '≥';

/**
 * A variable's size: "38.6 MB", or "≥ 38.6 MB" when partial (a lower bound);
 * unknown sizes "—" either way.
 */
export function formatSize(
  bytes: number | null | undefined,
  partial: boolean | undefined,
  units: Units = 'decimal'
): string {
  const text = formatBytes(bytes, units);
  return partial && text !== MISSING ? `${LOWER_BOUND} ${text}` : text;
}

/** A signed delta: "+50.0 MB", "-3.2 kB", "0 B". */
export function formatDelta(bytes: number | null | undefined, units: Units = 'decimal'): string {
  const text = formatBytes(bytes, units);
  return typeof bytes === 'number' && bytes > 0 ? `+${text}` : text;
}

/** Seconds as "12 ms", "1.25 s", "2 min 5 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(2)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/**
 * The x-axis name of a record: "[12] label" or "[12]"; a release (no cell, no
 * execution count) by its label alone, "release: delete Out[12], _12 and _".
 */
export function recordTitle(record: {
  execution_count: number | null;
  label: string | null;
  mode?: string;
}): string {
  if (record.mode === 'release') {
    return record.label ?? 'release';
  }
  const count = record.execution_count === null ? '[ ]' : `[${record.execution_count}]`;
  return record.label ? `${count} ${record.label}` : count;
}

/**
 * Escape text that plotly would otherwise read as its pseudo-HTML (hover and
 * tick labels), so a label like "<b>" stays literal. Only `&`, `<` and `>`:
 * plotly decodes those entities (and numeric ones) but not `&quot;`, which it
 * would show as is; quotes mean nothing to it outside a tag.
 */
export function escapePlotlyText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Size class of a delta, for colouring badges and rows. */
export function sizeClass(bytes: number | null): 'none' | 'small' | 'medium' | 'large' | 'release' {
  if (bytes === null || bytes === 0) {
    return 'none';
  }
  if (bytes < 0) {
    return 'release';
  }
  if (bytes < 10_000_000) {
    return 'small';
  }
  return bytes < 100_000_000 ? 'medium' : 'large';
}
