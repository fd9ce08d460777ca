import { X509Certificate } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importX509, jwtVerify, createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { toJwk, type KeyStore, type SigningKey } from '../../src/keys/keys.js';
import { TokenMinter } from '../../src/tokens/minter.js';
import { testKeys } from '../support/keys.js';

const access = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

/** One user pulling their own repository: a distinct (subject, access) pair per `i`. */
const pull = (i: number, lifetimeSeconds = 300) => ({ subject: `user-${i}`, audience: 'registry', access: [{ type: 'repository', name: `user-${i}/app`, actions: ['pull'] }], lifetimeSeconds });

/** Mints pairs `from` to `to` (500 at a time), each request `msApart` after the last; how many were reused. */
async function mintRange(minter: TokenMinter, clock: { now: number }, from: number, to: number, msApart: number, lifetimeSeconds = 300): Promise<number> {
  let reused = 0;
  for (let i = from; i < to; i += 500) {
    const batch = Array.from({ length: Math.min(500, to - i) }, (_, k) => {
      clock.now += msApart;
      return minter.mint(pull(i + k, lifetimeSeconds));
    });
    reused += (await Promise.all(batch)).filter((m) => m.reused).length;
  }
  return reused;
}

/** The token as an answer writes it: the key's `header.` bytes, then the payload, a dot and the signature. */
const answerBytes = (minted: { headerDot: Buffer; payload: string; signature: string }) => `${minted.headerDot.toString('latin1')}${minted.payload}.${minted.signature}`;

