import Ajv from 'ajv';
import addFormats from 'ajv-formats';

import {
  PROTOCOL_VERSION,
  ProtocolError,
  helloMessage,
  parseKernelMessage,
  requestHistoryMessage
} from '../protocol';
import { SCHEMA_PATH, fixtures, readJson } from './fixtures';

const KERNEL_TYPES = new Set(['history', 'record', 'reset', 'error']);

describe('wire schema and fixtures', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(readJson(SCHEMA_PATH));

  it.each(fixtures('valid'))('%s is valid against the schema', (_name, message) => {
    expect(validate(message)).toBe(true);
  });

  it.each(fixtures('invalid'))('%s is rejected by the schema', (_name, message) => {
    expect(validate(message)).toBe(false);
  });

  it('accepts the messages this frontend sends', () => {
    expect(validate(helloMessage('0.1.0'))).toBe(true);
    expect(validate(requestHistoryMessage())).toBe(true);
  });

  it('has fixtures for every message type', () => {
    const types = new Set(fixtures('valid').map(([, message]) => message.type));
    expect([...types].sort()).toEqual(
      ['error', 'hello', 'history', 'record', 'request_history', 'reset'].sort()
    );
  });
});

describe('parseKernelMessage', () => {
  it.each(fixtures('valid').filter(([, m]) => KERNEL_TYPES.has(m.type)))(
    'parses %s',
    (_name, message) => {
      const parsed = parseKernelMessage(message);
      expect(parsed.type).toBe(message.type);
      expect(parsed.v).toBe(PROTOCOL_VERSION);
    }
  );

  it.each(fixtures('invalid'))('rejects %s with a ProtocolError', (_name, message) => {
    expect(() => parseKernelMessage(message)).toThrow(ProtocolError);
  });

  it('says to upgrade when the kernel speaks a newer version', () => {
    expect(() => parseKernelMessage({ v: 2, type: 'record', record: {} })).toThrow(
      /newer than this extension understands.*upgrade/
    );
  });

  it('names the bad field of a record', () => {
    const message = readJson(SCHEMA_PATH.replace(/wire.*$/, 'fixtures/valid/record.json'));
    message.record.rss_peak = 'lots';
    expect(() => parseKernelMessage(message)).toThrow(/'rss_peak'/);
  });

  it('rejects non-objects', () => {
    expect(() => parseKernelMessage(null)).toThrow(/not a JSON object/);
    expect(() => parseKernelMessage([1])).toThrow(/not a JSON object/);
  });

  it('keeps the records of a history message in order', () => {
    const message = fixtures('valid').find(([name]) => name === 'history.json')![1];
    const parsed = parseKernelMessage(message);
    expect(parsed.type).toBe('history');
    if (parsed.type === 'history') {
      expect(parsed.records.map(r => r.seq)).toEqual([1, 2]);
      expect(parsed.kernel?.pid).toBe(4242);
    }
  });
});
