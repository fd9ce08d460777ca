import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AccountGenerations } from '../../src/invalidation/account-generations.js';
import { Coherence } from '../../src/cache/coherence.js';
import type { Store } from '../../src/store/store.js';
import { tempStore } from '../support/store.js';

/** The store, counting its reads (the hot path's cost). */
function counted(store: Store) {
  const reads = { count: 0 };
  const wrapped: Store = Object.assign(Object.create(store) as Store, {
    get: (key: string) => {
      reads.count++;
      return store.get(key);
    },
  });
  return { store: wrapped, reads };
}

describe('AccountGenerations', () => {
  it('only counts up, and two replicas sharing the store agree once their second is over', async () => {
    let now = 1_800_000_000_000;
    const hashKey = randomBytes(32);
    const shared = tempStore(() => now);
    const here = new AccountGenerations(shared, hashKey, new Coherence({ maxStalenessMs: 300_000 }), { now: () => now });
    const there = new AccountGenerations(shared, hashKey, new Coherence({ maxStalenessMs: 300_000 }), { now: () => now });
    expect(await there.current('alice')).toBe('0');
    await here.bump('alice');
    await here.bump('alice');
    expect(await here.current('alice')).toBe('2'); // the replica that moved it sees it at once
    expect(await here.current('bob')).toBe('0');
    now += 1001;
    expect(await there.current('alice')).toBe('2');
    await there.bump('alice');
    here.forget([here.keyOf('alice')]); // as the invalidation channel does
    expect(await here.current('alice')).toBe('3');
  });

  it('never lets a read that began before a bump put the older generation back', async () => {
    const hashKey = randomBytes(32);
    const shared = tempStore();
    let release: () => void = () => {};
    // The store answers this read with what it held when asked, but only once the test says so.
    const slow: Store = Object.assign(Object.create(shared) as Store, {
      get: async (key: string) => {
        const value = await shared.get(key);
        await new Promise<void>((resolve) => (release = resolve));
        return value;
      },
    });
    const generations = new AccountGenerations(slow, hashKey, new Coherence({ maxStalenessMs: 300_000 }));
    const early = generations.current('alice');
    await new Promise((resolve) => setImmediate(resolve));
    await generations.bump('alice');
    release();
    await early;
    expect(await generations.current('alice')).toBe('1');
  });

  it('reads the store once per account per second however many requests ask, while invalidations are not heard', async () => {
    let now = 1_800_000_000_000;
    const { store, reads } = counted(tempStore(() => now));
    const generations = new AccountGenerations(store, randomBytes(32), new Coherence({ maxStalenessMs: 300_000 }), { now: () => now });
    await Promise.all(Array.from({ length: 100 }, () => generations.current('alice')));
    for (let i = 0; i < 100; i++) await generations.current('alice');
    expect(reads.count).toBeLessThanOrEqual(100); // concurrent first reads may each go to the store
    const afterFirst = reads.count;
    for (let i = 0; i < 100; i++) await generations.current('alice');
    expect(reads.count).toBe(afterFirst);
    now += 1001;
    await generations.current('alice');
    expect(reads.count).toBe(afterFirst + 1);
  });

  it('keeps generations as long as the staleness bound while invalidations are heard, and drops them when told', async () => {
    let now = 1_800_000_000_000;
    const hashKey = randomBytes(32);
    const shared = tempStore(() => now);
    const { store, reads } = counted(shared);
    const coherence = new Coherence({ maxStalenessMs: 60_000 });
    coherence.listeningFromNow();
    const here = new AccountGenerations(store, hashKey, coherence, { now: () => now });
    const there = new AccountGenerations(shared, hashKey, new Coherence({ maxStalenessMs: 60_000 }), { now: () => now });
    for (let i = 0; i < 1_000; i++) await here.current(`user-${i}`);
    now += 59_000;
    for (let i = 0; i < 1_000; i++) await here.current(`user-${i}`);
    expect(reads.count).toBe(1_000);
    await there.bump('user-1'); // another replica, whose announcement is lost
    expect(await here.current('user-1')).toBe('0');
    now += 1_001; // the staleness bound
    expect(await here.current('user-1')).toBe('1');
    await there.bump('user-2');
    coherence.forget([here.keyOf('user-2')]); // heard
    expect(await here.current('user-2')).toBe('1');
  });
});