describe('TokenMinter', () => {
  it.each(['ES256', 'RS256'] as const)('mints %s tokens a verifier accepts with the registry claims', async (alg) => {
    const { store } = await testKeys(alg);
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    const minter = new TokenMinter(store, { issuer: 'wharf-test', includeX5c: true, now: () => now });
    const minted = await minter.mint({ subject: 'alice', audience: 'registry', access, lifetimeSeconds: 300 });

    const header = decodeProtectedHeader(minted.token);
    expect(header).toMatchObject({ typ: 'JWT', alg, kid: store.current().kid });
    expect(header.x5c).toEqual(store.current().x5c);

    const leaf = new X509Certificate(Buffer.from(header.x5c![0]!, 'base64'));
    const { payload } = await jwtVerify(minted.token, await importX509(leaf.toString(), alg), {
      issuer: 'wharf-test',
      audience: 'registry',
      currentDate: new Date(now),
    });
    expect(payload).toMatchObject({ sub: 'alice', aud: 'registry', iat: now / 1000, nbf: now / 1000, exp: now / 1000 + 300, access });
    expect(typeof payload.aud).toBe('string');
    expect(payload.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(minted.expiresIn).toBe(300);
    expect(Date.parse(minted.issuedAtText)).toBe(now);
  });

  it('says when each token was issued, over more issue times than it keeps texts for', async () => {
    const { store } = await testKeys();
    let now = Date.UTC(2026, 10, 23, 12);
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: false, reuseFraction: 0, now: () => now });
    for (let second = 0; second < 700; second++) {
      now = Date.UTC(2026, 10, 23, 12) + second * 1000 + 999;
      const minted = await minter.mint({ subject: 's', audience: 'a', access: [], lifetimeSeconds: 60 });
      expect(minted.issuedAtText).toBe(new Date(Math.floor(now / 1000) * 1000).toISOString());
    }
  });

  it('gives every minted token its own jti', async () => {
    const { store } = await testKeys();
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, reuseFraction: 0 });
    const jtis = new Set((await Promise.all(Array.from({ length: 200 }, () => minter.mint({ subject: 's', audience: 'a', access: [], lifetimeSeconds: 60 })))).map((m) => m.jti));
    expect(jtis.size).toBe(200);
  });

  it('hands out the same token for the same request within the reuse window, with the truth about what is left', async () => {
    const { store } = await testKeys();
    let now = Date.UTC(2026, 10, 23, 12);
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, reuseFraction: 0.1, now: () => now });
    const request = { subject: 'alice', audience: 'registry', access, lifetimeSeconds: 300 };
    const first = await minter.mint(request);
    now += 20_000;
    const again = await minter.mint(request);
    expect(again).toMatchObject({ token: first.token, jti: first.jti, reused: true, expiresIn: 280 });
    // The reused answer says when its token was issued, not when it was handed out again.
    expect(again.issuedAtText).toBe('2026-11-23T12:00:00.000Z');
    expect((await minter.mint({ ...request, subject: 'bob' })).token).not.toBe(first.token);
    expect((await minter.mint({ ...request, access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] })).token).not.toBe(first.token);
    now += 11_000; // past 10 % of 300 s
    const fresh = await minter.mint(request);
    expect(fresh.reused).toBe(false);
    expect(fresh.issuedAtText).toBe('2026-11-23T12:00:31.000Z');
    expect(fresh.jti).not.toBe(first.jti);
    expect(fresh.expiresIn).toBe(300);
  });

  it('signs once per subject and access for a fleet of 5,000 active subjects, and takes its bytes and no more past that', async () => {
    const { store } = await testKeys();
    let now = Date.UTC(2026, 10, 23, 12);
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, reuseCacheBytes: 4 * 1024 * 1024, now: () => now });
    const request = (i: number) => pull(i);
    const first = await Promise.all(Array.from({ length: 5_000 }, (_, i) => minter.mint(request(i))));
    now += 5_000;
    const again = await Promise.all(Array.from({ length: 5_000 }, (_, i) => minter.mint(request(i))));
    // Every one handed out again, byte for byte (the payload is rebuilt, the header is the key's).
    expect(again.filter((m) => m.reused)).toHaveLength(5_000);
    expect(again.map((m) => m.token)).toEqual(first.map((m) => m.token));
    expect(again[0]!.expiresIn).toBe(295);
    await expect(jwtVerify(again[4_999]!.token, await importX509(new X509Certificate(Buffer.from(store.current().x5c[0]!, 'base64')).toString(), 'ES256'), { currentDate: new Date(now) })).resolves.toBeDefined();
    // A flood of distinct subjects: the table is allocated whole at start and never grows.
    expect(minter.reuseCacheBytes()).toBe(4 * 1024 * 1024);
    for (let i = 5_000; i < 60_000; i += 1_000) await Promise.all(Array.from({ length: 1_000 }, (_, k) => minter.mint(request(i + k))));
    expect(minter.reuseCacheBytes()).toBe(4 * 1024 * 1024);
  });

  it('holds over 100,000 distinct tokens for reuse in its default 16 MiB', async () => {
    const { store } = await testKeys();
    const clock = { now: Date.UTC(2026, 10, 23, 12) };
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, now: () => clock.now });
    expect(minter.reuseCacheBytes()).toBe(16 * 1024 * 1024);
    // 110,000 users pulling, 0.1 ms apart (11 s), then all of them again within the 30 s window.
    expect(await mintRange(minter, clock, 0, 110_000, 0.1)).toBe(0);
    // Some digests crowd a set past its 8 slots; all but those few are handed out again.
    expect(await mintRange(minter, clock, 0, 110_000, 0.1)).toBeGreaterThan(105_000);
  });

  it('still reuses what it holds when a fleet goes round more subjects than it has slots (evicting the oldest would sign every time)', async () => {
    const { store } = await testKeys();
    const clock = { now: Date.UTC(2026, 10, 23, 12) };
    // 1 MiB holds 10,080 tokens, against a round of 20,000 pairs at 1,000 requests a second: a round
    // takes 20 s, well within the 360 s reuse window of hour-long tokens.
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, reuseCacheBytes: 1024 * 1024, now: () => clock.now });
    const rounds: number[] = [];
    for (let r = 0; r < 4; r++) rounds.push(await mintRange(minter, clock, 0, 20_000, 1, 3600));
    expect(rounds[0]).toBe(0);
    // What it holds is asked for again: about half the round, as the table is half of it.
    for (const reused of rounds.slice(1)) expect(reused).toBeGreaterThan(8_000);
  });

  it('gives the slots of tokens whose reuse window is over to a new fleet at once', async () => {
    const { store } = await testKeys();
    const clock = { now: Date.UTC(2026, 10, 23, 12) };
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, reuseCacheBytes: 1024 * 1024, now: () => clock.now });
    await mintRange(minter, clock, 0, 8_000, 1); // the old fleet fills most of the table
    clock.now += 30_000; // its windows (30 s of 300 s tokens) are over
    expect(await mintRange(minter, clock, 8_000, 16_000, 1)).toBe(0);
    // The new fleet took the old one's slots, not one newcomer in eight.
    expect(await mintRange(minter, clock, 8_000, 16_000, 1)).toBeGreaterThan(7_000);
  });

  it('never hands out a token the previous signing key signed, and reuses again under the new key', async () => {
    const es = (await testKeys('ES256')).store.current();
    const es2 = (await testKeys('ES256')).store.current();
    const rs = (await testKeys('RS256')).store.current();
    let signing: SigningKey = es;
    const store: KeyStore = { current: () => signing, verificationKeys: () => [signing], rootBundlePem: () => '' };
    const now = Date.UTC(2026, 10, 23, 12);
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: false, now: () => now });
    const request = pull(1);
    const first = await minter.mint(request);
    expect((await minter.mint(request)).reused).toBe(true);
    for (const next of [es2, rs]) {
      signing = next;
      const rotated = await minter.mint(request);
      expect(rotated).toMatchObject({ reused: false, kid: next.kid });
      expect(rotated.jti).not.toBe(first.jti);
      await expect(jwtVerify(rotated.token, next.publicKey, { currentDate: new Date(now) })).resolves.toBeDefined();
      // Tables hold the new key's signatures, RS256's four times the size of ES256's.
      const again = await minter.mint(request);
      expect(again).toMatchObject({ token: rotated.token, reused: true, kid: next.kid });
      await expect(jwtVerify(again.token, next.publicKey, { currentDate: new Date(now) })).resolves.toBeDefined();
    }
  });

  it('omits x5c when told to and keeps the kid', async () => {
    const { store } = await testKeys();
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: false });
    const header = decodeProtectedHeader((await minter.mint({ subject: '', audience: 'a', access: [], lifetimeSeconds: 60 })).token);
    expect(header.x5c).toBeUndefined();
    expect(header.kid).toBe(store.current().kid);
  });

  it('never lets a token outlive its signing certificate', async () => {
    const { store } = await testKeys();
    const notAfter = store.current().notAfter.getTime();
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true, now: () => notAfter - 100_000 });
    const minted = await minter.mint({ subject: 's', audience: 'a', access: [], lifetimeSeconds: 3600 });
    expect(minted.expiresIn).toBe(100);
  });

  it('keeps class on plugin resources and verifies against the JWKS', async () => {
    const { store } = await testKeys('ES256', 'thumbprint');
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: false });
    const token = (await minter.mint({ subject: 's', audience: 'a', access: [{ type: 'repository', class: 'plugin', name: 'p', actions: ['pull'] }], lifetimeSeconds: 60 })).token;
    const jwks = createLocalJWKSet({ keys: store.verificationKeys().map(toJwk) });
    const { payload } = await jwtVerify(token, jwks);
    expect(payload.access).toEqual([{ type: 'repository', class: 'plugin', name: 'p', actions: ['pull'] }]);
    // A forged token (payload swapped) fails verification.
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'mallory' })).toString('base64url')}.${s}`;
    await expect(compactVerify(forged, jwks)).rejects.toThrow();
  });

  it('reuses a token only for exactly its claims, whatever the subject and names hold, and hands it out verifiable', async () => {
    const { store } = await testKeys();
    const jwks = createLocalJWKSet({ keys: store.verificationKeys().map(toJwk) });
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true });
    // Requests whose parts, run together, read the same: each must get a token saying what it asked.
    const requests = [
      { subject: 'a"b\\c', audience: 'registry', access: [{ type: 'repository', name: 'x', actions: ['pull', 'push'] }] },
      { subject: 'a"b\\c', audience: 'registry', access: [{ type: 'repository', name: 'x', actions: ['pullpush'] }] },
      { subject: 'a"b\\c', audience: 'registry', access: [{ type: 'repository', name: 'x', actions: ['pull'] }, { type: 'repository', name: 'x', actions: ['push'] }] },
      { subject: 'a"b\\cregistry', audience: '', access: [{ type: 'repository', name: 'x', actions: ['pull', 'push'] }] },
      { subject: 'a"b\\c', audience: 'registry', access: [{ type: 'repository', class: 'plugin', name: 'x', actions: ['pull', 'push'] }] },
      { subject: 'a"b\\c', audience: 'registry', access: [] },
      // Non-ASCII, and longer than the minter's first payload buffer: written whole, as UTF-8.
      { subject: 'ålice-Ω-😀', audience: 'registry', access: [{ type: 'repository', name: `ø😀/${'é'.repeat(3000)}`, actions: ['pull'] }] },
    ].map((r) => ({ ...r, lifetimeSeconds: 300 }));
    for (const request of requests) {
      const first = await minter.mint(request);
      const again = await minter.mint(request);
      expect(again).toMatchObject({ token: first.token, reused: true });
      const { payload } = await jwtVerify(again.token, jwks);
      expect({ sub: payload.sub, aud: payload.aud, access: payload.access }).toEqual({ sub: request.subject, aud: request.audience, access: request.access });
    }
    expect(new Set(await Promise.all(requests.map(async (r) => (await minter.mint(r)).jti))).size).toBe(requests.length);
  });

  it.each(['ES256', 'RS256'] as const)('mints %s tokens with their certificate chain that verify against the JWKS, new and reused, as the answer writes them', async (alg) => {
    const { store } = await testKeys(alg);
    const jwks = createLocalJWKSet({ keys: store.verificationKeys().map(toJwk) });
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true });
    const minted = await Promise.all(Array.from({ length: 60 }, (_, i) => minter.mint(pull(i))));
    const again = await Promise.all(Array.from({ length: 60 }, (_, i) => minter.mint(pull(i))));
    expect(again.every((m) => m.reused)).toBe(true);
    for (const [i, m] of [...minted, ...again].entries()) {
      expect(answerBytes(m)).toBe(m.token);
      expect((await jwtVerify(m.token, jwks)).payload.sub).toBe(`user-${i % 60}`);
    }
    expect(again.map((m) => m.token)).toEqual(minted.map((m) => m.token));
    await minter.close();
  });

  it('signs each token with its own key and header when the key is rotated while signatures are under way', async () => {
    const one = (await testKeys('ES256')).store.current();
    const two = (await testKeys('RS256')).store.current();
    let signing: SigningKey = one;
    const store: KeyStore = { current: () => signing, verificationKeys: () => [one, two], rootBundlePem: () => '' };
    const jwks = createLocalJWKSet({ keys: store.verificationKeys().map(toJwk) });
    const minter = new TokenMinter(store, { issuer: 'i', includeX5c: true });
    // Asked for in one turn: the first key's tokens are still being signed when the key changes.
    const before = Array.from({ length: 5 }, (_, i) => minter.mint(pull(i)));
    signing = two;
    const after = Array.from({ length: 5 }, (_, i) => minter.mint(pull(100 + i)));
    const tokens = await Promise.all([...before, ...after]);
    for (const [i, minted] of tokens.entries()) {
      const key = i < 5 ? one : two;
      expect(minted.kid).toBe(key.kid);
      expect(decodeProtectedHeader(minted.token)).toMatchObject({ alg: key.alg, kid: key.kid, x5c: key.x5c });
      // The answer carries the token's own header, not the key that was current when it was signed.
      expect(answerBytes(minted)).toBe(minted.token);
      await expect(jwtVerify(minted.token, jwks)).resolves.toBeDefined();
    }
    await minter.close();
  });
});
