/**
 * Where the kernel's processes meet in a notebook's history: the first
 * record after each separator (a restart, a death, the end of the runs saved
 * in the notebook). The table draws a marker above those rows in run order,
 * so that rows of successive processes read as such.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { IMemtrackRecord } from './record';
import { HistoryEntry } from './tokens';

/** What ended the process before a record: the separator right above its row. */
export type SessionEnd = 'restart' | 'died' | 'saved';

/** The records that start a process, and how the one before ended. */
export type SessionStarts = ReadonlyMap<IMemtrackRecord, SessionEnd>;

export function sessionStarts(entries: readonly HistoryEntry[]): SessionStarts {
  const starts = new Map<IMemtrackRecord, SessionEnd>();
  let pending: SessionEnd | null = null;
  let seenRecord = false;
  for (const entry of entries) {
    if (entry.kind === 'restart') {
      // A separator before any record separates nothing; of two in a row the later one counts.
      if (seenRecord) {
        pending = entry.saved ? 'saved' : entry.died ? 'died' : 'restart';
      }
      continue;
    }
    seenRecord = true;
    if (pending !== null) {
      starts.set(entry.record, pending);
      pending = null;
    }
  }
  return starts;
}

/** What the marker above a process's first row says (its tooltip and screen-reader text). */
export function sessionStartText(end: SessionEnd, trans: TranslationBundle): string {
  switch (end) {
    case 'restart':
      return trans.__('First cell after a kernel restart');
    case 'died':
      return trans.__('First cell after the kernel died');
    case 'saved':
      return trans.__('First cell of this session (the rows above were saved in the notebook)');
  }
}
