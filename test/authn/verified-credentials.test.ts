import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VerifiedCredentials, type VerifiedCredentialsOptions } from '../../src/authn/verified-credentials.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { RecordingCache } from '../support/recording-cache.js';

/** A verdict as an upstream gives one: the user's facts, or a refusal. */
type Verdict = { ok: true; user: string; exp?: number } | { ok: false; reason: string };
type Accepted = Extract<Verdict, { ok: true }>;

const PASSWORD = 'correct horse battery staple';

/** A fake upstream that knows one password and counts how often it is asked. */
function upstream(options: { delayMs?: number; down?: boolean; exp?: number } = {}) {
  const calls: string[] = [];
  return {
    calls,
    verify: (user: string, password: string) => async (): Promise<Verdict> => {
      calls.push(user);
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (options.down) throw new TemporarilyUnavailableError('the upstream is unavailable');
      if (password !== PASSWORD) return { ok: false, reason: 'wrong password' };
      return options.exp === undefined ? { ok: true, user } : { ok: true, user, exp: options.exp };
    },
  };
}

function credentials(patch: Partial<VerifiedCredentialsOptions<Verdict, Accepted>> = {}) {
  const cache = patch.cache ?? new RecordingCache();
  const verified = new VerifiedCredentials<Verdict, Accepted>({
    cache,
    hashKey: randomBytes(32),
    prefix: 'test:',
    scope: ['test', 'https://upstream.example/check'],
    accepted: (v): v is Accepted => v.ok,
    acceptedSeconds: 60,
    ...patch,
  });
  return { verified, cache };
}

