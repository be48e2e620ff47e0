/**
 * The metric the sidebar shows (the `metric` setting): which one 'auto'
 * resolves to, and what each figure means in words, for the table's header
 * tooltips, the plot's titles and the "—" of a record that lacks the metric.
 * The figures themselves are computed in record.ts. Plain text only: callers
 * put it in the DOM with textContent or escape it for plotly.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, LOWER_BOUND, Units } from './format';
import { gpuEntriesWithFigures } from './gpuFigures';
import { IMemtrackRecord, isReleaseRecord, Metric, METRICS } from './record';

/** The setting's values: a metric, or 'auto' (see resolveMetric). */
export type MetricChoice = 'auto' | Metric;

export const METRIC_CHOICES: readonly MetricChoice[] = ['auto', ...METRICS];

/**
 * The cell magic, passed as an argument: in a translated string "%%" reads as
 * one "%" (gettext's escape).
 */
const CELL_MAGIC = '%%memtrack';

/**
 * The metric a choice stands for in this history: 'auto' is 'allocated' when
 * the latest record has it (the figure that sees memory the allocator reuses
 * or keeps, which RSS misses; a kernel whose reader grew too slow has it no
 * more), else 'rss' (every kernel reads it). default_metric in
 * python_ext/memtrack/record.py.
 */
export function resolveMetric(choice: MetricChoice, records: readonly IMemtrackRecord[]): Metric {
  if (choice !== 'auto') {
    return choice;
  }
  const latest = records.length > 0 ? records[records.length - 1] : undefined;
  return latest?.alloc_delta !== undefined && latest.alloc_delta !== null ? 'allocated' : 'rss';
}

/** The metric's short name ("RSS", "allocated", "traced"). */
export function metricName(metric: Metric, trans: TranslationBundle): string {
  switch (metric) {
    case 'rss':
      return trans.__('RSS');
    case 'allocated':
      return trans.__('allocated');
    case 'traced':
      return trans.__('traced');
    case 'gpu':
      return trans.__('GPU');
  }
}

/** The selector's option for a choice; 'auto' says what it resolved to. */
export function choiceLabel(
  choice: MetricChoice,
  resolved: Metric,
  trans: TranslationBundle
): string {
  switch (choice) {
    case 'auto':
      return trans.__('Auto (%1)', metricName(resolved, trans));
    case 'rss':
      return trans.__('RSS');
    case 'allocated':
      return trans.__('Allocated');
    case 'traced':
      return trans.__('Traced');
    case 'gpu':
      return trans.__('GPU');
  }
}

/** One sentence on what the metric measures (the selector's tooltip and the README's). */
export function metricMeaning(metric: Metric, trans: TranslationBundle): string {
  switch (metric) {
    case 'rss':
      return trans.__(
        "RSS: the kernel process's resident memory as the operating system counts it (tracemalloc's own memory excluded); what the memory limit is about, but it misses memory the allocator reuses or keeps."
      );
    case 'allocated':
      return trans.__(
        'Allocated: what the allocators hold for live blocks (malloc heap in use + mmapped chunks; pymalloc arenas not counted); sees memory the allocator reuses or keeps.'
      );
    case 'traced':
      return trans.__(
        'Traced: what tracemalloc saw the cell allocate, net of what it freed; only %1 (deep) cells are traced.',
        CELL_MAGIC
      );
    case 'gpu':
      return trans.__(
        "GPU: what the GPU libraries in use (torch, cupy, jax) hold for live allocations, by their allocators' own counters, summed over devices; only once one is initialised on a GPU. The dotted line is the devices' capacity."
      );
  }
}

/**
 * The plot's line and y axis: the metric's level after each cell. Traced
 * memory has no absolute level, so its line sums the deltas of the records
 * that have one, and says so.
 */
export function plotTitle(metric: Metric, trans: TranslationBundle): string {
  return metric === 'traced'
    ? trans.__('traced (sum over %1 cells)', CELL_MAGIC)
    : metricName(metric, trans);
}

