/**
 * The kernel <-> frontend wire format. Mirrors python_ext/memtrack/protocol.py;
 * both follow schema/wire/message.schema.json and are tested against
 * schema/fixtures.
 */
import { JSONObject } from '@lumino/coreutils';

import {
  ALLOC_METHODS,
  AllocMethod,
  CLUSTER_BYTE_KEYS,
  CLUSTER_STATUSES,
  ClusterStatus,
  GPU_BYTE_KEYS,
  GPU_LIBRARIES,
  ICluster,
  IGpuEntry,
  IKernelDeath,
  IMemoryLimit,
  IMemtrackRecord,
  IRelease,
  LIMIT_SOURCES,
  LimitSource,
  OPTIONAL_BYTE_KEYS,
  RECORD_KEYS,
  RECORD_MODES,
  RecordKey,
  RecordMode,
  TRACED_ENGINES,
  TracedEngine,
  WORKER_STATUSES,
  WorkerStatus
} from './record';
import { IKernelInfo, TrackingMode } from './tokens';

export const PROTOCOL_VERSION = 1;

/** How a why request ended (see the schema's why_result.status). */
export type WhyStatus = 'found' | 'timeout' | 'not-found' | 'gone';

/** The kernel's answer to "why is this value alive?". */
export interface IWhyResult {
  request_id: string;
  name: string;
  /** Referrer chain from a namespace root to the value; null when none was found. */
  chain: string[] | null;
  message: string;
  status: WhyStatus;
}

/** The kernel's answer to a release request (dry run or real). */
export interface IReleaseResult {
  request_id: string;
  target: string;
  dry_run: boolean;
  /** false: nothing was (or would be) released; message says why. */
  ok: boolean;
  expected_bytes: number | null;
  /** Measured drop of the kernel's memory; null for a dry run. */
  freed_bytes: number | null;
  /** What the release does, e.g. "delete Out[12], _12 and _". */
  action: string;
  message: string;
  /** After a real release: the leak suspects now, re-evaluated by the kernel. */
  suspects?: Record<string, unknown>[];
}

/** Report formats the kernel renders on request (JSON and CSV are built here). */
export type KernelExportFormat = 'html';

/** The kernel's answer to an export request: the whole report file as text. */
export interface IExportResult {
  request_id: string;
  format: KernelExportFormat;
  content: string;
}

/** One RSS sample of a running cell: t seconds since its start. */
export interface ILiveSample {
  t: number;
  rss: number;
  /** Bytes the GPU libraries in use hold for live allocations, over all their devices. */
  gpu?: number;
}

/** The running cell, about 5 times a second, and once more with state 'done' when it ends. */
export interface ILiveMessage {
  state: 'running' | 'done';
  execution_count: number | null;
  cell_id: string | null;
  started_at: string;
  elapsed_s: number;
  /** The samples since the previous live message, oldest first. */
  samples: ILiveSample[];
  rss: number | null;
  peak: number | null;
  rss_before?: number | null;
  limit?: IMemoryLimit;
  /** The guard interrupted the cell (state 'done'). */
  guard_tripped?: boolean;
}

/** Where a live variable's data is (the schema's liveVariable.where). */
export type VariableWhere = 'host' | 'device' | 'lazy';

export const VARIABLE_WHERE: readonly VariableWhere[] = ['host', 'device', 'lazy'];

/** The most sizes a live variable's history carries (the schema's maxItems). */
export const VARIABLE_HISTORY_MAX = 32;

/** The most variables a variables request may ask for (the schema's limit maximum). */
export const VARIABLES_LIMIT_MAX = 10_000;

/** A live variable of the user namespace and its deep size (definitions.liveVariable). */
export interface ILiveVariable {
  name: string;
  /** module.qualname of its type (builtins without module). */
  type: string;
  /** Deep size in bytes; null when unknown. */
  size: number | null;
  /** size is a lower bound (cut short by its budget, or data elsewhere: see where). */
  partial: boolean;
  where?: VariableWhere;
  /** Its sizes after the last cells, oldest first (null where unknown). */
  history?: (number | null)[];
  /** Size change over history (last minus first known). */
  change?: number | null;
  /** The execution count of the cell that last created or rebound it. */
  cell?: number | null;
  /** The sidebar's Release applies (a plain variable). */
  releasable?: boolean;
}

