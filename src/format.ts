/** Pure formatting helpers shared by the sidebar and the plot. */

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Bytes as a short base-10 string: 1234567 -> "1.2 MB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '–';
  }
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${sign}${value.toFixed(digits)} ${DECIMAL_UNITS[unit]}`;
}

/** A signed delta: "+50.0 MB", "-3.2 kB", "0 B". */
export function formatDelta(bytes: number | null | undefined): string {
  const text = formatBytes(bytes);
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

/** The x-axis name of a record: "[12] label" or "[12]". */
export function recordTitle(record: {
  execution_count: number | null;
  label: string | null;
}): string {
  const count = record.execution_count === null ? '[ ]' : `[${record.execution_count}]`;
  return record.label ? `${count} ${record.label}` : count;
}

/**
 * Escape text that plotly would otherwise read as its pseudo-HTML (hover and
 * tick labels), so a label like "<b>" stays literal.
 */
export function escapePlotlyText(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