/** The table's header tooltips: what the Delta and Peak columns are for this metric. */
export function columnHelp(
  metric: Metric,
  trans: TranslationBundle
): { delta: string; peak: string } {
  switch (metric) {
    case 'rss':
      return {
        delta: trans.__(
          "Delta: change of the kernel's RSS over the cell (tracemalloc's own memory excluded)"
        ),
        peak: trans.__("Peak: the highest RSS during the cell, above the cell's start")
      };
    case 'allocated':
      return {
        delta: trans.__(
          'Delta: change of the allocated memory (malloc heap in use + mmapped chunks; pymalloc arenas not counted) over the cell'
        ),
        peak: trans.__("Peak: the highest allocated memory during the cell, above the cell's start")
      };
    case 'traced':
      return {
        delta: trans.__(
          'Delta: change of the memory tracemalloc traced over the cell (%1 cells only)',
          CELL_MAGIC
        ),
        peak: trans.__(
          "Peak: the highest traced memory during the cell, above the cell's start (%1 cells only)",
          CELL_MAGIC
        )
      };
    case 'gpu':
      return {
        delta: trans.__(
          "Delta: change of the GPU memory allocated over the cell (the GPU libraries' allocator counters: torch, cupy, jax), summed over devices"
        ),
        peak: trans.__(
          "Peak: the highest GPU memory allocated during the cell, above the cell's start, summed over devices; %1 marks a lower bound (a device whose peak the kernel could only bound)",
          LOWER_BOUND
        )
      };
  }
}

/** The RSS column's header tooltip: the same figure whatever the metric. */
export function rssColumnHelp(trans: TranslationBundle): string {
  return trans.__(
    "RSS: the kernel's resident memory after the cell (tracemalloc's own memory excluded)"
  );
}

/**
 * Why a record shows "—" for the metric's delta or peak (the cell's
 * tooltip), from what the record says of itself.
 */
export function missingReason(
  record: IMemtrackRecord,
  metric: Metric,
  figure: 'delta' | 'peak',
  trans: TranslationBundle
): string {
  if (record.saved && (metric === 'allocated' || metric === 'gpu')) {
    return trans.__('Runs saved in the notebook keep their RSS and traced figures only');
  }
  switch (metric) {
    case 'rss':
      if (figure === 'peak' && isReleaseRecord(record)) {
        return trans.__('A release has no peak: only its RSS before and after are read');
      }
      return trans.__('The RSS was not read for this record');
    case 'allocated':
      switch (record.alloc_method) {
        case 'too-slow':
          return trans.__(
            'mallinfo2 took too long in this kernel; allocated memory is not read in this session'
          );
        case 'unavailable':
          return trans.__('No allocator counter on this platform: allocated memory is not read');
        case undefined:
          return trans.__(
            'No allocated figures in this record (written by a memtrack that did not read them)'
          );
        default:
          return figure === 'peak'
            ? trans.__(
                "The allocated peak is not measured: the allocator's counter is read at the cell's start and end only"
              )
            : trans.__('The allocated memory was not read for this record');
      }
    case 'traced':
      if (isReleaseRecord(record)) {
        return trans.__('A release is not traced: traced only for %1 cells', CELL_MAGIC);
      }
      return record.mode === 'light'
        ? trans.__('traced only for %1 cells', CELL_MAGIC)
        : trans.__('tracemalloc measured nothing for this cell');
    case 'gpu':
      return gpuMissingReason(record, figure, trans);
  }
}

/** Why a record has no GPU delta or peak: no GPU library in use, or what its entries say. */
function gpuMissingReason(
  record: IMemtrackRecord,
  figure: 'delta' | 'peak',
  trans: TranslationBundle
): string {
  const entries = record.gpu ?? [];
  if (entries.length === 0) {
    return trans.__(
      'No GPU library was in use during this cell (torch, cupy or jax initialised on a GPU)'
    );
  }
  if (gpuEntriesWithFigures(record).length === 0) {
    const errors = entries.flatMap(entry => (entry.error ? [entry.error] : []));
    return errors.length
      ? trans.__('The GPU memory could not be read: %1', errors.join('; '))
      : trans.__('The GPU memory was not read for this record');
  }
  return figure === 'peak'
    ? trans.__('No GPU library reported a peak for this cell: only its start and end were read')
    : trans.__('The GPU memory was not read for this record');
}

/** What a release record's tooltip says it freed (plain text). */
export function releaseSummary(
  record: IMemtrackRecord,
  units: Units,
  trans: TranslationBundle
): string {
  const release = record.release;
  if (!release) {
    return trans.__('Release from the leak list');
  }
  const expected = formatBytes(release.expected_bytes, units);
  if (release.freed_bytes === null) {
    return trans.__('Release: %1; expected to free %2', release.action, expected);
  }
  const measure =
    release.freed_measure === 'traced'
      ? trans.__('traced')
      : release.freed_measure === 'rss'
        ? trans.__('RSS')
        : null;
  return measure
    ? trans.__(
        'Release: %1; freed %2 (%3), expected %4',
        release.action,
        formatBytes(release.freed_bytes, units),
        measure,
        expected
      )
    : trans.__(
        'Release: %1; freed %2, expected %3',
        release.action,
        formatBytes(release.freed_bytes, units),
        expected
      );
}
