import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { TwoTierCache } from '../../src/cache/two-tier-cache.js';
import { Coherence } from '../../src/cache/coherence.js';
import { cacheContract } from './cache-contract.js';

/** A coherence as with Redis: copies live up to `maxStalenessMs` once the subscription is up. */
function listening(maxStalenessMs = 300_000): Coherence {
  const coherence = new Coherence({ maxStalenessMs });
  coherence.listeningFromNow();
  return coherence;
}

/** The shared cache, counting its reads (what each request would cost in round trips). */
function counting(shared: MemoryCache) {
  let reads = 0;
  const wrapped = Object.assign(Object.create(shared) as MemoryCache, {
    getWithTtl: async (key: string) => {
      reads++;
      return shared.getWithTtl(key);
    },
  });
  return { wrapped, reads: () => reads };
}

/** Two tiers on one clock the test moves. */
function tiers(options: { maxStalenessMs?: number; maxBytes?: number; subscribed?: boolean } = {}) {
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const shared = new MemoryCache({ maxEntries: 100_000, now });
  const { wrapped, reads } = counting(shared);
  const coherence = options.subscribed === false ? new Coherence({ maxStalenessMs: options.maxStalenessMs ?? 300_000 }) : listening(options.maxStalenessMs);
  const cache = new TwoTierCache(wrapped, { prefixes: ['intro:', 'authz:'], maxBytes: options.maxBytes ?? 1024 * 1024, coherence, now });
  return { clock, shared, reads, coherence, cache };
}

/**
 * Reads `key` (`was` in the shared cache), changes it there to `now` with no message heard (a lost
 * announcement), and checks that the copy answers for `keptMs` and not a millisecond longer.
 */
async function expectCopyKeptFor({ clock, shared, cache }: ReturnType<typeof tiers>, key: string, [was, now]: [string, string], keptMs: number) {
  await shared.set(key, was, 3600);
  expect(await cache.get(key)).toBe(was);
  await shared.set(key, now, 3600);
  clock.now += keptMs - 1;
  expect(await cache.get(key)).toBe(was);
  clock.now += 2;
  expect(await cache.get(key)).toBe(now);
}

cacheContract('two tiers over memory', async () => {
  const clock = { now: 1_000_000 };
  const shared = new MemoryCache({ maxEntries: 1000, now: () => clock.now });
  // Every key in the first tier, on the shared cache's clock: copies must end with their entries.
  const cache = new TwoTierCache(shared, { prefixes: [''], maxBytes: 1024 * 1024, coherence: listening(), now: () => clock.now });
  return { cache, expire: async () => void (clock.now += 1001) };
}, { peeks: true });

/** A shared cache whose reads wait until the test lets them answer (what they read is taken at the start). */
function gated(shared: MemoryCache) {
  const waiting: Array<() => void> = [];
  const wrapped = Object.assign(Object.create(shared) as MemoryCache, {
    getWithTtl: async (key: string) => {
      const found = await shared.getWithTtl(key);
      await new Promise<void>((resolve) => waiting.push(resolve));
      return found;
    },
  });
  /** Lets every read under way answer, once it has reached the gate. */
  const answer = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    waiting.splice(0).forEach((go) => go());
  };
  return { wrapped, answer };
}

