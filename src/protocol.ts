/**
 * The kernel <-> frontend wire format. Mirrors python_ext/memtrack/protocol.py;
 * both follow schema/wire/message.schema.json and are tested against
 * schema/fixtures.
 */
import { JSONObject } from '@lumino/coreutils';

import { IMemtrackRecord, RECORD_KEYS, RecordKey } from './record';
import { IKernelInfo } from './tokens';

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

export type KernelMessage =
  | { v: 1; type: 'history'; records: IMemtrackRecord[]; kernel?: IKernelInfo }
  | { v: 1; type: 'record'; record: IMemtrackRecord }
  | { v: 1; type: 'records'; records: IMemtrackRecord[] }
  | { v: 1; type: 'reset' }
  | { v: 1; type: 'error'; message: string; request_id?: string }
  | ({ v: 1; type: 'why_result' } & IWhyResult)
  | ({ v: 1; type: 'release_result' } & IReleaseResult)
  | ({ v: 1; type: 'export_result' } & IExportResult);

const WHY_STATUSES: readonly WhyStatus[] = ['found', 'timeout', 'not-found', 'gone'];

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
  mode: [value => value === 'light' || value === 'deep', "'light' or 'deep'"],
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

/**
 * Check one record; throws ProtocolError naming the first bad field (in the
 * schema's order). Only the required keys are checked: optional fields and
 * the items of lists are taken as sent.
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
      const kernel = isObject(data.kernel) ? (data.kernel as IKernelInfo) : undefined;
      return { v: 1, type: 'history', records, kernel };
    }
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

/** Leak detection settings for the kernel. */
export function configureMessage(leakThreshold: number): JSONObject {
  return { v: PROTOCOL_VERSION, type: 'configure', leak_threshold: leakThreshold };
}
