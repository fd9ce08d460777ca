import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RefreshTokenStore } from '../../src/authn/refresh/refresh-token-store.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';

const alice = { account: 'alice', provider: 'static', subject: 'alice', attributes: {} };

function setup(maxAgeSeconds = 3600) {
  let now = 1_700_000_000_000;
  const cache = new MemoryCache({ maxEntries: 1000, now: () => now });
  const store = new RefreshTokenStore({ cache, hashKey: randomBytes(32), maxAgeSeconds, now: () => now });
  return { store, cache, advance: (ms: number) => void (now += ms) };
}

describe('RefreshTokenStore', () => {
  it('issues opaque prefixed tokens that redeem to their identity, repeatedly (no rotation)', async () => {
    const { store } = setup();
    const token = await store.issue(alice, 'registry');
    expect(token).toMatch(/^wharf_rt_[A-Za-z0-9_-]{43}$/);
    expect(await store.redeem(token, 'registry')).toEqual(alice);
    expect(await store.redeem(token, 'registry')).toEqual(alice);
  });

  it('binds a token to its service', async () => {
    const { store } = setup();
    const token = await store.issue(alice, 'registry');
    expect(await store.redeem(token, 'other-registry')).toBeUndefined();
  });

  it('refuses unknown, tampered and revoked tokens', async () => {
    const { store } = setup();
    const token = await store.issue(alice, 'registry');
    expect(await store.redeem(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'registry')).toBeUndefined();
    expect(await store.redeem('not-a-token', 'registry')).toBeUndefined();
    expect(await store.revoke(token)).toBe(true);
    expect(await store.redeem(token, 'registry')).toBeUndefined();
    expect(await store.revoke(token)).toBe(false);
  });

  it('expires tokens at their maximum age, however often they are used', async () => {
    const { store, advance } = setup(100);
    const token = await store.issue(alice, 'registry');
    advance(60_000);
    expect(await store.redeem(token, 'registry')).toEqual(alice);
    advance(41_000);
    expect(await store.redeem(token, 'registry')).toBeUndefined();
  });

  it('stores only a keyed hash of the token', async () => {
    const { store, cache } = setup();
    const token = await store.issue(alice, 'registry');
    const keys = [...(cache as unknown as { lru: { keys(): Iterable<string> } }).lru.keys()];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^rt:[0-9a-f]{64}$/);
    expect(keys[0]).not.toContain(token.slice(9));
  });
});
