/**
 * The sidebar benchmark (`make bench`): same server and browser as the UI
 * tests, but its own test directory and no retries.
 */
const base = require('./playwright.config');

module.exports = {
  ...base,
  testDir: './bench',
  testMatch: '**/*.bench.ts',
  retries: 0,
  timeout: 600 * 1000
};
