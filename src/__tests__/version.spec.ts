/** The frontend's version is package.json's: nothing restates it. */
import * as path from 'path';

import { VERSION } from '../version';
import { MODULE_VERSION } from '../widget';
import { readJson } from './fixtures';

describe('version', () => {
  const packageJson = readJson(path.resolve(__dirname, '..', '..', 'package.json'));

  it('is the version in package.json', () => {
    expect(VERSION).toBe(packageJson.version);
  });

  it('is the widget module version the kernel asks for', () => {
    expect(MODULE_VERSION).toBe(VERSION);
  });
});
