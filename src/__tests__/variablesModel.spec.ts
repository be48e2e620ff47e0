import type { IVariableRequests } from '../kernelBridge';
import { ILiveVariable, IReleaseResult, IVariablesResult, IWhyResult } from '../protocol';
import { VariablesModel } from '../variablesModel';

/**
 * The kernel's side of the variables request (a real kernel is out of reach in
 * jsdom; the wire is tested in pytest and Galata): each call waits until the
 * test answers it.
 */
export class KernelStandIn implements IVariableRequests {
  calls: (number | undefined)[] = [];
  private _waiting: { resolve: (r: IVariablesResult) => void; reject: (e: Error) => void }[] = [];

  variables(limit?: number): Promise<IVariablesResult> {
    this.calls.push(limit);
    return new Promise((resolve, reject) => this._waiting.push({ resolve, reject }));
  }

  whyAlive(): Promise<IWhyResult> {
    return Promise.reject(new Error('not in this test'));
  }

  release(): Promise<IReleaseResult> {
    return Promise.reject(new Error('not in this test'));
  }

  get inFlight(): number {
    return this._waiting.length;
  }

  /** Answer the oldest request. */
  async answer(variables: ILiveVariable[], pending = 0, total = variables.length): Promise<void> {
    this._waiting.shift()!.resolve({ request_id: 'r', variables, total, pending, seq: 1 });
    await flush();
  }

