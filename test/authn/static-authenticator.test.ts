import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { StaticAuthenticator } from '../../src/authn/static/static-authenticator.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { keyedHash } from '../../src/crypto/keyed-hash.js';
import { RecordingCache } from '../support/recording-cache.js';

async function setup(verifiedCacheSeconds = 60) {
  const password = randomBytes(9).toString('base64url');
  const cache = new MemoryCache({ maxEntries: 1000 });
  const auth = new StaticAuthenticator(
    { type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 10), attributes: { groups: ['dev'] } } }, verifiedCacheSeconds },
    { cache, hashKey: randomBytes(32) },
  );
  return { auth, password, cache };
}

describe('StaticAuthenticator', () => {
  it('accepts the right password, denies a wrong one, passes on unknown users', async () => {
    const { auth, password } = await setup();
    expect(await auth.login('alice', password)).toEqual({
      kind: 'ok',
      identity: { account: 'alice', provider: 'static', subject: 'alice', attributes: { groups: ['dev'] }, owner: { source: 'static', subject: 'alice' } },
      // Names the password hash (so a refresh token ends when it changes), never the password.
      provenance: { binding: expect.stringMatching(/^[0-9a-f]{32}$/) },
    });
    expect(await auth.login('alice', `${password}x`)).toEqual({ kind: 'denied', reason: 'invalid username or password', knownAccount: true });
    expect(await auth.login('mallory', password)).toEqual({ kind: 'no_match' });
    expect(await auth.login('__proto__', password)).toEqual({ kind: 'no_match' });
  });

  it('runs bcrypt once for a burst of logins with the same credentials, and caches no raw secret', async () => {
    const { auth, password, cache } = await setup();
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => auth.login('alice', password)));
      expect(results.every((r) => r.kind === 'ok')).toBe(true);
      for (let i = 0; i < 5; i++) expect((await auth.login('alice', password)).kind).toBe('ok');
      expect(compare).toHaveBeenCalledTimes(1);
      // A wrong password is never served from the cache.
      expect((await auth.login('alice', 'wrong')).kind).toBe('denied');
      expect(compare).toHaveBeenCalledTimes(2);
    } finally {
      compare.mockRestore();
    }
    const dump = JSON.stringify([...(cache as unknown as { lru: Map<string, unknown> }).lru.entries()]);
    expect(dump).not.toContain(password);
    expect(dump).not.toContain('alice');
  });

  it('recalls a password it verified before without bcrypt, and nothing else', async () => {
    const { auth, password } = await setup();
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      expect(await auth.recall('alice', password)).toBeUndefined();
      expect((await auth.login('alice', password)).kind).toBe('ok');
      expect(await auth.recall('alice', password)).toEqual(await auth.login('alice', password));
      expect(await auth.recall('alice', `${password}x`)).toBeUndefined();
      // Last in the chain, an unknown user costs a bcrypt run (timing), so only a login can answer it.
      expect(await auth.recall('mallory', password)).toBeUndefined();
      expect(compare).toHaveBeenCalledTimes(1);
    } finally {
      compare.mockRestore();
    }
    const { auth: off, password: offPassword } = await setup(0);
    expect((await off.login('alice', offPassword)).kind).toBe('ok');
    expect(await off.recall('alice', offPassword)).toBeUndefined();
  });

  it('writes and reads the verified entry in the format replicas of other versions share', async () => {
    const hashKey = randomBytes(32);
    const passwordHash = await bcrypt.hash('pw', 4);
    const config = { type: 'static' as const, users: { alice: { passwordHash, attributes: {} } }, verifiedCacheSeconds: 45 };
    const cache = new RecordingCache();
    expect((await new StaticAuthenticator(config, { cache, hashKey }).login('alice', 'pw')).kind).toBe('ok');
    const key = `static:${keyedHash(hashKey, 'static', 'alice', 'pw', passwordHash)}`;
    expect(cache.writes).toEqual([{ key, value: '1', ttlSeconds: 45 }]);
    // Another replica finds that entry and needs no bcrypt run.
    const other = new RecordingCache();
    other.entries.set(key, '1');
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      expect((await new StaticAuthenticator(config, { cache: other, hashKey }).recall('alice', 'pw'))?.kind).toBe('ok');
      expect((await new StaticAuthenticator(config, { cache: other, hashKey }).login('alice', 'pw')).kind).toBe('ok');
      expect(compare).not.toHaveBeenCalled();
    } finally {
      compare.mockRestore();
    }
  });

  it('checks bcrypt every time when the verified cache is off', async () => {
    const { auth, password } = await setup(0);
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      await auth.login('alice', password);
      await auth.login('alice', password);
      expect(compare).toHaveBeenCalledTimes(2);
    } finally {
      compare.mockRestore();
    }
  });
});

describe('StaticAuthenticator in a chain', () => {
  it('spends a bcrypt check on unknown users only when it is the last backend', async () => {
    const cache = new MemoryCache({ maxEntries: 10 });
    const users = { alice: { passwordHash: await bcrypt.hash('pw', 10), attributes: {} } };
    const first = new StaticAuthenticator({ type: 'static', users, verifiedCacheSeconds: 60 }, { cache, hashKey: randomBytes(32), lastInChain: false });
    const last = new StaticAuthenticator({ type: 'static', users, verifiedCacheSeconds: 60 }, { cache, hashKey: randomBytes(32), lastInChain: true });
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      expect(await first.login('platform-user', 'plat_token')).toEqual({ kind: 'no_match' });
      expect(compare).toHaveBeenCalledTimes(0);
      expect(await last.login('platform-user', 'plat_token')).toEqual({ kind: 'no_match' });
      expect(compare).toHaveBeenCalledTimes(1);
    } finally {
      compare.mockRestore();
    }
  });
});
