/**
 * Pure serializers of a notebook's history. The browser download lives in
 * commands.ts; these only turn records into text.
 */
import { CSV_COLUMNS, csvValue, IMemtrackRecord } from './record';
import { IKernelInfo } from './tokens';

export const REPORT_FORMAT = 'memtrack-report';
export const REPORT_VERSION = 1;

/** The JSON report: the same shape `%memtrack export` writes. */
export function toJsonReport(
  records: IMemtrackRecord[],
  kernel: IKernelInfo | null,
  created: Date = new Date()
): string {
  const report = {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    created: created.toISOString(),
    python: kernel?.python ?? null,
    platform: typeof navigator === 'undefined' ? null : navigator.platform || null,
    kernel: kernel ?? {},
    cells: records
  };
  return JSON.stringify(report, null, 2) + '\n';
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  let text = Array.isArray(value) ? String(value.length) : String(value);
  // Spreadsheets run cells starting with these as formulas.
  if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string') {
    text = `'${text}`;
  }
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per tracked execution, with a header row (RFC 4180, CRLF line ends). */
export function toCsv(records: IMemtrackRecord[]): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const record of records) {
    rows.push(CSV_COLUMNS.map(column => csvField(csvValue(record, column))).join(','));
  }
  return rows.join('\r\n') + '\r\n';
}

/** A file name for the notebook's export: "analysis.memtrack.json". */
export function exportFileName(notebookPath: string, extension: 'json' | 'csv' | 'html'): string {
  const base =
    notebookPath
      .split('/')
      .pop()
      ?.replace(/\.ipynb$/, '') || 'notebook';
  return `${base}.memtrack.${extension}`;
}