/** The kernel's answer to a variables request: the largest live variables, largest first. */
export interface IVariablesResult {
  request_id: string;
  variables: ILiveVariable[];
  /** Names in the user namespace that hold a value. */
  total: number;
  /** Values whose size is not finished yet (later passes finish them). */
  pending: number;
  /** The history's last record when the sizes were read (null before any). */
  seq?: number | null;
}

/** The records of an earlier process of the same kernel (before a restart or a death). */
export interface IEarlierSession {
  pid?: number | null;
  started_at?: string | null;
  ended: 'restart' | 'died';
  records: IMemtrackRecord[];
}

export type KernelMessage =
  | {
      v: 1;
      type: 'history';
      records: IMemtrackRecord[];
      kernel?: IKernelInfo;
      earlier?: IEarlierSession[];
      /** The kernel's tracking of every cell now: what an opened or reloaded sidebar shows. */
      tracking?: TrackingMode;
    }
  | { v: 1; type: 'tracking'; mode: TrackingMode }
  | ({ v: 1; type: 'live' } & ILiveMessage)
  | { v: 1; type: 'record'; record: IMemtrackRecord }
  | { v: 1; type: 'records'; records: IMemtrackRecord[] }
  | { v: 1; type: 'reset' }
  | { v: 1; type: 'error'; message: string; request_id?: string }
  | ({ v: 1; type: 'why_result' } & IWhyResult)
  | ({ v: 1; type: 'release_result' } & IReleaseResult)
  | ({ v: 1; type: 'export_result' } & IExportResult)
  | ({ v: 1; type: 'variables_result' } & IVariablesResult);

const WHY_STATUSES: readonly WhyStatus[] = ['found', 'timeout', 'not-found', 'gone'];

/** The tracking modes the kernel announces (definitions.trackingMode). */
export const TRACKING_MODES: readonly TrackingMode[] = ['off', 'light', 'deep'];

function isTrackingMode(value: unknown): value is TrackingMode {
  return TRACKING_MODES.includes(value as TrackingMode);
}

