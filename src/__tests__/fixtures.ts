/** Reads the shared wire fixtures (schema/fixtures), also used by pytest. */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');

export const SCHEMA_PATH = path.join(ROOT, 'schema', 'wire', 'message.schema.json');

export function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf-8'));
}

export function fixtures(kind: 'valid' | 'invalid'): [string, any][] {
  const dir = path.join(ROOT, 'schema', 'fixtures', kind);
  return fs
    .readdirSync(dir)
    .filter(name => name.endsWith('.json'))
    .sort()
    .map(name => [name, readJson(path.join(dir, name))]);
}

/** A valid record to build test histories from. */
export function sampleRecord(overrides: Record<string, unknown> = {}): any {
  const base = readJson(path.join(ROOT, 'schema', 'fixtures', 'valid', 'record.json')).record;
  return { ...base, ...overrides };
}
