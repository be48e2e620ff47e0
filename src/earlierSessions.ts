/**
 * How a history message's `earlier` list (the records of earlier processes of
 * the same kernel, read back from its spool) joins what the model already
 * shows. Pure: MemtrackModel calls it on the part of a notebook's history that
 * lies between the saved runs and the current process's records.
 */
import { IEarlierSession } from './protocol';
import { IMemtrackRecord, startedAtMs } from './record';
import { HistoryEntry } from './tokens';

type RecordEntry = Extract<HistoryEntry, { kind: 'record' }>;
type SeparatorEntry = Extract<HistoryEntry, { kind: 'restart' }>;

/**
 * Identity of one kernel record across restarts and page reloads. seq is
 * unique within one kernel process but starts again at 1 in the next, so it
 * is paired with started_at, which tells processes apart (no two cells start
 * at the same microsecond), and execution_count, which tells cells apart
 * should a kernel report one start time twice. A record the page already
 * received live (before the restart) and the same record read back from the
 * spool have all three equal, so it is shown once.
 */
export function recordIdentity(record: IMemtrackRecord): string {
  return `${record.started_at}|${record.execution_count}|${record.seq}`;
}

/** One process's records and the separator that closes them. */
interface ISegment {
  records: RecordEntry[];
  separator: SeparatorEntry;
}

/** When a session ended, for its separator: the end of its last cell. */
function endOf(records: readonly IMemtrackRecord[]): string {
  const last = records[records.length - 1];
  const ms = startedAtMs(last) + Math.round(last.duration_s * 1000);
  return new Date(ms).toISOString();
}

function firstStartMs(segment: ISegment): number {
  return segment.records.length ? startedAtMs(segment.records[0].record) : 0;
}

/** Split the entries of closed processes into segments, each ending with its separator. */
function segmentsOf(region: readonly HistoryEntry[]): ISegment[] {
  const segments: ISegment[] = [];
  let records: RecordEntry[] = [];
  for (const entry of region) {
    if (entry.kind === 'record') {
      records.push(entry);
    } else {
      segments.push({ records, separator: entry });
      records = [];
    }
  }
  if (records.length) {
    // Records of a closed process always end with a separator; make one if missing.
    segments.push({
      records,
      separator: { kind: 'restart', at: endOf(records.map(e => e.record)) }
    });
  }
  return segments;
}

/**
 * The entries of the closed processes (`region`: between the saved runs and
 * the current process) joined with the kernel's `earlier` sessions:
 *
 * - a session with a record the region already shows (same recordIdentity) is
 *   that segment: its missing records are added in seq order, and its
 *   separator becomes a death if the session ended by dying;
 * - any other session with records becomes a new segment, closed by a restart
 *   or death separator;
 * - segments are kept in the order their first cells ran (stable, so the
 *   page's own order stands where times tie).
 */
export function mergeEarlierSessions(
  region: readonly HistoryEntry[],
  earlier: readonly IEarlierSession[]
): HistoryEntry[] {
  const segments = segmentsOf(region);
  const owner = new Map<string, ISegment>();
  for (const segment of segments) {
    for (const entry of segment.records) {
      owner.set(recordIdentity(entry.record), segment);
    }
  }
  for (const session of earlier) {
    if (session.records.length === 0) {
      continue;
    }
    const died = session.ended === 'died';
    let segment = session.records
      .map(record => owner.get(recordIdentity(record)))
      .find(found => found !== undefined);
    if (!segment) {
      segment = { records: [], separator: { kind: 'restart', at: endOf(session.records) } };
      segments.push(segment);
    }
    for (const record of session.records) {
      const id = recordIdentity(record);
      if (!owner.has(id)) {
        segment.records.push({ kind: 'record', record });
        owner.set(id, segment);
      }
    }
    segment.records.sort((a, b) => a.record.seq - b.record.seq);
    if (died && !segment.separator.died) {
      segment.separator = { ...segment.separator, died: true };
    }
  }
  const ordered = segments
    .map((segment, index) => ({ segment, index }))
    .sort((a, b) => firstStartMs(a.segment) - firstStartMs(b.segment) || a.index - b.index);
  return ordered.flatMap(({ segment }) => [...segment.records, segment.separator]);
}
