/**
 * The frontend's version, read from package.json at build time: the one place
 * it is written (the Python package takes its version from the same file,
 * through hatch-nodejs-version), so the hello message and the widget module
 * version cannot fall out of step with a release.
 */
// A default import: webpack serves JSON modules as a default export only.
import packageJson from '../package.json';

export const VERSION: string = packageJson.version;
