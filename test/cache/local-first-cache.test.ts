import { describe, expect, it } from 'vitest';
import { LocalFirstCache } from '../../src/cache/local-first-cache.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { cacheContract } from './cache-contract.js';

function counting(shared: MemoryCache) {
  let reads = 0;
  const wrapped = Object.assign(Object.create(shared) as MemoryCache, {
    get: async (key: string) => {
      reads++;
      return shared.get(key);
    },
  });
  return { wrapped, reads: () => reads };
}

cacheContract('local-first over memory', async () => {
  let now = 1_000_000;
  const shared = new MemoryCache({ maxEntries: 1000, now: () => now });
  // The local layer runs on real time; the contract's expiry moves the shared clock, so use a prefix it never caches.
  return { cache: new LocalFirstCache(shared, { prefixes: ['hot:'], ttlMs: 1000 }), expire: async () => void (now += 1001) };
});

/** A shared cache whose reads wait until the test lets them answer (what they read is taken at the start). */
function gated(shared: MemoryCache) {
  const waiting: Array<() => void> = [];
  const wrapped = Object.assign(Object.create(shared) as MemoryCache, {
    get: async (key: string) => {
      const value = await shared.get(key);
      await new Promise<void>((resolve) => waiting.push(resolve));
      return value;
    },
  });
  /** Lets every read under way answer, once it has reached the gate. */
  const answer = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    waiting.splice(0).forEach((go) => go());
  };
  return { wrapped, answer };
}

describe('LocalFirstCache', () => {
  it('never lets a read that began before a write overwrite it (a herd asked the webhook 21 times)', async () => {
    const shared = new MemoryCache({ maxEntries: 100 });
    const { wrapped, answer } = gated(shared);
    const cache = new LocalFirstCache(wrapped, { prefixes: ['authz:'], ttlMs: 60_000 });
    // A request misses, and while its read is under way the decision is made and written.
    const early = cache.get('authz:d');
    await cache.set('authz:d', 'pull', 60);
    await answer();
    expect(await early).toBeUndefined();
    expect(await cache.get('authz:d')).toBe('pull');
  });

  it('never lets a read that began before a delete bring the entry back', async () => {
    const shared = new MemoryCache({ maxEntries: 100 });
    const { wrapped, answer } = gated(shared);
    const cache = new LocalFirstCache(wrapped, { prefixes: ['authz:'], ttlMs: 60_000 });
    await shared.set('authz:e', 'old', 60);
    const before = cache.get('authz:e');
    await cache.delete('authz:e');
    await answer();
    expect(await before).toBe('old');
    const after = cache.get('authz:e');
    await answer();
    expect(await after).toBeUndefined();
  });

  it('serves hot keys (and known absences) from the process, others from the shared cache', async () => {
    const shared = new MemoryCache({ maxEntries: 100 });
    const { wrapped, reads } = counting(shared);
    const cache = new LocalFirstCache(wrapped, { prefixes: ['intro:'], ttlMs: 60_000 });
    await shared.set('intro:a', 'facts', 60);
    for (let i = 0; i < 5; i++) expect(await cache.get('intro:a')).toBe('facts');
    for (let i = 0; i < 5; i++) expect(await cache.get('intro:missing')).toBeUndefined();
    for (let i = 0; i < 3; i++) await cache.get('rt:cold');
    expect(reads()).toBe(2 + 3);
  });

  it('sees another replica’s change after its short TTL, or at once when told to forget', async () => {
    const shared = new MemoryCache({ maxEntries: 100 });
    const replicaA = new LocalFirstCache(shared, { prefixes: ['intro:'], ttlMs: 50 });
    const replicaB = new LocalFirstCache(shared, { prefixes: ['intro:'], ttlMs: 60_000 });
    await replicaA.set('intro:t', 'active', 60);
    expect(await replicaB.get('intro:t')).toBe('active');
    await replicaA.delete('intro:t'); // revoked on replica A
    expect(await replicaA.get('intro:t')).toBeUndefined();
    expect(await replicaB.get('intro:t')).toBe('active'); // B's copy, until...
    replicaB.forgetLocal(['intro:t']); // ...A's announcement arrives
    expect(await replicaB.get('intro:t')).toBeUndefined();

    await replicaB.set('intro:u', 'x', 60);
    await shared.delete('intro:u');
    let now = 5_000;
    const shortLived = new LocalFirstCache(shared, { prefixes: ['intro:'], ttlMs: 1000, now: () => now });
    await shared.set('intro:v', 'old', 60);
    expect(await shortLived.get('intro:v')).toBe('old');
    await shared.set('intro:v', 'new', 60);
    now += 999;
    expect(await shortLived.get('intro:v')).toBe('old');
    now += 2;
    expect(await shortLived.get('intro:v')).toBe('new');
  });
});
