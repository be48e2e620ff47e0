/**
 * A record's GPU memory (record.gpu) as the sidebar reads it: the 'gpu'
 * metric's change, peak and level summed over the entries (one per GPU
 * library and device), whether that peak is only a lower bound, the devices'
 * capacity, and the plain-text lines of the plot's hover. No DOM and no
 * plotting library: record.ts (the metric's figures), series.ts (the plot)
 * and the table read them from here, so they agree. The sums mirror
 * record_delta and record_peak in python_ext/memtrack/record.py.
 */
import type { TranslationBundle } from '@jupyterlab/translation';

import { formatBytes, LOWER_BOUND, MISSING, Units } from './format';
import type { IPlotLimit } from './plot';
import type { IGpuEntry, IMemtrackRecord } from './record';

function bytes(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The entries that read both ends of the allocated bytes (an error-only entry has neither). */
export function gpuEntriesWithFigures(record: Pick<IMemtrackRecord, 'gpu'>): IGpuEntry[] {
  return (record.gpu ?? []).filter(
    entry => bytes(entry.allocated_before) !== null && bytes(entry.allocated_after) !== null
  );
}

/** Sum of allocated_after − allocated_before over the entries with figures; null: none has. */
export function gpuDelta(record: Pick<IMemtrackRecord, 'gpu'>): number | null {
  const entries = gpuEntriesWithFigures(record);
  if (entries.length === 0) {
    return null;
  }
  return entries.reduce((sum, e) => sum + e.allocated_after! - e.allocated_before!, 0);
}

/** The entries that count in the peak: figures at both ends and a peak. */
function peakEntries(record: Pick<IMemtrackRecord, 'gpu'>): IGpuEntry[] {
  return gpuEntriesWithFigures(record).filter(entry => bytes(entry.peak) !== null);
}

/**
 * Sum over the entries of each one's peak above its start (never below 0);
 * null where no entry with figures has a peak. A lower bound where
 * gpuPeakIsLowerBound says so.
 */
export function gpuPeak(record: Pick<IMemtrackRecord, 'gpu'>): number | null {
  const entries = peakEntries(record);
  if (entries.length === 0) {
    return null;
  }
  return entries.reduce((sum, e) => sum + Math.max(0, e.peak! - e.allocated_before!), 0);
}

/**
 * Whether gpuPeak is only a lower bound: some device's peak is 'bounded' (the
 * cell set no new high-water mark, so it lies between its ends' larger and the
 * mark) or 'ends' (no high-water mark at all), or some device read at both
 * ends has no peak and is left out of the sum.
 */
export function gpuPeakIsLowerBound(record: Pick<IMemtrackRecord, 'gpu'>): boolean {
  return gpuEntriesWithFigures(record).some(
    entry =>
      bytes(entry.peak) === null || entry.peak_scope === 'bounded' || entry.peak_scope === 'ends'
  );
}

/** The GPU bytes allocated at the cell's end (or start), summed over the entries; null: none. */
export function gpuLevel(
  record: Pick<IMemtrackRecord, 'gpu'>,
  at: 'before' | 'after' = 'after'
): number | null {
  const entries = gpuEntriesWithFigures(record);
  if (entries.length === 0) {
    return null;
  }
  return entries.reduce(
    (sum, e) => sum + (at === 'after' ? e.allocated_after! : e.allocated_before!),
    0
  );
}

/** The total memory of the devices a record's GPU libraries used. */
export interface IGpuCapacity {
  bytes: number;
  /** How many devices it sums. */
  devices: number;
  /** The device's name, when there is one device and a library named it. */
  name: string | null;
}

/**
 * The capacity of the devices in a record's entries, or null where some
 * device's is unknown (a line below the real capacity would mislead). Two
 * libraries on one device are one device: its capacity is the larger they
 * report (torch reports the device's total memory, jax its own pool's limit).
 */
export function gpuCapacity(record: Pick<IMemtrackRecord, 'gpu'>): IGpuCapacity | null {
  const perDevice = new Map<number, { bytes: number | null; name: string | null }>();
  for (const entry of record.gpu ?? []) {
    if (entry.device === null) {
      continue;
    }
    const known = perDevice.get(entry.device) ?? { bytes: null, name: null };
    const capacity = bytes(entry.capacity);
    if (capacity !== null && (known.bytes === null || capacity > known.bytes)) {
      known.bytes = capacity;
    }
    known.name = known.name ?? entry.name ?? null;
    perDevice.set(entry.device, known);
  }
  if (perDevice.size === 0) {
    return null;
  }
  let total = 0;
  for (const device of perDevice.values()) {
    if (device.bytes === null) {
      return null;
    }
    total += device.bytes;
  }
  const only = perDevice.size === 1 ? [...perDevice.values()][0] : null;
  return { bytes: total, devices: perDevice.size, name: only?.name ?? null };
}

/** The capacity of the latest record that tells it: the devices in use now. */
export function latestGpuCapacity(records: readonly IMemtrackRecord[]): IGpuCapacity | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const capacity = gpuCapacity(records[i]);
    if (capacity) {
      return capacity;
    }
  }
  return null;
}

