// plotly cannot draw inside jsdom: this is the one seam replaced by a fake.
jest.mock('../plot', () => ({
  renderPlot: jest.fn(() => Promise.resolve()),
  resizePlot: jest.fn(),
  purgePlot: jest.fn()
}));

import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import type { IVariableRequests } from '../kernelBridge';
import { MemtrackModel } from '../model';
import { IReleaseResult, IVariablesResult, IWhyResult } from '../protocol';
import { SettingsState } from '../settings';
import { MemtrackSidebar } from '../sidebar';
import { RECORD_DEBOUNCE_MS } from '../variablesModel';
import { sampleRecord } from './fixtures';

/** A notebook's kernel requests, answering at once; each call counted per notebook. */
class KernelStandIn implements IVariableRequests {
  constructor(readonly names: string[]) {}
  calls = 0;

  async variables(): Promise<IVariablesResult> {
    this.calls += 1;
    return {
      request_id: 'r',
      variables: this.names.map((name, i) => ({
        name,
        type: 'bytearray',
        size: (this.names.length - i) * 1_000_000,
        partial: false,
        releasable: true
      })),
      total: this.names.length,
      pending: 0
    };
  }

  whyAlive(): Promise<IWhyResult> {
    return Promise.reject(new Error('not in this test'));
  }

  release(): Promise<IReleaseResult> {
    return Promise.reject(new Error('not in this test'));
  }
}

const frame = () => new Promise(resolve => setTimeout(resolve, 50));

describe('The variables section in the sidebar', () => {
  let model: MemtrackModel;
  let sidebar: MemtrackSidebar;
  let kernels: Record<string, KernelStandIn>;

  beforeEach(() => {
    model = new MemtrackModel();
    kernels = { nb: new KernelStandIn(['big', 'small']), other: new KernelStandIn(['df']) };
    sidebar = new MemtrackSidebar({
      model,
      settings: new SettingsState(),
      commands: new CommandRegistry(),
      setMetric: () => undefined,
      revealCell: () => true,
      leakRequests: key => kernels[key]
    });
    Widget.attach(sidebar, document.body);
  });

  afterEach(() => {
    sidebar.dispose();
    model.live.dispose();
  });

  const section = () => sidebar.node.querySelector<HTMLElement>('.jp-Memtrack-variables')!;
  const names = () =>
    Array.from(section().querySelectorAll<HTMLElement>('.jp-Memtrack-var')).map(
      row => row.dataset.name
    );

  it('is hidden until the notebook is connected, then asks at once', async () => {
    model.setCurrent('nb');
    expect(section().hidden).toBe(true);
    expect(kernels.nb.calls).toBe(0);
    model.setStatus('nb', 'connected');
    await frame();
    expect(section().hidden).toBe(false);
    expect(kernels.nb.calls).toBe(1);
    expect(names()).toEqual(['big', 'small']);
  });

  it('asks again after records arrive (debounced), and not while the panel is hidden', async () => {
    model.setCurrent('nb');
    model.setStatus('nb', 'connected');
    await frame();
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    model.appendRecord('nb', sampleRecord({ seq: 2 }));
    await new Promise(resolve => setTimeout(resolve, RECORD_DEBOUNCE_MS + 100));
    expect(kernels.nb.calls).toBe(2);
    sidebar.hide();
    model.appendRecord('nb', sampleRecord({ seq: 3 }));
    await new Promise(resolve => setTimeout(resolve, RECORD_DEBOUNCE_MS + 100));
    expect(kernels.nb.calls).toBe(2);
    sidebar.show();
    await frame();
    expect(kernels.nb.calls).toBe(3);
  });

  it('asks nothing while closed, and at once when opened', async () => {
    model.setCurrent('nb');
    model.setStatus('nb', 'connected');
    await frame();
    const toggle = section().querySelector<HTMLButtonElement>('.jp-Memtrack-varToggle')!;
    toggle.click();
    model.appendRecord('nb', sampleRecord({ seq: 1 }));
    await new Promise(resolve => setTimeout(resolve, RECORD_DEBOUNCE_MS + 100));
    expect(kernels.nb.calls).toBe(1);
    toggle.click();
    await frame();
    expect(kernels.nb.calls).toBe(2);
  });

  it("shows the current notebook's variables after a switch", async () => {
    model.setStatus('nb', 'connected');
    model.setStatus('other', 'connected');
    model.setCurrent('nb');
    await frame();
    expect(names()).toEqual(['big', 'small']);
    model.setCurrent('other');
    await frame();
    expect(names()).toEqual(['df']);
  });
});