/** Raised for a message this frontend cannot accept; the text says why. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNullableInt(value: unknown): boolean {
  return value === null || Number.isInteger(value);
}

function isNullableString(value: unknown): boolean {
  return value === null || typeof value === 'string';
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(item => typeof item === 'string');
}

function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 100;
}

function parseWhyResult(data: Record<string, unknown>): IWhyResult {
  const fail = (what: string): never => {
    throw new ProtocolError(`why_result message needs ${what}`);
  };
  if (!isRequestId(data.request_id)) {
    fail("a 'request_id' string");
  }
  if (typeof data.name !== 'string' || typeof data.message !== 'string') {
    fail("'name' and 'message' strings");
  }
  if (!(data.chain === null || isStringArray(data.chain))) {
    fail("a 'chain' array of strings or null");
  }
  if (!WHY_STATUSES.includes(data.status as WhyStatus)) {
    fail(`a 'status' of ${WHY_STATUSES.join(', ')}`);
  }
  return {
    request_id: data.request_id as string,
    name: data.name as string,
    chain: data.chain as string[] | null,
    message: data.message as string,
    status: data.status as WhyStatus
  };
}

function parseReleaseResult(data: Record<string, unknown>): IReleaseResult {
  const fail = (what: string): never => {
    throw new ProtocolError(`release_result message needs ${what}`);
  };
  if (!isRequestId(data.request_id)) {
    fail("a 'request_id' string");
  }
  for (const key of ['target', 'action', 'message']) {
    if (typeof data[key] !== 'string') {
      fail(`a '${key}' string`);
    }
  }
  for (const key of ['dry_run', 'ok']) {
    if (typeof data[key] !== 'boolean') {
      fail(`a '${key}' boolean`);
    }
  }
  for (const key of ['expected_bytes', 'freed_bytes']) {
    if (!(key in data) || !isNullableInt(data[key])) {
      fail(`'${key}' as an integer or null`);
    }
  }
  let suspects: Record<string, unknown>[] | undefined;
  if ('suspects' in data) {
    if (!Array.isArray(data.suspects) || !data.suspects.every(isObject)) {
      fail("'suspects' as an array of objects");
    }
    suspects = data.suspects as Record<string, unknown>[];
  }
  return {
    request_id: data.request_id as string,
    target: data.target as string,
    dry_run: data.dry_run as boolean,
    ok: data.ok as boolean,
    expected_bytes: data.expected_bytes as number | null,
    freed_bytes: data.freed_bytes as number | null,
    action: data.action as string,
    message: data.message as string,
    ...(suspects ? { suspects } : {})
  };
}

function parseExportResult(data: Record<string, unknown>): IExportResult {
  if (!isRequestId(data.request_id)) {
    throw new ProtocolError("export_result message needs a 'request_id' string");
  }
  if (data.format !== 'html') {
    throw new ProtocolError("export_result message needs a 'format' of html");
  }
  if (typeof data.content !== 'string') {
    throw new ProtocolError("export_result message needs a 'content' string");
  }
  return { request_id: data.request_id, format: data.format, content: data.content };
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

/** Check one liveVariable; `index` names it in the error. */
function parseLiveVariable(value: unknown, index: number): ILiveVariable {
  const fail = (expected: string): never => {
    throw new ProtocolError(`variables_result's variables[${index}] needs ${expected}`);
  };
  if (!isObject(value)) {
    return fail('to be an object');
  }
  if (typeof value.name !== 'string' || typeof value.type !== 'string') {
    fail("'name' and 'type' strings");
  }
  if (!('size' in value) || !isNullableInt(value.size)) {
    fail("'size' as an integer or null");
  }
  if (typeof value.partial !== 'boolean') {
    fail("a 'partial' boolean");
  }
  const variable: ILiveVariable = {
    name: value.name as string,
    type: value.type as string,
    size: value.size as number | null,
    partial: value.partial as boolean
  };
  if ('where' in value) {
    if (!VARIABLE_WHERE.includes(value.where as VariableWhere)) {
      fail(`a 'where' of ${VARIABLE_WHERE.join(', ')}`);
    }
    variable.where = value.where as VariableWhere;
  }
  if ('history' in value) {
    const history = value.history;
    if (
      !Array.isArray(history) ||
      history.length > VARIABLE_HISTORY_MAX ||
      !history.every(isNullableInt)
    ) {
      fail(`'history' as at most ${VARIABLE_HISTORY_MAX} integers or nulls`);
    }
    variable.history = value.history as (number | null)[];
  }
  for (const key of ['change', 'cell'] as const) {
    if (key in value) {
      if (!isNullableInt(value[key])) {
        fail(`'${key}' as an integer or null`);
      }
      variable[key] = value[key] as number | null;
    }
  }
  if ('releasable' in value) {
    if (typeof value.releasable !== 'boolean') {
      fail("a 'releasable' boolean");
    }
    variable.releasable = value.releasable as boolean;
  }
  return variable;
}

function parseVariablesResult(data: Record<string, unknown>): IVariablesResult {
  const fail = (what: string): never => {
    throw new ProtocolError(`variables_result message needs ${what}`);
  };
  if (!isRequestId(data.request_id)) {
    fail("a 'request_id' string");
  }
  if (!Array.isArray(data.variables)) {
    fail("a 'variables' array");
  }
  for (const key of ['total', 'pending']) {
    if (!isCount(data[key])) {
      fail(`'${key}' as a non-negative integer`);
    }
  }
  const result: IVariablesResult = {
    request_id: data.request_id as string,
    variables: (data.variables as unknown[]).map(parseLiveVariable),
    total: data.total as number,
    pending: data.pending as number
  };
  if ('seq' in data) {
    if (!isNullableInt(data.seq)) {
      fail("'seq' as an integer or null");
    }
    result.seq = data.seq as number | null;
  }
  return result;
}

