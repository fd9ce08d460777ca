import { describe, expect, it } from 'vitest';
import { AnonymousCallBudget } from '../../src/authz/anonymous-call-budget.js';

describe('AnonymousCallBudget', () => {
  it('bounds each address and all of them together, per minute', () => {
    let clock = 0;
    const budget = new AnonymousCallBudget({ perAddress: 2, total: 3, now: () => clock });
    expect([budget.take('192.0.2.1'), budget.take('192.0.2.1'), budget.take('192.0.2.1')]).toEqual([
      { ok: true },
      { ok: true },
      { ok: false, bound: 'address', retryAfterSeconds: 60 },
    ]);
    expect(budget.take('192.0.2.2')).toEqual({ ok: true });
    clock = 15_000;
    expect(budget.take('192.0.2.3')).toEqual({ ok: false, bound: 'total', retryAfterSeconds: 45 });
    clock = 60_000;
    expect(budget.take('192.0.2.1')).toEqual({ ok: true });
  });

  it('when its table is full, makes newcomers share one address budget instead of forgetting anyone', () => {
    let clock = 0;
    const budget = new AnonymousCallBudget({ perAddress: 1, total: 1000, maxAddresses: 2, now: () => clock });
    expect([budget.take('192.0.2.1'), budget.take('192.0.2.2')]).toEqual([{ ok: true }, { ok: true }]);
    // Two newcomers while the table is full: the first takes the shared budget, the second finds it spent.
    expect(budget.take('198.51.100.1')).toEqual({ ok: true });
    expect(budget.take('198.51.100.2')).toMatchObject({ ok: false, bound: 'address' });
    // The known addresses were not pushed out: still counted, still refused.
    expect(budget.take('192.0.2.1')).toMatchObject({ ok: false, bound: 'address' });
    expect(budget.size()).toBe(2);
    // Once their minute ends they make room.
    clock = 60_000;
    expect(budget.take('198.51.100.2')).toEqual({ ok: true });
    expect(budget.size()).toBe(1);
  });
});
