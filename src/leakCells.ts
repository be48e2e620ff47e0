/**
 * Which records the current leak suspects point at. Every record carries the
 * suspects current after it, so highlighting each record that carries one
 * would mark every row after the first suspect; instead each flagged suspect
 * names the cells that created or grew it (its `cells`: execution counts of
 * the current kernel process), and exactly those records are highlighted.
 * Pure: the table and the plot use it alike.
 */
import { IMemtrackRecord, isDeathRecord, isReleaseRecord, leakKey } from './record';

/** Whether a suspect is only watched so far (grew one time fewer than needed to be flagged). */
export function isWatching(leak: Record<string, unknown>): boolean {
  return leak.watching === true;
}

/** The suspects current after the latest record that are flagged (not only watched). */
export function flaggedLeaks(records: readonly IMemtrackRecord[]): Record<string, unknown>[] {
  const latest = records[records.length - 1];
  return latest ? latest.leaks.filter(leak => !isWatching(leak)) : [];
}

/**
 * The position where the latest kernel process's records begin: execution
 * counts (and seq) start again in each process, so a suspect's cells name
 * records of that process only. Runs read back from cell metadata are not
 * the kernel's.
 */
export function currentProcessStart(records: readonly IMemtrackRecord[]): number {
  let start = records.length - 1;
  while (start > 0) {
    const before = records[start - 1];
    if (before.saved || before.seq >= records[start].seq) {
      break;
    }
    start--;
  }
  return Math.max(0, start);
}

/** The cell a record stands for, when a suspect's `cells` can name it. */
function isCellRecord(record: IMemtrackRecord): boolean {
  return !record.saved && !isReleaseRecord(record) && !isDeathRecord(record);
}

/**
 * The records that created or grew a flagged suspect current now. A suspect
 * without `cells` (an older kernel) points at the record that first reported
 * it in this process.
 */
export function leakingRecords(records: readonly IMemtrackRecord[]): Set<IMemtrackRecord> {
  const leaking = new Set<IMemtrackRecord>();
  const flagged = flaggedLeaks(records);
  if (flagged.length === 0) {
    return leaking;
  }
  const start = currentProcessStart(records);
  const cells = new Set<number>();
  const withoutCells = new Set<string>();
  for (const leak of flagged) {
    const named = Array.isArray(leak.cells) ? leak.cells.filter(Number.isInteger) : [];
    if (named.length) {
      named.forEach(cell => cells.add(cell as number));
    } else {
      withoutCells.add(leakKey(leak));
    }
  }
  for (let i = start; i < records.length; i++) {
    const record = records[i];
    if (!isCellRecord(record)) {
      continue;
    }
    if (record.execution_count !== null && cells.has(record.execution_count)) {
      leaking.add(record);
    }
    for (const leak of record.leaks) {
      const key = leakKey(leak);
      if (withoutCells.delete(key)) {
        leaking.add(record);
      }
    }
  }
  return leaking;
}

/** Whether two sets hold the same records. */
export function sameRecords(
  a: ReadonlySet<IMemtrackRecord>,
  b: ReadonlySet<IMemtrackRecord>
): boolean {
  return a.size === b.size && [...a].every(record => b.has(record));
}