  async fail(message: string): Promise<void> {
    this._waiting.shift()!.reject(new Error(message));
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
};

export function variable(overrides: Partial<ILiveVariable> & { name: string }): ILiveVariable {
  return { type: 'int', size: 28, partial: false, ...overrides };
}

const VARIABLES = [
  variable({ name: 'big', type: 'numpy.ndarray', size: 40_000_000, change: 40_000_000 }),
  variable({ name: 'df', type: 'pandas.core.frame.DataFrame', size: 20_000_000, change: -5 }),
  variable({ name: 'x10', size: 100, change: null }),
  variable({ name: 'x9', size: 100, change: 0 }),
  variable({ name: 'Unknown', type: 'object', size: null })
];

describe('VariablesModel: order and filter', () => {
  let model: VariablesModel;
  let kernel: KernelStandIn;

  beforeEach(async () => {
    kernel = new KernelStandIn();
    model = new VariablesModel({ requests: () => kernel });
    model.setActive(true);
    await kernel.answer(VARIABLES);
  });

  afterEach(() => model.dispose());

  const names = () => model.shown.map(v => v.name);

  it('shows the largest first, unknown sizes last, ties in the kernel order', () => {
    expect(model.sortKey).toBe('size');
    expect(model.descending).toBe(true);
    expect(names()).toEqual(['big', 'df', 'x10', 'x9', 'Unknown']);
  });

  it('sorts by size ascending on a second click, unknown sizes still last', () => {
    model.sortBy('size');
    expect(model.descending).toBe(false);
    expect(names()).toEqual(['x10', 'x9', 'df', 'big', 'Unknown']);
  });

  it('sorts names A to Z (numbers in order, case aside), then Z to A', () => {
    model.sortBy('name');
    expect(model.descending).toBe(false);
    expect(names()).toEqual(['big', 'df', 'Unknown', 'x9', 'x10']);
    model.sortBy('name');
    expect(names()).toEqual(['x10', 'x9', 'Unknown', 'df', 'big']);
  });

  it('sorts by change, largest growth first, unknown changes last', () => {
    model.sortBy('change');
    expect(model.descending).toBe(true);
    expect(names()).toEqual(['big', 'x9', 'df', 'x10', 'Unknown']);
  });

  it('filters by name or type, ignoring case, and emits a change', () => {
    const changes: number[] = [];
    model.changed.connect(() => changes.push(1));
    model.setFilter('NDARRAY');
    expect(names()).toEqual(['big']);
    model.setFilter(' x ');
    expect(names()).toEqual(['x10', 'x9']);
    model.setFilter('frame');
    expect(names()).toEqual(['df']);
    model.setFilter('');
    expect(names()).toHaveLength(5);
    expect(changes).toHaveLength(4);
  });
});

describe('VariablesModel: when it asks the kernel', () => {
  let model: VariablesModel;
  let kernel: KernelStandIn;
  let connected: boolean;

  beforeEach(() => {
    jest.useFakeTimers();
    kernel = new KernelStandIn();
    connected = true;
    model = new VariablesModel({
      requests: () => (connected ? kernel : undefined),
      limit: 100,
      debounceMs: 300,
      retryMs: 1000,
      retries: 3
    });
  });

  afterEach(() => {
    model.dispose();
    jest.useRealTimers();
  });

  it('asks nothing while inactive, and at once when it becomes active', () => {
    model.recordArrived();
    jest.advanceTimersByTime(1000);
    expect(kernel.calls).toEqual([]);
    model.setActive(true);
    expect(kernel.calls).toEqual([100]);
    expect(model.status).toBe('loading');
  });

  it('asks once for a burst of records, 300 ms after the last', async () => {
    model.setActive(true);
    await kernel.answer(VARIABLES);
    model.recordArrived();
    jest.advanceTimersByTime(200);
    model.recordArrived();
    jest.advanceTimersByTime(200);
    model.recordArrived();
    jest.advanceTimersByTime(299);
    expect(kernel.calls).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(kernel.calls).toHaveLength(2);
  });

  it('never asks while a request is in flight; one asked meanwhile follows the answer', async () => {
    model.setActive(true);
    model.refresh();
    model.refresh();
    model.recordArrived();
    jest.advanceTimersByTime(300);
    expect(kernel.calls).toHaveLength(1);
    expect(kernel.inFlight).toBe(1);
    await kernel.answer(VARIABLES);
    // Shown, and asked again at once: the answer may be stale already.
    expect(model.shown).toHaveLength(5);
    expect(model.status).toBe('loading');
    expect(kernel.calls).toHaveLength(2);
    await kernel.answer(VARIABLES);
    expect(model.status).toBe('ready');
    jest.advanceTimersByTime(5000);
    expect(kernel.calls).toHaveLength(2);
  });

  it('asks again while the kernel still sizes values, a bounded number of times', async () => {
    model.setActive(true);
    await kernel.answer(VARIABLES, 2);
    expect(model.result?.pending).toBe(2);
    for (let retry = 1; retry <= 3; retry++) {
      jest.advanceTimersByTime(999);
      expect(kernel.calls).toHaveLength(retry);
      jest.advanceTimersByTime(1);
      expect(kernel.calls).toHaveLength(retry + 1);
      await kernel.answer(VARIABLES, 1);
    }
    jest.advanceTimersByTime(10_000);
    expect(kernel.calls).toHaveLength(4);
    // A new record starts the count again; pending 0 ends the retries.
    model.recordArrived();
    jest.advanceTimersByTime(300);
    expect(kernel.calls).toHaveLength(5);
    await kernel.answer(VARIABLES, 0);
    jest.advanceTimersByTime(10_000);
    expect(kernel.calls).toHaveLength(5);
  });

  it('stops retrying when it becomes inactive', async () => {
    model.setActive(true);
    await kernel.answer(VARIABLES, 2);
    model.setActive(false);
    jest.advanceTimersByTime(10_000);
    expect(kernel.calls).toHaveLength(1);
  });

  it('keeps the last answer when a request fails, and says why', async () => {
    model.setActive(true);
    await kernel.answer(VARIABLES);
    model.refresh();
    await kernel.fail('the kernel did not answer the variables request within 30 s');
    expect(model.status).toBe('error');
    expect(model.error).toMatch(/within 30 s/);
    expect(model.shown).toHaveLength(5);
  });

  it('says so when there is no connection to ask', () => {
    connected = false;
    model.setActive(true);
    expect(kernel.calls).toEqual([]);
    expect(model.status).toBe('unavailable');
  });

  it('drops the answer about a notebook no longer shown', async () => {
    model.setActive(true);
    model.reset(); // another notebook: asks its kernel at once
    expect(kernel.calls).toHaveLength(2);
    await kernel.answer([variable({ name: 'old' })]);
    expect(model.result).toBeNull();
    await kernel.answer([variable({ name: 'new' })]);
    expect(model.shown.map(v => v.name)).toEqual(['new']);
  });
});