describe('VerifiedCredentials', () => {
  it('verifies once for a burst of concurrent logins with the same credential, and gives each the verdict', async () => {
    const { verified } = credentials();
    const up = upstream({ delayMs: 20 });
    const results = await Promise.all(Array.from({ length: 10 }, () => verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD))));
    expect(results).toEqual(Array.from({ length: 10 }, () => ({ ok: true, user: 'alice' })));
    expect(up.calls).toHaveLength(1);
    // Another credential is not held up by, nor answered from, that flight.
    await verified.verdict(['bob', PASSWORD], up.verify('bob', PASSWORD));
    expect(up.calls).toEqual(['alice', 'bob']);
  });

  it('answers a credential it verified before without verifying, in this process and in another sharing the cache', async () => {
    const cache = new RecordingCache();
    const hashKey = randomBytes(32);
    const up = upstream();
    const { verified } = credentials({ cache, hashKey });
    expect(await verified.recall(['alice', PASSWORD])).toBeUndefined();
    await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD));
    expect(await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD))).toEqual({ ok: true, user: 'alice' });
    expect(await verified.recall(['alice', PASSWORD])).toEqual({ ok: true, user: 'alice' });
    const { verified: replica } = credentials({ cache, hashKey });
    expect(await replica.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD))).toEqual({ ok: true, user: 'alice' });
    expect(await replica.recall(['alice', PASSWORD])).toEqual({ ok: true, user: 'alice' });
    expect(up.calls).toHaveLength(1);
    expect(cache.writes).toEqual([{ key: verified.key(['alice', PASSWORD]), value: '{"ok":true,"user":"alice"}', ttlSeconds: 60 }]);
  });

  it('never answers a wrong password from the cache: refusals are verified each time and never recalled', async () => {
    const { verified, cache } = credentials();
    const up = upstream();
    await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD));
    for (let i = 0; i < 3; i++) expect(await verified.verdict(['alice', 'wrong'], up.verify('alice', 'wrong'))).toEqual({ ok: false, reason: 'wrong password' });
    expect(await verified.recall(['alice', 'wrong'])).toBeUndefined();
    expect(up.calls).toHaveLength(4);
    expect((cache as RecordingCache).writes).toHaveLength(1);
  });

  it('remembers a refusal for refusedSeconds when asked to, yet never recalls it as ok', async () => {
    const { verified, cache } = credentials({ refusedSeconds: 10 });
    const up = upstream();
    for (let i = 0; i < 3; i++) expect((await verified.verdict(['alice', 'wrong'], up.verify('alice', 'wrong'))).ok).toBe(false);
    expect(up.calls).toHaveLength(1);
    expect((cache as RecordingCache).writes).toEqual([{ key: verified.key(['alice', 'wrong']), value: '{"ok":false,"reason":"wrong password"}', ttlSeconds: 10 }]);
    expect(await verified.recall(['alice', 'wrong'])).toBeUndefined();
  });

  it('keys entries by a keyed hash: no secret in the key or the value, and nothing shared across scopes or hash keys', async () => {
    const cache = new RecordingCache();
    const hashKey = randomBytes(32);
    const { verified } = credentials({ cache, hashKey });
    await verified.verdict(['alice', PASSWORD], upstream().verify('alice', PASSWORD));
    expect(cache.writes).toHaveLength(1);
    const { key, value } = cache.writes[0]!;
    expect(key).toMatch(/^test:[0-9a-f]{64}$/);
    expect(`${key}${value}`).not.toContain('horse');
    // The same credential under another scope (another upstream) or another hash key is another entry.
    expect(credentials({ cache, hashKey, scope: ['test', 'https://other.example/check'] }).verified.key(['alice', PASSWORD])).not.toBe(key);
    expect(credentials({ cache }).verified.key(['alice', PASSWORD])).not.toBe(key);
    expect(await credentials({ cache, hashKey, scope: ['other'] }).verified.recall(['alice', PASSWORD])).toBeUndefined();
  });

  it('remembers nothing when the upstream fails: every waiter gets the error, and the next login verifies again', async () => {
    const { verified, cache } = credentials({ refusedSeconds: 10 });
    const down = upstream({ down: true, delayMs: 10 });
    const settled = await Promise.allSettled(Array.from({ length: 3 }, () => verified.verdict(['alice', PASSWORD], down.verify('alice', PASSWORD))));
    expect(settled.map((s) => s.status === 'rejected' && s.reason instanceof TemporarilyUnavailableError)).toEqual([true, true, true]);
    expect(down.calls).toHaveLength(1);
    expect((cache as RecordingCache).writes).toEqual([]);
    const up = upstream();
    expect(await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD))).toEqual({ ok: true, user: 'alice' });
    expect(up.calls).toHaveLength(1);
  });

  it('keeps an accepted verdict no longer than its expiry, and does not recall it after', async () => {
    let now = Date.UTC(2026, 10, 23, 12);
    const recording = new RecordingCache();
    const exp = now / 1000 + 20;
    const { verified } = credentials({ cache: recording, expiresAt: (v) => v.exp, now: () => now });
    await verified.verdict(['alice', PASSWORD], upstream({ exp }).verify('alice', PASSWORD));
    expect(recording.writes[0]?.ttlSeconds).toBe(20);
    // Past its expiry, a verdict still in a cache (one that kept it longer) is not recalled.
    now += 21_000;
    expect(await verified.recall(['alice', PASSWORD])).toBeUndefined();
    // Already expired when verified: not written at all.
    const late = credentials({ expiresAt: (v) => v.exp, now: () => now });
    expect(await late.verified.verdict(['alice', PASSWORD], upstream({ exp }).verify('alice', PASSWORD))).toEqual({ ok: true, user: 'alice', exp });
    expect((late.cache as RecordingCache).writes).toEqual([]);
  });

  it('with acceptedSeconds 0 reads and writes nothing, so every login verifies and nothing is recalled', async () => {
    const { verified, cache } = credentials({ acceptedSeconds: 0 });
    const up = upstream();
    await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD));
    await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD));
    expect(await verified.recall(['alice', PASSWORD])).toBeUndefined();
    expect(up.calls).toHaveLength(2);
    expect((cache as RecordingCache).reads).toBe(0);
    expect((cache as RecordingCache).writes).toEqual([]);
  });

  it('verifies again when a remembered verdict is not usable to this caller, and recalls only usable ones', async () => {
    const { verified } = credentials();
    const up = upstream();
    await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD));
    const wantsExpiry = (v: Verdict) => !v.ok || v.exp !== undefined;
    expect(await verified.recall(['alice', PASSWORD], wantsExpiry)).toBeUndefined();
    await verified.verdict(['alice', PASSWORD], up.verify('alice', PASSWORD), wantsExpiry);
    expect(up.calls).toHaveLength(2);
  });

  it('stores accepted verdicts with the backend’s own encoding and reads them back with its decoding', async () => {
    const cache = new RecordingCache();
    const verified = new VerifiedCredentials<boolean, true>({
      cache,
      hashKey: randomBytes(32),
      prefix: 'flag:',
      scope: ['flag'],
      accepted: (right): right is true => right,
      acceptedSeconds: 30,
      encode: () => '1',
      decode: () => true,
    });
    expect(await verified.verdict(['alice', PASSWORD], async () => true)).toBe(true);
    expect(await verified.verdict(['alice', 'wrong'], async () => false)).toBe(false);
    expect(cache.writes).toEqual([{ key: verified.key(['alice', PASSWORD]), value: '1', ttlSeconds: 30 }]);
    expect(await verified.recall(['alice', PASSWORD])).toBe(true);
    expect(await verified.recall(['alice', 'wrong'])).toBeUndefined();
  });
});
