/**
 * The user's settings (schema/settings/plugin.json) as typed values with a
 * changed signal; parsing is pure so that bad values fall back to defaults.
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { METRIC_CHOICES, MetricChoice } from './metric';
import { PLUGIN_ID } from './tokens';

export type AutoTrack = 'off' | 'light' | 'deep';
export type ByteUnits = 'decimal' | 'binary';

export interface IMemtrackSettings {
  /** Load the kernel extension when a Python kernel starts. */
  autoLoad: boolean;
  /** Track every cell from kernel start, and how. */
  autoTrack: AutoTrack;
  /** The metric of the table, the plot and the badges ('auto': see resolveMetric in metric.ts). */
  metric: MetricChoice;
  /** Show a memory badge on each tracked cell. */
  badges: boolean;
  /** How many top lines and types a record shows. */
  topN: number;
  /** Bytes below which nothing is reported as a leak. */
  leakThreshold: number;
  /** Most points drawn; longer histories are decimated. */
  maxPoints: number;
  /** kB/MB/GB (base 10) or KiB/MiB/GiB (base 2). */
  byteUnits: ByteUnits;
  /** Save a summary of each cell's last runs in its metadata. */
  cellMetadata: boolean;
  /** Warn (once per cell) when the headroom under the memory limit falls below this percent of it; 0: off. */
  headroomWarning: number;
  /** Have the kernel interrupt a cell whose RSS passes this percent of the memory limit; 0: off. */
  memoryGuard: number;
}

export const DEFAULT_SETTINGS: Readonly<IMemtrackSettings> = {
  autoLoad: true,
  autoTrack: 'off',
  metric: 'auto',
  badges: true,
  topN: 5,
  leakThreshold: 1_000_000,
  maxPoints: 500,
  byteUnits: 'decimal',
  cellMetadata: false,
  headroomWarning: 20,
  memoryGuard: 0
};

function oneOf<T extends string>(value: unknown, options: readonly T[], fallback: T): T {
  return options.includes(value as T) ? (value as T) : fallback;
}

function percent(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 100
    ? value
    : fallback;
}

/** The memoryGuard setting as the configure message's share of the limit (null: off). */
export function guardShare(settings: Pick<IMemtrackSettings, 'memoryGuard'>): number | null {
  return settings.memoryGuard > 0 ? settings.memoryGuard / 100 : null;
}

function intAtLeast(value: unknown, min: number, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min ? value : fallback;
}

/** Read settings from the registry's composite JSON; anything invalid takes its default. */
export function parseSettings(composite: Record<string, unknown>): IMemtrackSettings {
  const d = DEFAULT_SETTINGS;
  return {
    autoLoad: typeof composite.autoLoad === 'boolean' ? composite.autoLoad : d.autoLoad,
    autoTrack: oneOf(composite.autoTrack, ['off', 'light', 'deep'] as const, d.autoTrack),
    metric: oneOf(composite.metric, METRIC_CHOICES, d.metric),
    badges: typeof composite.badges === 'boolean' ? composite.badges : d.badges,
    topN: intAtLeast(composite.topN, 1, d.topN),
    leakThreshold: intAtLeast(composite.leakThreshold, 0, d.leakThreshold),
    maxPoints: intAtLeast(composite.maxPoints, 10, d.maxPoints),
    byteUnits: oneOf(composite.byteUnits, ['decimal', 'binary'] as const, d.byteUnits),
    cellMetadata:
      typeof composite.cellMetadata === 'boolean' ? composite.cellMetadata : d.cellMetadata,
    headroomWarning: percent(composite.headroomWarning, d.headroomWarning),
    memoryGuard: percent(composite.memoryGuard, d.memoryGuard)
  };
}

/** Current settings, shared by the bridge, sidebar and badges. */
export class SettingsState {
  get value(): Readonly<IMemtrackSettings> {
    return this._value;
  }

  get changed(): ISignal<SettingsState, Readonly<IMemtrackSettings>> {
    return this._changed;
  }

  update(next: Partial<IMemtrackSettings>): void {
    const merged = { ...this._value, ...next };
    if (JSON.stringify(merged) === JSON.stringify(this._value)) {
      return;
    }
    this._value = merged;
    this._changed.emit(merged);
  }

  private _value: IMemtrackSettings = { ...DEFAULT_SETTINGS };
  private _changed = new Signal<SettingsState, Readonly<IMemtrackSettings>>(this);
}

/**
 * Keep `state` in step with the user's settings (the main plugin's, schema/settings/plugin.json):
 * set once loaded, then on every change, whichever plugin or editor made it.
 */
export async function followSettingRegistry(
  registry: ISettingRegistry,
  state: SettingsState
): Promise<void> {
  const loaded = await registry.load(PLUGIN_ID);
  const update = () => state.update(parseSettings(loaded.composite as Record<string, unknown>));
  update();
  loaded.changed.connect(update);
}
