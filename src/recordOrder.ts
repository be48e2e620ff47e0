/**
 * The order of the table's records (history order or a column's, in the metric
 * shown) and which run of its cell each record is. Pure: no DOM.
 */
import { SortKey } from './cellTableRows';
import { IMemtrackRecord, Metric, recordDelta, recordPeak } from './record';

/** Sort value of a record for a key, in the metric shown; records without a value sort last. */
export function sortValue(record: IMemtrackRecord, key: SortKey, metric: Metric): number | null {
  switch (key) {
    case 'order':
      return record.seq;
    case 'delta':
      return recordDelta(record, metric);
    case 'peak':
      return recordPeak(record, metric);
    case 'duration':
      return record.duration_s;
  }
}

/** Records in table order (stable; ties and unknown values keep history order). */
export function sortRecords(
  records: IMemtrackRecord[],
  key: SortKey,
  descending: boolean,
  metric: Metric
): IMemtrackRecord[] {
  if (key === 'order') {
    // History order is the records' position, not their seq: seq starts again at 1
    // in each kernel process, so earlier processes' rows would interleave.
    return descending ? [...records].reverse() : [...records];
  }
  const indexed = records.map((record, index) => ({ record, index }));
  indexed.sort((a, b) => {
    const va = sortValue(a.record, key, metric);
    const vb = sortValue(b.record, key, metric);
    if (va === null || vb === null) {
      return va === vb ? a.index - b.index : va === null ? 1 : -1;
    }
    const order = descending ? vb - va : va - vb;
    return order || a.index - b.index;
  });
  return indexed.map(item => item.record);
}

/** Which run of its cell each record is (1-based), by cell id; null for a cell's only run. */
export function runNumbers(records: IMemtrackRecord[]): Map<IMemtrackRecord, number | null> {
  const counts = new Map<string, number>();
  for (const record of records) {
    if (record.cell_id) {
      counts.set(record.cell_id, (counts.get(record.cell_id) ?? 0) + 1);
    }
  }
  const seen = new Map<string, number>();
  const runs = new Map<IMemtrackRecord, number | null>();
  for (const record of records) {
    const id = record.cell_id;
    if (!id || (counts.get(id) ?? 0) < 2) {
      runs.set(record, null);
      continue;
    }
    const run = (seen.get(id) ?? 0) + 1;
    seen.set(id, run);
    runs.set(record, run);
  }
  return runs;
}

/**
 * Whether records added after the shown ones re-run a cell of `shownCells` or one
 * earlier in their own batch: the cell's run numbers then change.
 */
export function rerunsACell(added: IMemtrackRecord[], shownCells: ReadonlySet<string>): boolean {
  const batch = new Set<string>();
  for (const { cell_id: id } of added) {
    if (id && (shownCells.has(id) || batch.has(id))) {
      return true;
    }
    if (id) {
      batch.add(id);
    }
  }
  return false;
}