/** "≥ 1.0 GB" where the peak is a lower bound, else "1.0 GB" ("—" for none). */
export function formatGpuPeak(record: Pick<IMemtrackRecord, 'gpu'>, units: Units): string {
  const text = formatBytes(gpuPeak(record), units);
  return text !== MISSING && gpuPeakIsLowerBound(record) ? `${LOWER_BOUND} ${text}` : text;
}

/** "torch:0 (NVIDIA H200)", or the library alone for an entry with no device. */
export function gpuEntryName(entry: IGpuEntry): string {
  const where = entry.device === null ? entry.library : `${entry.library}:${entry.device}`;
  return entry.name ? `${where} (${entry.name})` : where;
}

/** An entry's peak in words: exact, "≥ x" (a lower bound), "≥ x, ≤ y" (bounded by the mark). */
function entryPeak(entry: IGpuEntry, units: Units): string {
  const peak = formatBytes(entry.peak, units);
  if (peak === MISSING) {
    return peak;
  }
  switch (entry.peak_scope) {
    case 'bounded': {
      const bound = bytes(entry.peak_bound);
      return bound === null
        ? `${LOWER_BOUND} ${peak}`
        : `${LOWER_BOUND} ${peak}, ≤ ${formatBytes(bound, units)}`;
    }
    case 'ends':
      return `${LOWER_BOUND} ${peak}`;
    default:
      return peak;
  }
}

/**
 * One plain-text line per entry for the plot's hover (the caller escapes each
 * once): where, allocated before → after, peak, reserved, capacity; an entry
 * that could not be read says why.
 */
export function gpuHoverLines(record: Pick<IMemtrackRecord, 'gpu'>, units: Units): string[] {
  return (record.gpu ?? []).map(entry => {
    const name = gpuEntryName(entry);
    const read = bytes(entry.allocated_before) !== null || bytes(entry.allocated_after) !== null;
    if (!read) {
      return `${name}: ${entry.error ?? 'not read'}`;
    }
    const parts = [
      `allocated ${formatBytes(entry.allocated_before, units)} → ${formatBytes(entry.allocated_after, units)}`,
      `peak ${entryPeak(entry, units)}`,
      `reserved ${formatBytes(entry.reserved_after, units)}`,
      `capacity ${formatBytes(entry.capacity, units)}`
    ];
    if (entry.error) {
      parts.push(entry.error);
    }
    return `${name}: ${parts.join(', ')}`;
  });
}

/** The GPU bytes of the latest live sample that carries them; null: none does. */
export function latestGpuSample(samples: readonly { gpu?: number }[]): number | null {
  for (let i = samples.length - 1; i >= 0; i--) {
    const gpu = bytes(samples[i].gpu);
    if (gpu !== null) {
      return gpu;
    }
  }
  return null;
}

/**
 * The plot's capacity line on the GPU plot, drawn as the memory limit is on
 * the RSS plot: the capacity of the devices of the latest record that tells it.
 */
export function gpuCapacityLine(
  records: readonly IMemtrackRecord[],
  units: Units,
  trans: TranslationBundle
): IPlotLimit | null {
  const capacity = latestGpuCapacity(records);
  if (!capacity) {
    return null;
  }
  const size = formatBytes(capacity.bytes, units);
  const label =
    capacity.devices > 1
      ? trans.__('GPU capacity %1 (%2 devices)', size, capacity.devices)
      : capacity.name
        ? trans.__('GPU capacity %1 (%2)', size, capacity.name)
        : trans.__('GPU capacity %1', size);
  return { bytes: capacity.bytes, label };
}
