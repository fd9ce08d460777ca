import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RefreshTokenStore } from '../../src/credentials/refresh/refresh-token-store.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { tempStore } from '../support/store.js';

const alice = { account: 'alice', provider: 'static', subject: 'alice', attributes: {} };

function setup(maxAgeSeconds = 3600) {
  let now = 1_700_000_000_000;
  const store = tempStore(() => now);
  const tokens = new RefreshTokenStore({ store, hashKey: randomBytes(32), maxAgeSeconds, now: () => now });
  let revocations = 0;
  tokens.whenRevoked(() => revocations++);
  return { tokens, store, advance: (ms: number) => void (now += ms), revocations: () => revocations };
}

describe('RefreshTokenStore', () => {
  it('issues opaque prefixed tokens that redeem to their identity, repeatedly (no rotation)', async () => {
    const { tokens } = setup();
    const token = await tokens.issue(alice, 'registry', { binding: 'fp' });
    expect(token).toMatch(/^wharf_rt_[A-Za-z0-9_-]{43}$/);
    expect((await tokens.redeem(token, 'registry'))?.identity).toEqual(alice);
    expect((await tokens.redeem(token, 'registry'))?.provenance.binding).toBe('fp');
  });

  it('binds a token to its service', async () => {
    const { tokens } = setup();
    const token = await tokens.issue(alice, 'registry');
    expect(await tokens.redeem(token, 'other-registry')).toBeUndefined();
  });

  it('refuses unknown, tampered and revoked tokens', async () => {
    const { tokens } = setup();
    const token = await tokens.issue(alice, 'registry');
    expect(await tokens.redeem(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'registry')).toBeUndefined();
    expect(await tokens.redeem('not-a-token', 'registry')).toBeUndefined();
    expect(await tokens.revoke(token)).toBe(true);
    expect(await tokens.redeem(token, 'registry')).toBeUndefined();
    expect(await tokens.revoke(token)).toBe(false);
  });

  it('expires tokens at their maximum age, however often they are used', async () => {
    const { tokens, advance } = setup(100);
    const token = await tokens.issue(alice, 'registry');
    advance(60_000);
    expect((await tokens.redeem(token, 'registry'))?.identity).toEqual(alice);
    advance(41_000);
    expect(await tokens.redeem(token, 'registry')).toBeUndefined();
  });

  it('gives a token made from another the family’s original end, not a fresh life', async () => {
    const { tokens, advance } = setup(100);
    const first = await tokens.issue(alice, 'registry');
    advance(90_000);
    const second = await tokens.issue(alice, 'registry', (await tokens.redeem(first, 'registry'))!.provenance);
    advance(9_000);
    expect((await tokens.redeem(second, 'registry'))?.identity).toEqual(alice);
    advance(2_000);
    expect(await tokens.redeem(second, 'registry')).toBeUndefined();
  });

  it('revokes the whole family when any of its tokens is revoked, and leaves other logins alone', async () => {
    const { tokens } = setup();
    const first = await tokens.issue(alice, 'registry');
    const second = await tokens.issue(alice, 'registry', (await tokens.redeem(first, 'registry'))!.provenance);
    const third = await tokens.issue(alice, 'registry', (await tokens.redeem(second, 'registry'))!.provenance);
    const otherLogin = await tokens.issue(alice, 'registry');
    expect(await tokens.revoke(third)).toBe(true);
    expect(await tokens.redeem(first, 'registry')).toBeUndefined();
    expect(await tokens.redeem(second, 'registry')).toBeUndefined();
    expect((await tokens.redeem(otherLogin, 'registry'))?.identity).toEqual(alice);
  });

  it('announces only real revocations (an unknown token flushes nothing)', async () => {
    const { tokens, revocations } = setup();
    expect(await tokens.revoke(`wharf_rt_${randomBytes(32).toString('base64url')}`)).toBe(false);
    expect(await tokens.revoke('garbage')).toBe(false);
    expect(revocations()).toBe(0);
    await tokens.revoke(await tokens.issue(alice, 'registry'));
    expect(revocations()).toBe(1);
  });

  it('answers 503 when a revocation cannot be recorded, and does not announce it', async () => {
    const { tokens, store, revocations } = setup();
    const token = await tokens.issue(alice, 'registry');
    await store.close();
    await expect(tokens.revoke(token)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(revocations()).toBe(0);
  });

  it('stores only a keyed hash of the token', async () => {
    const { tokens, store } = setup();
    const token = await tokens.issue(alice, 'registry');
    const records = await store.list('');
    expect(records.map((r) => r.key.replace(/:.*/, ''))).toEqual(['rt', 'rtfam']);
    expect(records.find((r) => r.key.startsWith('rt:'))!.key).toMatch(/^rt:[0-9a-f]{64}$/);
    expect(JSON.stringify(records)).not.toContain(token.slice(9));
  });
});