describe('TwoTierCache', () => {
  it('never lets a read that began before a write overwrite it (a herd asked the webhook 21 times)', async () => {
    const shared = new MemoryCache({ maxEntries: 100 });
    const { wrapped, answer } = gated(shared);
    const cache = new TwoTierCache(wrapped, { prefixes: ['authz:'], maxBytes: 1024 * 1024, coherence: listening() });
    // A request misses, and while its read is under way the decision is made and written.
    const early = cache.get('authz:d');
    await cache.set('authz:d', 'pull', 60);
    await answer();
    expect(await early).toBeUndefined();
    expect(await cache.get('authz:d')).toBe('pull');
  });

  it('never lets a read that began before an invalidation bring the entry back', async () => {
    const shared = new MemoryCache({ maxEntries: 100 });
    const { wrapped, answer } = gated(shared);
    const coherence = listening();
    const cache = new TwoTierCache(wrapped, { prefixes: ['authz:'], maxBytes: 1024 * 1024, coherence });
    await shared.set('authz:e', 'old', 60);
    const before = cache.get('authz:e');
    await cache.delete('authz:e');
    await answer();
    expect(await before).toBe('old');
    const after = cache.get('authz:e');
    await answer();
    expect(await after).toBeUndefined();

    // The same for another replica's invalidation heard meanwhile.
    await shared.set('authz:f', 'old', 60);
    const racing = cache.get('authz:f');
    await shared.delete('authz:f');
    coherence.forget(['authz:f']);
    await answer();
    expect(await racing).toBe('old');
    const fresh = cache.get('authz:f');
    await answer();
    expect(await fresh).toBeUndefined();
  });

  it('serves a fleet’s entries from the process for as long as each entry lives in the shared cache', async () => {
    const { clock, shared, reads, cache } = tiers();
    // 2,000 accounts' introspections, written by another replica with a minute left.
    for (let i = 0; i < 2_000; i++) await shared.set(`intro:${i}`, `facts-${i}`, 60);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 2_000; i++) expect(await cache.get(`intro:${i}`)).toBe(`facts-${i}`);
      clock.now += 10_000;
    }
    expect(reads()).toBe(2_000); // one round trip per entry, not per request
    // The shared entry is gone after its minute, and so is the copy.
    clock.now += 10_001;
    expect(await cache.get('intro:7')).toBeUndefined();
    // Keys outside the first tier always go to the shared cache.
    await shared.set('rt:x', 'v', 60);
    expect(await cache.get('rt:x')).toBe('v');
  });

  it('keeps a copy no longer than the staleness bound, so a missed invalidation is over within it', async () => {
    await expectCopyKeptFor(tiers({ maxStalenessMs: 30_000 }), 'authz:d', ['pull,push', 'pull'], 30_000);
  });

  it('trusts copies for a second only while invalidations are not heard, and drops them all when the subscription is lost or back', async () => {
    const two = tiers({ subscribed: false });
    const { clock, shared, cache, coherence } = two;
    await expectCopyKeptFor(two, 'intro:a', ['active', 'revoked'], 1000);

    // Subscribed: what was read before may predate a missed message, so it goes.
    await shared.set('intro:a', 'active-again', 3600);
    coherence.listeningFromNow();
    expect(await cache.get('intro:a')).toBe('active-again');
    await shared.set('intro:a', 'revoked-again', 3600);
    clock.now += 60_000;
    expect(await cache.get('intro:a')).toBe('active-again'); // a long-lived copy while listening...
    coherence.deaf(); // ...until the subscription's connection drops
    expect(await cache.get('intro:a')).toBe('revoked-again');
  });

  it('remembers an absence for a second only, even while listening: another replica may fill the entry', async () => {
    const { clock, shared, reads, cache } = tiers();
    expect(await cache.get('authz:new')).toBeUndefined();
    expect(await cache.get('authz:new')).toBeUndefined();
    expect(reads()).toBe(1);
    await shared.set('authz:new', 'pull', 60);
    clock.now += 1001;
    expect(await cache.get('authz:new')).toBe('pull');
  });

  it('keeps serving part of a round of keys larger than it holds, where a plain LRU would miss every time', async () => {
    // ~890 entries' worth of memory against a round of 3,000 decisions.
    const { shared, reads, cache } = tiers({ maxBytes: 256 * 1024 });
    const key = (i: number) => `authz:${i.toString().padStart(64, '0')}`;
    for (let i = 0; i < 3_000; i++) await shared.set(key(i), '{"granted":["pull"],"reason":"ok"}', 300);
    const round = async () => {
      const before = reads();
      for (let i = 0; i < 3_000; i++) expect(await cache.get(key(i))).toBe('{"granted":["pull"],"reason":"ok"}');
      return reads() - before;
    };
    const rounds = [await round(), await round(), await round(), await round(), await round()];
    expect(rounds[0]).toBe(3_000);
    expect(rounds[4]).toBeLessThan(2_700); // some 600 served from the process, and rising
    expect(cache.localBytes()).toBeLessThanOrEqual(256 * 1024);
  });

  it('tells the rest of the process about deletions of its own keys only (a pending login going must not drop recent answers)', async () => {
    const { cache, coherence } = tiers();
    const told: string[][] = [];
    coherence.attach({ forget: (keys) => told.push([...keys]), forgetAll: () => told.push(['*']) });
    await cache.delete('login:pending');
    expect(told).toEqual([]);
    await cache.delete('intro:revoked');
    expect(told).toEqual([['intro:revoked']]);
  });

  it('counts a decision text shared by many keys once, so a fleet\'s decisions fit where they take the heap', async () => {
    // 1,200 decisions with one text: 200 bytes each as counted now (about the heap they take),
    // 294 when every entry counted the shared text too (only ~890 fitted in 256 KB).
    const { shared, reads, cache } = tiers({ maxBytes: 256 * 1024 });
    const key = (i: number) => `authz:${i.toString().padStart(64, '0')}`;
    for (let i = 0; i < 1_200; i++) await shared.set(key(i), '{"granted":["pull"],"reason":"ok"}', 300);
    for (let i = 0; i < 1_200; i++) await cache.get(key(i));
    const before = reads();
    for (let i = 0; i < 1_200; i++) expect(await cache.get(key(i))).toBe('{"granted":["pull"],"reason":"ok"}');
    expect(reads() - before).toBe(0);
    expect(cache.localBytes()).toBeLessThanOrEqual(256 * 1024);
  });

  it('counts values no other entry shares in full, so distinct texts cannot overfill it', async () => {
    const { shared, reads, cache } = tiers({ maxBytes: 256 * 1024 });
    const key = (i: number) => `authz:${i.toString().padStart(64, '0')}`;
    const value = (i: number) => JSON.stringify({ granted: ['pull'], reason: `decided for client ${i} `.padEnd(200, '.') });
    for (let i = 0; i < 1_200; i++) await shared.set(key(i), value(i), 300);
    for (let i = 0; i < 1_200; i++) await cache.get(key(i));
    const before = reads();
    for (let i = 0; i < 1_200; i++) expect(await cache.get(key(i))).toBe(value(i));
    // ~430 bytes each: some 600 fit, the rest are read from the shared cache again.
    expect(reads() - before).toBeGreaterThan(400);
    expect(cache.localBytes()).toBeLessThanOrEqual(256 * 1024);
  });

  it('holds no more than its byte bound whatever is read through it', async () => {
    const { shared, cache } = tiers({ maxBytes: 256 * 1024 });
    for (let i = 0; i < 5_000; i++) await shared.set(`authz:${i.toString().padStart(64, '0')}`, '{"granted":["pull"],"reason":"ok"}', 300);
    for (let i = 0; i < 5_000; i++) await cache.get(`authz:${i.toString().padStart(64, '0')}`);
    expect(cache.localBytes()).toBeLessThanOrEqual(256 * 1024);
    expect(cache.localBytes()).toBeGreaterThan(200 * 1024);
  });
});
