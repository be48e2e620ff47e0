/**
 * Galata configuration. The browser is Debian's Chromium (never a downloaded
 * one): set CHROMIUM_PATH to use another binary.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

module.exports = {
  ...baseConfig,
  timeout: 120 * 1000,
  retries: process.env.CI ? 1 : 0,
  workers: 1,
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    // Video needs Playwright's own ffmpeg download; traces and screenshots do not.
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage'
      ]
    }
  },
  webServer: {
    command: 'jlpm start',
    url: 'http://localhost:8888/lab',
    timeout: 180 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
