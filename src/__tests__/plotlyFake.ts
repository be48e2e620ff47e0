/**
 * plotly cannot draw inside jsdom: the specs that render plots replace its entry
 * points with these fakes (one copy), and check what renderPlot hands them
 * (traces, shapes, annotations). Use as
 * `jest.mock('plotly.js/lib/core', () => jest.requireActual('./plotlyFake').core);`
 * `jest.mock('plotly.js/lib/bar', () => jest.requireActual('./plotlyFake').bar);`
 */
export const core = {
  __esModule: true,
  default: {
    register: jest.fn(),
    react: jest.fn(() => Promise.resolve()),
    purge: jest.fn(),
    Plots: { resize: jest.fn() }
  }
};

export const bar = { __esModule: true, default: {} };