function isNumberAtLeastZero(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** A guard share: 0 < g <= 1, or null (off). */
function isGuardShare(value: unknown): boolean {
  return value === null || (typeof value === 'number' && value > 0 && value <= 1);
}

/** Check a memoryLimit object; `what` names where it was, for the error. */
function parseMemoryLimit(value: unknown, what: string): IMemoryLimit {
  const fail = (expected: string): never => {
    throw new ProtocolError(`${what} needs ${expected}`);
  };
  if (!isObject(value)) {
    return fail('to be an object');
  }
  if (!('bytes' in value) || !isNullableInt(value.bytes)) {
    fail("'bytes' as an integer or null");
  }
  if (!LIMIT_SOURCES.includes(value.source as LimitSource)) {
    fail(`a 'source' of ${LIMIT_SOURCES.join(', ')}`);
  }
  for (const key of ['usage', 'headroom', 'gpu_capacity']) {
    if (key in value && !isNullableInt(value[key])) {
      fail(`'${key}' as an integer or null`);
    }
  }
  return value as unknown as IMemoryLimit;
}

/** Check the died object of a KernelDied record. */
function parseDeath(value: unknown): IKernelDeath {
  const fail = (expected: string): never => {
    throw new ProtocolError(`record field 'died' needs ${expected}`);
  };
  if (!isObject(value)) {
    return fail('to be an object');
  }
  if (
    !('oom_killed' in value) ||
    !(value.oom_killed === null || typeof value.oom_killed === 'boolean')
  ) {
    fail("'oom_killed' as a boolean or null");
  }
  for (const key of ['last_rss', 'peak', 'memory_limit']) {
    if (!(key in value) || !isNullableInt(value[key])) {
      fail(`'${key}' as an integer or null`);
    }
  }
  if (!('last_sample_at' in value) || !isNullableString(value.last_sample_at)) {
    fail("'last_sample_at' as a string or null");
  }
  if ('limit_source' in value && !LIMIT_SOURCES.includes(value.limit_source as LimitSource)) {
    fail(`a 'limit_source' of ${LIMIT_SOURCES.join(', ')}`);
  }
  if ('pid' in value && !isNullableInt(value.pid)) {
    fail("'pid' as an integer or null");
  }
  return value as unknown as IKernelDeath;
}

function parseLive(data: Record<string, unknown>): ILiveMessage {
  const fail = (expected: string): never => {
    throw new ProtocolError(`live message needs ${expected}`);
  };
  if (data.state !== 'running' && data.state !== 'done') {
    fail("a 'state' of running, done");
  }
  if (!('execution_count' in data) || !isNullableInt(data.execution_count)) {
    fail("'execution_count' as an integer or null");
  }
  if (!('cell_id' in data) || !isNullableString(data.cell_id)) {
    fail("'cell_id' as a string or null");
  }
  if (typeof data.started_at !== 'string') {
    fail("a 'started_at' string");
  }
  if (!isNumberAtLeastZero(data.elapsed_s)) {
    fail("'elapsed_s' as a non-negative number");
  }
  const samples = data.samples;
  if (
    !Array.isArray(samples) ||
    !samples.every(
      sample =>
        isObject(sample) &&
        isNumberAtLeastZero(sample.t) &&
        Number.isInteger(sample.rss) &&
        (!('gpu' in sample) || Number.isInteger(sample.gpu))
    )
  ) {
    fail("a 'samples' array of {t: seconds, rss: integer bytes, gpu?: integer bytes}");
  }
  for (const key of ['rss', 'peak']) {
    if (!(key in data) || !isNullableInt(data[key])) {
      fail(`'${key}' as an integer or null`);
    }
  }
  if ('rss_before' in data && !isNullableInt(data.rss_before)) {
    fail("'rss_before' as an integer or null");
  }
  if ('guard_tripped' in data && typeof data.guard_tripped !== 'boolean') {
    fail("'guard_tripped' as a boolean");
  }
  const message: ILiveMessage = {
    state: data.state as ILiveMessage['state'],
    execution_count: data.execution_count as number | null,
    cell_id: data.cell_id as string | null,
    started_at: data.started_at as string,
    elapsed_s: data.elapsed_s as number,
    samples: samples as ILiveSample[],
    rss: data.rss as number | null,
    peak: data.peak as number | null
  };
  if ('rss_before' in data) {
    message.rss_before = data.rss_before as number | null;
  }
  if ('limit' in data) {
    message.limit = parseMemoryLimit(data.limit, "live message's 'limit'");
  }
  if ('guard_tripped' in data) {
    message.guard_tripped = data.guard_tripped as boolean;
  }
  return message;
}

/** The kernel's description of itself in a history message; optional keys checked when present. */
function parseKernelInfo(value: unknown): IKernelInfo | undefined {
  if (!isObject(value)) {
    return undefined;
  }
  if ('memory_limit' in value) {
    parseMemoryLimit(value.memory_limit, "history's 'kernel.memory_limit'");
  }
  if ('guard' in value && !isGuardShare(value.guard)) {
    throw new ProtocolError("history's 'kernel.guard' must be a share (0 < g <= 1) or null");
  }
  return value as IKernelInfo;
}

function parseEarlierSessions(value: unknown): IEarlierSession[] {
  if (!Array.isArray(value)) {
    throw new ProtocolError("history's 'earlier' must be an array");
  }
  return value.map(session => {
    if (!isObject(session)) {
      throw new ProtocolError("history's 'earlier' items must be objects");
    }
    if (session.ended !== 'restart' && session.ended !== 'died') {
      throw new ProtocolError("an earlier session needs an 'ended' of restart, died");
    }
    if (!Array.isArray(session.records)) {
      throw new ProtocolError("an earlier session needs a 'records' array");
    }
    if ('pid' in session && !isNullableInt(session.pid)) {
      throw new ProtocolError("an earlier session's 'pid' must be an integer or null");
    }
    if ('started_at' in session && !isNullableString(session.started_at)) {
      throw new ProtocolError("an earlier session's 'started_at' must be a string or null");
    }
    const parsed: IEarlierSession = {
      ended: session.ended,
      records: session.records.map(validateRecord)
    };
    if ('pid' in session) {
      parsed.pid = session.pid as number | null;
    }
    if ('started_at' in session) {
      parsed.started_at = session.started_at as string | null;
    }
    return parsed;
  });
}

/** A test of one record field, and what the field must be when it fails. */
type FieldCheck = readonly [test: (value: unknown) => boolean, expected: string];

const NULLABLE_TEXT: FieldCheck = [isNullableString, 'a string or null'];
const NULLABLE_BYTES: FieldCheck = [isNullableInt, 'an integer number of bytes or null'];
const LIST: FieldCheck = [Array.isArray, 'an array'];

/**
 * The check of each record key. Typed by RecordKey (record.ts, the schema's
 * required keys): a key added to the record does not compile until it has a check.
 */
const RECORD_CHECKS: { readonly [K in RecordKey]: FieldCheck } = {
  seq: [value => Number.isInteger(value) && (value as number) >= 1, 'a positive integer'],
  execution_count: [isNullableInt, 'an integer or null'],
  cell_id: NULLABLE_TEXT,
  label: NULLABLE_TEXT,
  mode: [value => RECORD_MODES.includes(value as RecordMode), `one of ${RECORD_MODES.join(', ')}`],
  started_at: [value => typeof value === 'string', 'an ISO 8601 string'],
  duration_s: [value => typeof value === 'number' && value >= 0, 'a non-negative number'],
  rss_before: NULLABLE_BYTES,
  rss_after: NULLABLE_BYTES,
  rss_peak: NULLABLE_BYTES,
  traced_delta: NULLABLE_BYTES,
  traced_peak: NULLABLE_BYTES,
  top_lines: LIST,
  types: LIST,
  variables: LIST,
  gc: [value => value === null || isObject(value), 'an object or null'],
  error: NULLABLE_TEXT,
  leaks: LIST
};

/** Check the release object of a 'release' record. */
function parseRelease(value: unknown): IRelease {
  const fail = (expected: string): never => {
    throw new ProtocolError(`record field 'release' needs ${expected}`);
  };
  if (!isObject(value)) {
    return fail('to be an object');
  }
  if (typeof value.action !== 'string') {
    fail("an 'action' string");
  }
  for (const key of ['expected_bytes', 'freed_bytes']) {
    if (!(key in value) || !isNullableInt(value[key])) {
      fail(`'${key}' as an integer or null`);
    }
  }
  if (
    'freed_measure' in value &&
    !(value.freed_measure === null || ['traced', 'rss'].includes(value.freed_measure as string))
  ) {
    fail("a 'freed_measure' of traced, rss or null");
  }
  return value as unknown as IRelease;
}

/** Check the cluster object of a record made while the kernel had a dask client. */
function parseCluster(value: unknown): ICluster {
  const fail = (expected: string): never => {
    throw new ProtocolError(`record field 'cluster' needs ${expected}`);
  };
  if (!isObject(value)) {
    return fail('to be an object');
  }
  if (typeof value.scheduler !== 'string') {
    fail("a 'scheduler' string");
  }
  if (!CLUSTER_STATUSES.includes(value.status as ClusterStatus)) {
    fail(`a 'status' of ${CLUSTER_STATUSES.join(', ')}`);
  }
  for (const key of [...CLUSTER_BYTE_KEYS, 'memory_limit']) {
    if (key in value && !isNullableInt(value[key])) {
      fail(`'${key}' as an integer or null`);
    }
  }
  const workers = value.workers ?? [];
  if (!Array.isArray(workers)) {
    return fail("'workers' as an array");
  }
  for (const worker of workers) {
    if (
      !isObject(worker) ||
      typeof worker.address !== 'string' ||
      !WORKER_STATUSES.includes(worker.status as WorkerStatus)
    ) {
      fail(`workers with an 'address' and a 'status' of ${WORKER_STATUSES.join(', ')}`);
    }
    for (const key of CLUSTER_BYTE_KEYS) {
      if (key in (worker as JSONObject) && !isNullableInt((worker as JSONObject)[key])) {
        fail(`workers' '${key}' as an integer or null`);
      }
    }
  }
  return value as unknown as ICluster;
}

/** Check the gpu entries of a record made while a GPU library was in use. */
function parseGpu(value: unknown): IGpuEntry[] | null {
  const fail = (expected: string): never => {
    throw new ProtocolError(`record field 'gpu' needs ${expected}`);
  };
  if (value === null) {
    return null;
  }
  if (!Array.isArray(value)) {
    return fail('to be an array or null');
  }
  for (const entry of value) {
    if (!isObject(entry) || !GPU_LIBRARIES.includes(entry.library as IGpuEntry['library'])) {
      fail(`entries with a 'library' of ${GPU_LIBRARIES.join(', ')}`);
    }
    const fields = entry as JSONObject;
    if (!isNullableInt(fields.device)) {
      fail("entries with a 'device' integer or null");
    }
    for (const key of GPU_BYTE_KEYS) {
      if (key in fields && !isNullableInt(fields[key])) {
        fail(`entries' '${key}' as an integer or null`);
      }
    }
  }
  return value as IGpuEntry[];
}

/**
 * Check one record; throws ProtocolError naming the first bad field (in the
 * schema's order). The required keys are checked, and the optional ones the
 * figures are read from (bytes, alloc_method, died, release, cluster, gpu) when present;
 * other optional fields and the items of lists are taken as sent.
 */
export function validateRecord(value: unknown): IMemtrackRecord {
  if (!isObject(value)) {
    throw new ProtocolError('record is not an object');
  }
  for (const field of RECORD_KEYS) {
    const [test, expected] = RECORD_CHECKS[field];
    if (!(field in value) || !test(value[field])) {
      throw new ProtocolError(`record field '${field}' must be ${expected}`);
    }
  }
  for (const field of OPTIONAL_BYTE_KEYS) {
    if (field in value && !isNullableInt(value[field])) {
      throw new ProtocolError(`record field '${field}' must be ${NULLABLE_BYTES[1]}`);
    }
  }
  if ('alloc_method' in value && !ALLOC_METHODS.includes(value.alloc_method as AllocMethod)) {
    throw new ProtocolError(
      `record field 'alloc_method' must be one of ${ALLOC_METHODS.join(', ')}`
    );
  }
  if (
    'traced_engine' in value &&
    value.traced_engine !== null &&
    !TRACED_ENGINES.includes(value.traced_engine as TracedEngine)
  ) {
    throw new ProtocolError(
      `record field 'traced_engine' must be one of ${TRACED_ENGINES.join(', ')} or null`
    );
  }
  if ('died' in value) {
    parseDeath(value.died);
  }
  if ('release' in value) {
    parseRelease(value.release);
  }
  if ('cluster' in value) {
    parseCluster(value.cluster);
  }
  if ('gpu' in value) {
    parseGpu(value.gpu);
  }
  return value as unknown as IMemtrackRecord;
}

/**
 * Parse a message from the kernel. Unknown types, other versions and
 * malformed payloads raise ProtocolError with a readable reason.
 */
export function parseKernelMessage(data: unknown): KernelMessage {
  if (!isObject(data)) {
    throw new ProtocolError('message is not a JSON object');
  }
  if (data.v !== PROTOCOL_VERSION) {
    if (typeof data.v === 'number' && data.v > PROTOCOL_VERSION) {
      throw new ProtocolError(
        `message version ${data.v} is newer than this extension understands (${PROTOCOL_VERSION}); upgrade jupyterlab-memtrack`
      );
    }
    throw new ProtocolError(`unsupported message version ${String(data.v)}`);
  }
  switch (data.type) {
    case 'history': {
      if (!Array.isArray(data.records)) {
        throw new ProtocolError("history message needs a 'records' array");
      }
      const records = data.records.map(validateRecord);
      const kernel = parseKernelInfo(data.kernel);
      const history: KernelMessage = { v: 1, type: 'history', records, kernel };
      if ('earlier' in data) {
        history.earlier = parseEarlierSessions(data.earlier);
      }
      if ('tracking' in data) {
        if (!isTrackingMode(data.tracking)) {
          throw new ProtocolError("history message's 'tracking' must be off, light or deep");
        }
        history.tracking = data.tracking;
      }
      return history;
    }
    case 'tracking':
      if (!isTrackingMode(data.mode)) {
        throw new ProtocolError("tracking message needs a 'mode' of off, light or deep");
      }
      return { v: 1, type: 'tracking', mode: data.mode };
    case 'live':
      return { v: 1, type: 'live', ...parseLive(data) };
    case 'record':
      return { v: 1, type: 'record', record: validateRecord(data.record) };
    case 'records':
      if (!Array.isArray(data.records) || data.records.length === 0) {
        throw new ProtocolError("records message needs a non-empty 'records' array");
      }
      return { v: 1, type: 'records', records: data.records.map(validateRecord) };
    case 'reset':
      return { v: 1, type: 'reset' };
    case 'error':
      if (typeof data.message !== 'string') {
        throw new ProtocolError("error message needs a 'message' string");
      }
      if ('request_id' in data) {
        if (!isRequestId(data.request_id)) {
          throw new ProtocolError("error message's 'request_id' must be a string");
        }
        return { v: 1, type: 'error', message: data.message, request_id: data.request_id };
      }
      return { v: 1, type: 'error', message: data.message };
    case 'why_result':
      return { v: 1, type: 'why_result', ...parseWhyResult(data) };
    case 'release_result':
      return { v: 1, type: 'release_result', ...parseReleaseResult(data) };
    case 'export_result':
      return { v: 1, type: 'export_result', ...parseExportResult(data) };
    case 'variables_result':
      return { v: 1, type: 'variables_result', ...parseVariablesResult(data) };
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(data.type)}`);
  }
}

/** The comm's open data: announces a listening frontend. */
export function helloMessage(version: string): JSONObject {
  return { v: PROTOCOL_VERSION, type: 'hello', client: 'jupyterlab-memtrack', version };
}

/** Ask the kernel to send its whole history again. */
export function requestHistoryMessage(): JSONObject {
  return { v: PROTOCOL_VERSION, type: 'request_history' };
}

/** Ask why the value `name` names is alive (a variable, Out[N], sys.last_traceback...). */
export function whyMessage(requestId: string, name: string, budgetS?: number): JSONObject {
  const message: JSONObject = { v: PROTOCOL_VERSION, type: 'why', request_id: requestId, name };
  if (budgetS !== undefined) {
    message.budget_s = budgetS;
  }
  return message;
}

/** `%memtrack release TARGET` (dryRun: only what it would do and the bytes expected). */
export function releaseMessage(requestId: string, target: string, dryRun: boolean): JSONObject {
  return {
    v: PROTOCOL_VERSION,
    type: 'release',
    request_id: requestId,
    target,
    dry_run: dryRun
  };
}

/** Ask the kernel to render its history as a report (`%memtrack export`, without a file). */
export function exportMessage(requestId: string, format: KernelExportFormat): JSONObject {
  return { v: PROTOCOL_VERSION, type: 'export', request_id: requestId, format };
}

/**
 * Ask for the largest live variables and their deep sizes (at most `limit`,
 * 1 to VARIABLES_LIMIT_MAX; the kernel's default 200 when undefined).
 */
export function variablesMessage(requestId: string, limit?: number): JSONObject {
  const message: JSONObject = { v: PROTOCOL_VERSION, type: 'variables', request_id: requestId };
  if (limit !== undefined) {
    message.limit = limit;
  }
  return message;
}

/**
 * Leak detection and guard settings for the kernel. guard: the share of the
 * memory limit at which the kernel interrupts a running cell (null: off);
 * left out when undefined, for a kernel that predates the guard.
 */
export function configureMessage(leakThreshold: number, guard?: number | null): JSONObject {
  const message: JSONObject = {
    v: PROTOCOL_VERSION,
    type: 'configure',
    leak_threshold: leakThreshold
  };
  if (guard !== undefined) {
    message.guard = guard;
  }
  return message;
}
