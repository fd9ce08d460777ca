import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AccountGenerations } from '../../src/cache/account-generations.js';
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
    const here = new AccountGenerations(shared, hashKey, { now: () => now });
    const there = new AccountGenerations(shared, hashKey, { now: () => now });
    expect(await there.current('alice')).toBe('0');
    await here.bump('alice');
    await here.bump('alice');
    expect(await here.current('alice')).toBe('2'); // the replica that moved it sees it at once
    expect(await here.current('bob')).toBe('0');
    now += 1001;
    expect(await there.current('alice')).toBe('2');
    await there.bump('alice');
    here.forgetLocal([here.keyOf('alice')]); // as the invalidation channel does
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
    const generations = new AccountGenerations(slow, hashKey);
    const early = generations.current('alice');
    await new Promise((resolve) => setImmediate(resolve));
    await generations.bump('alice');
    release();
    await early;
    expect(await generations.current('alice')).toBe('1');
  });

  it('reads the store once per account per second however many requests ask', async () => {
    let now = 1_800_000_000_000;
    const { store, reads } = counted(tempStore(() => now));
    const generations = new AccountGenerations(store, randomBytes(32), { now: () => now });
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
});
