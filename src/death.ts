/**
 * How a kernel death reads: one sentence for the table row, the plot's hover
 * and the notice in the sidebar's header, from the KernelDied record's `died`
 * object (what the dead process's flight record last said).
 */
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, recordTitle, Units } from './format';
import { IMemtrackRecord } from './record';

const DEFAULT_TRANS = nullTranslator.load('jupyterlab-memtrack');

/**
 * "kernel died during [12] load at 1.1 GB of 2.0 GB: out of memory" when the
 * cgroup's OOM-kill counter rose; "kernel killed during …" when it did not
 * (another signal); "kernel died during …" when there was no counter to read.
 */
export function deathSummary(
  record: IMemtrackRecord,
  units: Units,
  trans: TranslationBundle = DEFAULT_TRANS
): string {
  const died = record.died;
  const cell = recordTitle(record);
  const rss = died?.last_rss ?? died?.peak ?? record.rss_peak;
  const limit = died?.memory_limit ?? null;
  const at =
    rss === null || rss === undefined
      ? ''
      : limit === null
        ? trans.__(' at %1', formatBytes(rss, units))
        : trans.__(' at %1 of %2', formatBytes(rss, units), formatBytes(limit, units));
  if (died?.oom_killed === true) {
    return trans.__('kernel died during %1%2: out of memory', cell, at);
  }
  if (died?.oom_killed === false) {
    return trans.__('kernel killed during %1%2', cell, at);
  }
  return trans.__('kernel died during %1%2', cell, at);
}
