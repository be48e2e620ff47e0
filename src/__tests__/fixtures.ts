/** Reads the shared schema fixtures (schema/fixtures), also used by pytest. */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');

export const SCHEMA_PATH = path.join(ROOT, 'schema', 'wire', 'message.schema.json');

/** The runs saved in a cell's metadata (src/cellMetadata.ts). */
export const CELL_RUNS_SCHEMA_PATH = path.join(ROOT, 'schema', 'metadata', 'cell-runs.schema.json');

export function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf-8'));
}

/** The JSON files of a fixture folder, by name, in name order. */
function readFixtureDir(dir: string): [string, any][] {
  return fs
    .readdirSync(dir)
    .filter(name => name.endsWith('.json'))
    .sort()
    .map(name => [name, readJson(path.join(dir, name))]);
}

/** Wire messages (schema/fixtures/valid, invalid). */
export function fixtures(kind: 'valid' | 'invalid'): [string, any][] {
  return readFixtureDir(path.join(ROOT, 'schema', 'fixtures', kind));
}

/** Values of a cell's metadata.memtrack (schema/fixtures/metadata/valid, invalid). */
export function metadataFixtures(kind: 'valid' | 'invalid'): [string, any][] {
  return readFixtureDir(path.join(ROOT, 'schema', 'fixtures', 'metadata', kind));
}

/** A valid record to build test histories from. */
export function sampleRecord(overrides: Record<string, unknown> = {}): any {
  const base = readJson(path.join(ROOT, 'schema', 'fixtures', 'valid', 'record.json')).record;
  return { ...base, ...overrides };
}

/** Lets pending promises and a dialog's attach settle. */
export const settle = (): Promise<unknown> => new Promise(resolve => setTimeout(resolve, 0));

/** Polls `find` until it returns something (2 s at most). */
export async function waitFor<T>(find: () => T | null | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const found = find();
    if (found) {
      return found;
    }
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
