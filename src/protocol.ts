/**
 * The kernel <-> frontend wire format. Mirrors python_ext/memtrack/protocol.py;
 * both follow schema/wire/message.schema.json and are tested against
 * schema/fixtures.
 */
import { JSONObject } from '@lumino/coreutils';

import { IKernelInfo, IMemtrackRecord } from './tokens';

export const PROTOCOL_VERSION = 1;

export type KernelMessage =
  | { v: 1; type: 'history'; records: IMemtrackRecord[]; kernel?: IKernelInfo }
  | { v: 1; type: 'record'; record: IMemtrackRecord }
  | { v: 1; type: 'reset' }
  | { v: 1; type: 'error'; message: string };

/** Raised for a message this frontend cannot accept; the text says why. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const NULLABLE_BYTES = [
  'rss_before',
  'rss_after',
  'rss_peak',
  'traced_delta',
  'traced_peak'
] as const;

const ARRAYS = ['top_lines', 'types', 'variables', 'leaks'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNullableInt(value: unknown): boolean {
  return value === null || Number.isInteger(value);
}

function isNullableString(value: unknown): boolean {
  return value === null || typeof value === 'string';
}

/** Check one record; throws ProtocolError naming the first bad field. */
export function validateRecord(value: unknown): IMemtrackRecord {
  if (!isObject(value)) {
    throw new ProtocolError('record is not an object');
  }
  const fail = (field: string, expected: string): never => {
    throw new ProtocolError(`record field '${field}' must be ${expected}`);
  };
  if (!Number.isInteger(value.seq) || (value.seq as number) < 1) {
    fail('seq', 'a positive integer');
  }
  if (!isNullableInt(value.execution_count)) {
    fail('execution_count', 'an integer or null');
  }
  for (const field of ['cell_id', 'label', 'error']) {
    if (!(field in value) || !isNullableString(value[field])) {
      fail(field, 'a string or null');
    }
  }
  if (value.mode !== 'light' && value.mode !== 'deep') {
    fail('mode', "'light' or 'deep'");
  }
  if (typeof value.started_at !== 'string') {
    fail('started_at', 'an ISO 8601 string');
  }
  if (typeof value.duration_s !== 'number' || value.duration_s < 0) {
    fail('duration_s', 'a non-negative number');
  }
  for (const field of NULLABLE_BYTES) {
    if (!(field in value) || !isNullableInt(value[field])) {
      fail(field, 'an integer number of bytes or null');
    }
  }
  for (const field of ARRAYS) {
    if (!Array.isArray(value[field])) {
      fail(field, 'an array');
    }
  }
  if (!('gc' in value) || !(value.gc === null || isObject(value.gc))) {
    fail('gc', 'an object or null');
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
    case 'reset':
      return { v: 1, type: 'reset' };
    case 'error':
      if (typeof data.message !== 'string') {
        throw new ProtocolError("error message needs a 'message' string");
      }
      return { v: 1, type: 'error', message: data.message };
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
