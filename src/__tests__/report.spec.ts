/**
 * The JSON report schema (schema/report), shared with pytest: the sidebar's
 * export and the report fixtures validate against it. Its records are the
 * wire schema's, resolved through $ref.
 */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import * as fs from 'fs';
import * as path from 'path';

import { REPORT_FORMAT, REPORT_VERSION, toJsonReport } from '../export';
import { SCHEMA_PATH, readJson, sampleRecord } from './fixtures';

const SCHEMA_DIR = path.dirname(path.dirname(SCHEMA_PATH));
const REPORT_SCHEMA_PATH = path.join(SCHEMA_DIR, 'report', 'report.schema.json');

function reportFixtures(kind: 'valid' | 'invalid'): [string, any][] {
  const dir = path.join(SCHEMA_DIR, 'fixtures', 'report', kind);
  return fs
    .readdirSync(dir)
    .filter(name => name.endsWith('.json'))
    .sort()
    .map(name => [name, readJson(path.join(dir, name))]);
}

describe('report schema', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema(readJson(SCHEMA_PATH));
  const validate = ajv.compile(readJson(REPORT_SCHEMA_PATH));

  it('takes its record definition from the wire schema', () => {
    const schema = readJson(REPORT_SCHEMA_PATH);
    expect(schema.properties.cells.items).toEqual({
      $ref: '../wire/message.schema.json#/definitions/record'
    });
    expect(schema.definitions).toBeUndefined();
  });

  it.each(reportFixtures('valid'))('%s is valid', (_name, report) => {
    expect(validate(report)).toBe(true);
  });

  it.each(reportFixtures('invalid'))('%s is rejected', (_name, report) => {
    expect(validate(report)).toBe(false);
  });

  it('rejects a report of a newer version', () => {
    const report = JSON.parse(toJsonReport([sampleRecord({ seq: 1 })], null));
    expect(validate(report)).toBe(true);
    report.version = 2;
    expect(validate(report)).toBe(false);
  });

  it('accepts what toJsonReport writes', () => {
    const text = toJsonReport(
      [sampleRecord({ seq: 1 }), sampleRecord({ seq: 2, label: null, traced_delta: null })],
      { python: '3.11.7', pid: 4242, memtrack: '0.1.0' },
      new Date('2026-11-23T00:00:00Z')
    );
    const report = JSON.parse(text);
    expect(validate(report)).toBe(true);
    expect(Object.keys(report)).toEqual([
      'format',
      'version',
      'created',
      'python',
      'platform',
      'kernel',
      'cells'
    ]);
    expect(report.format).toBe(REPORT_FORMAT);
    expect(report.version).toBe(REPORT_VERSION);
  });

  it('accepts a report without kernel information', () => {
    expect(validate(JSON.parse(toJsonReport([], null)))).toBe(true);
  });

  it('rejects a sidebar report whose record breaks the wire schema', () => {
    const report = JSON.parse(toJsonReport([sampleRecord({ seq: 1, rss_peak: 1.5 })], null));
    expect(validate(report)).toBe(false);
  });
});
