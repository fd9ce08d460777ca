import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CredentialAuthenticator } from '../../src/credentials/registry/credential-authenticator.js';
import { CredentialStore } from '../../src/credentials/registry/credential-store.js';
import { keyedHash } from '../../src/crypto/keyed-hash.js';
import { deriveAccountName } from '../../src/domain/account-name.js';
import { tempStore } from '../support/store.js';

const alice = { account: 'alice', provider: 'github', subject: '1', attributes: { orgs: ['acme'] } };

function setup(maxDays = 90) {
  let now = 1_800_000_000_000;
  const records = tempStore(() => now);
  const store = new CredentialStore({ store: records, hashKey: randomBytes(32), maxLifetimeSeconds: maxDays * 86_400, now: () => now });
  return { store, records, auth: new CredentialAuthenticator(store), advance: (ms: number) => void (now += ms) };
}

describe('CredentialStore and CredentialAuthenticator', () => {
  it('issues a credential that logs its account in, and no other', async () => {
    const { store, auth } = setup();
    const { secret, record } = await store.create(alice, { label: 'laptop', lifetimeSeconds: 86_400, source: 'browser' });
    const result = await auth.login('alice', secret);
    expect(result.kind === 'ok' && result.identity).toMatchObject({ account: 'alice', provider: 'github', attributes: { orgs: ['acme'], credentialId: record.id } });
    expect((await auth.login('bob', secret)).kind).toBe('denied');
    expect(await auth.login('alice', 'plain-password')).toEqual({ kind: 'no_match' });
  });

  it('keeps the time its maker’s provider tokens were last confirmed when made from another credential', async () => {
    const { store, advance } = setup();
    const upstream = { provider: 'github', sealed: 'sealed-tokens', grant: 'g1' };
    const login = await store.create(alice, { label: 'login', lifetimeSeconds: 86_400, source: 'browser', upstream });
    expect(login.record.upstream?.validatedAt).toBe(login.record.createdAt);
    advance(3 * 3_600_000);
    // Made through the API from the login's credential: the provider has not been asked since.
    const child = await store.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'api', upstream: login.record.upstream });
    expect(child.record.upstream?.validatedAt).toBe(login.record.createdAt);
  });

  it('lists credentials with last use, revokes them, and expires them', async () => {
    const { store, auth, advance } = setup();
    const first = await store.create(alice, { label: 'one', lifetimeSeconds: 3600, source: 'browser' });
    advance(1000);
    const second = await store.create(alice, { label: 'two', lifetimeSeconds: 7200, source: 'device' });
    await auth.login('alice', first.secret);
    const listed = await store.list('alice');
    expect(listed.map((c) => [c.label, c.source, c.lastUsedAt !== undefined])).toEqual([
      ['two', 'device', false],
      ['one', 'browser', true],
    ]);
    expect(await store.revoke('bob', second.record.id)).toBe(false); // not bob's
    expect(await store.revoke('alice', second.record.id)).toBe(true);
    expect((await auth.login('alice', second.secret)).kind).toBe('denied');
    advance(3600 * 1000);
    expect((await auth.login('alice', first.secret)).kind).toBe('denied');
    expect(await store.list('alice')).toEqual([]);
  });

  it('lists and revokes a credential recorded in the Redis cache’s format before the store existed', async () => {
    const hashKey = randomBytes(32);
    const records = tempStore();
    const store = new CredentialStore({ store: records, hashKey, maxLifetimeSeconds: 86_400 });
    const auth = new CredentialAuthenticator(store);
    // As the cache-backed store wrote it: the record under the secret's hash, an id pointer, a JSON index.
    const secret = `wharf_cr_${randomBytes(32).toString('base64url')}`;
    const secretKey = `cred:${keyedHash(hashKey, 'credential', secret)}`;
    const record = { id: 'a1b2c3d4e5f6', identity: alice, label: 'old laptop', source: 'browser', createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 };
    await records.put(secretKey, JSON.stringify(record), 3600);
    await records.put('credid:a1b2c3d4e5f6', secretKey, 3600);
    await records.put(`credidx:${keyedHash(hashKey, 'credential-index', 'alice')}`, JSON.stringify(['a1b2c3d4e5f6']), 3600);
    expect((await auth.login('alice', secret)).kind).toBe('ok');
    expect((await store.list('alice')).map((c) => c.label)).toEqual(['old laptop']);
    expect(await store.revoke('alice', 'a1b2c3d4e5f6')).toBe(true);
    expect((await auth.login('alice', secret)).kind).toBe('denied');
    expect(await store.list('alice')).toEqual([]);
  });

  it('caps lifetimes at the maximum and stores no secret', async () => {
    const { store, records } = setup(1);
    const { secret, record } = await store.create(alice, { label: 'x', lifetimeSeconds: 30 * 86_400, source: 'browser' });
    expect(record.expiresAt - record.createdAt).toBe(86_400_000);
    const dump = JSON.stringify(await records.list(''));
    expect(dump).toContain(record.id);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(secret.slice(9, 30));
  });
});

describe('deriveAccountName', () => {
  it.each([
    ['Octocat', 'lowercase', 'octocat'],
    ['Alice.Smith@Example.com', 'email-local-part', 'alice.smith'],
    ['a_b-c', 'lowercase', 'a_b-c'],
    ['bad name', 'lowercase', undefined],
    ['-leading', 'lowercase', undefined],
    ['trailing.', 'lowercase', undefined],
    ['no-at-sign', 'email-local-part', undefined],
    ['ünicode@x.org', 'email-local-part', undefined],
    ['a'.repeat(65), 'lowercase', undefined],
  ] as const)('%s (%s) → %s', (raw, transform, expected) => {
    const derived = deriveAccountName(raw, transform);
    expect('account' in derived ? derived.account : undefined).toBe(expected);
  });
});
