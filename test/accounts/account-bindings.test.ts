import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountBindings } from '../../src/accounts/account-bindings.js';
import { AccountGate } from '../../src/accounts/account-gate.js';
import { buildApp } from '../../src/app.js';
import { AuthenticatorChain } from '../../src/authn/authenticator-chain.js';
import type { AuthnResult, PasswordAuthenticator } from '../../src/authn/authenticator.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import type { LoadedKeys } from '../../src/keys/key-files.js';
import { startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';

const SECRET = 'introspection-client-secret';
const conflict = (name: string) => `account "${name}" belongs to another sign-in method; ask an administrator`;
/** The answer to a credential whose account `name` another sign-in method owns: 401, naming the conflict. */
const expectConflict = (res: { statusCode: number; json(): any }, name: string) => {
  expect(res.statusCode).toBe(401);
  expect(res.json().errors[0].message).toBe(conflict(name));
};
let keys: LoadedKeys;
let platform: FakePlatform;
let hash: string;
const password = randomBytes(9).toString('base64url');
/** Introspection answers by token. */
const tokens = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  keys = await testKeys();
  hash = await bcrypt.hash(password, 4);
  platform = await startFakePlatform();
  platform.setHandler('/introspect', (req) => {
    const claims = tokens.get(req.form?.get('token') ?? '');
    return { status: 200, body: claims ? { active: true, exp: Math.floor(Date.now() / 1000) + 3600, ...claims } : { active: false } };
  });
});
afterAll(async () => platform?.close());

/** A running app with static alice and an introspection platform; `lines` collects the log. */
async function app(extra: ConfigInput = {}) {
  const { logger, lines } = captureLog('info');
  const config = parseConfig(
    {
      // Platform tokens first (they say which they are by their form), then static users.
      authn: [
        { type: 'introspection', url: `${platform.url}/introspect`, clientId: 'wharf', clientSecretEnv: 'SECRET', usernamePolicy: 'any', tokenPattern: '^tok-' },
        { type: 'static', users: { alice: { passwordHash: hash } } },
      ],
      authz: { acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }] } },
      ...extra,
    },
    {},
  );
  const services = createServices(config, { store: tempStore(), logger, keys: keys.store, hashKey: randomBytes(32), env: { SECRET, WHARF_GITHUB_CLIENT_SECRET: 'unused' } });
  await services.start();
  const built = await buildApp(services);
  const token = (user: string, secret: string, scope: string) =>
    built.inject({ method: 'GET', url: `/token?service=registry&scope=${encodeURIComponent(scope)}`, headers: { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` } });
  return { services, app: built, token, lines, close: async () => (await built.close(), await services.close()) };
}

describe('account names', () => {
  it('refuses an introspection user whose name is no registry path component, with a message, instead of granting inside another namespace', async () => {
    const wharf = await app();
    try {
      tokens.set('tok-mallory', { username: 'alice/mallory', sub: 'u-666' });
      const res = await wharf.token('alice/mallory', 'tok-mallory', 'repository:alice/mallory/app:push,pull');
      expect(res.statusCode).toBe(401);
      const message = 'the introspection account name "alice/mallory" is not a valid registry name (lower-case letters and digits, joined by single ".", "_", "__" or "-"); ask an administrator';
      expect(res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message }], error: 'unauthorized', error_description: message });
      expect(await wharf.services.bindings.get('alice/mallory')).toBeUndefined();
    } finally {
      await wharf.close();
    }
  });

  it('binds static users at start, so a platform user named like one is refused with the conflict message and one audit line', async () => {
    const wharf = await app();
    try {
      expect(await wharf.services.bindings.get('alice')).toMatchObject({ account: 'alice', source: 'static', subject: 'alice' });
      tokens.set('tok-fake-alice', { username: 'alice', sub: 'u-7' });
      const res = await wharf.token('alice', 'tok-fake-alice', 'repository:alice/app:push');
      expectConflict(res, 'alice');
      const audit = wharf.lines.filter((l) => l.event === 'account_conflict');
      expect(audit).toEqual([expect.objectContaining({ account: 'alice', source: `introspection:${platform.url}/introspect`, ownerSource: 'static' })]);
      expect(wharf.lines.filter((l) => l.event === 'token_issued')).toEqual([]);
      // The owner still gets in.
      expect((await wharf.token('alice', password, 'repository:alice/app:push')).statusCode).toBe(200);
    } finally {
      await wharf.close();
    }
  });

  it('refuses a refresh token once its account was unbound and claimed by another sign-in method', async () => {
    const wharf = await app();
    try {
      const offline = await wharf.app.inject({
        method: 'POST',
        url: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `grant_type=password&service=registry&client_id=t&access_type=offline&username=alice&password=${password}`,
      });
      expect(offline.statusCode, offline.body).toBe(200);
      const refreshToken = offline.json().refresh_token as string;
      const redeem = () =>
        wharf.app.inject({
          method: 'POST',
          url: '/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: `grant_type=refresh_token&service=registry&client_id=t&refresh_token=${refreshToken}&scope=repository:alice/app:pull`,
        });
      expect((await redeem()).statusCode).toBe(200);
      // An operator frees the name; the platform's alice claims it first.
      expect(await wharf.services.bindings.unbind('alice')).toBe(true);
      tokens.set('tok-platform-alice', { username: 'alice', sub: 'u-8' });
      expect((await wharf.token('alice', 'tok-platform-alice', 'repository:alice/app:pull')).statusCode).toBe(200);
      const refused = await redeem();
      expectConflict(refused, 'alice');
      // Also as a Basic password (podman keeps the refresh token as the password).
      const basic = await wharf.token('alice', refreshToken, 'repository:alice/app:pull');
      expectConflict(basic, 'alice');
    } finally {
      await wharf.close();
    }
  });
});

describe('registry credentials', () => {
  it('stop working once their account was unbound and claimed by another sign-in method', async () => {
    const wharf = await app();
    try {
      const made = (source: string, subject: string) =>
        wharf.services.credentials.create(
          { account: 'bob', provider: 'oidc', subject, attributes: {}, owner: { source, subject } },
          { label: 'laptop', lifetimeSeconds: 3600, source: 'browser' },
        );
      const { secret } = await made('login:keycloak', 'sub-bob');
      expect((await wharf.token('bob', secret, 'repository:bob/app:push')).statusCode).toBe(200);
      await wharf.services.bindings.unbind('bob');
      // Someone else's `bob` at another provider signs in first and owns the name now.
      const other = await made('login:partner', 'sub-other');
      expect((await wharf.token('bob', other.secret, 'repository:bob/app:push')).statusCode).toBe(200);
      // Another scope than before: an identical request would get the answer of the last second again.
      const refused = await wharf.token('bob', secret, 'repository:bob/app:pull');
      expectConflict(refused, 'bob');
    } finally {
      await wharf.close();
    }
  });
});

describe('account bindings under concurrency', () => {
  /** A backend that proves every password as `account`, owned by `source`. */
  const backend = (source: string, account: string): PasswordAuthenticator => ({
    type: source,
    async login(): Promise<AuthnResult> {
      return { kind: 'ok', identity: { account, provider: source, subject: `${source}-user`, attributes: {}, owner: { source, subject: `${source}-user` } } };
    },
  });

  it('gives one name to one source when 200 first claims from two sources race on two handles of one store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-bindings-'));
    const first = new LmdbStore({ path: dir });
    // A second handle on the same directory, as a second Wharf process would open it.
    const second = new LmdbStore({ path: dir });
    const logger = createLogger('silent');
    const chains = [first, second].map((store, i) => new AuthenticatorChain([backend(i === 0 ? 'ldap:a' : 'login:b', 'ci-bot')], new AccountGate(new AccountBindings(store), { reserved: [], logger })));
    try {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => chains[i % 2]!.login('ci-bot', 'x', { clientIp: '127.0.0.1', service: 'registry' })));
      const winners = new Set(results.flatMap((r) => (r.kind === 'ok' ? [r.identity.provider] : [])));
      expect(winners.size).toBe(1);
      const [winner] = winners;
      expect(results.filter((r) => r.kind === 'ok')).toHaveLength(100);
      expect(results.filter((r) => r.kind === 'denied' && r.message === conflict('ci-bot'))).toHaveLength(100);
      expect((await new AccountBindings(first).get('ci-bot'))?.source).toBe(winner);
    } finally {
      await second.close();
      await first.close();
    }
  });
});

describe('providers that admit anyone on the internet', () => {
  const problems = (input: ConfigInput) => {
    try {
      parseConfig(input, {});
      return [];
    } catch (err) {
      return (err as { problems: Array<{ path: string; message: string }> }).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  it('refuses GitHub logins and github-token without allowedOrgs or allowedUsers, and Google tokens without allowedDomains, unless allowAnyAccount comes with a prefix', () => {
    expect(problems({ federation: { providers: [{ type: 'github', clientId: 'x' }] } })).toEqual([
      "federation.providers.0: this admits every GitHub user and lets them take account names other backends' users have: set allowedOrgs or allowedUsers, or allowAnyAccount: true with an accountPrefix",
    ]);
    expect(problems({ authn: [{ type: 'github-token' }] })).toEqual([
      "authn.0: this admits every GitHub user with a token and lets them take account names other backends' users have: set allowedOrgs or allowedUsers, or allowAnyAccount: true with an accountPrefix",
    ]);
    expect(problems({ authn: [{ type: 'google-token', clientIds: ['c'], accountFrom: 'email' }] })).toEqual([
      "authn.0: this admits every Google account with a token for the client and lets them take account names other backends' users have: set allowedDomains, or allowAnyAccount: true with an accountPrefix",
    ]);
    expect(problems({ federation: { providers: [{ type: 'github', clientId: 'x', allowedUsers: ['octocat'] }] } })).toEqual([]);
    expect(problems({ authn: [{ type: 'github-token', allowAnyAccount: true, accountPrefix: 'gh-' }], federation: { providers: [{ type: 'github', clientId: 'x', allowAnyAccount: true, accountPrefix: 'gh-' }] } })).toEqual([]);
    // Two sign-in methods whose prefixes overlap could produce the same name.
    expect(problems({ authn: [{ type: 'github-token', allowAnyAccount: true, accountPrefix: 'g-' }], federation: { providers: [{ type: 'google', clientId: 'x', allowAnyAccount: true, accountPrefix: 'g-' }] } })).toEqual([
      'authn.0.accountPrefix: account prefix "g-" overlaps "g-" of another sign-in method: each needs a prefix of its own',
    ]);
    expect(problems({ authn: [{ type: 'static', users: { 'Alice/x': { passwordHash: '$2b$04$' + 'a'.repeat(53) } } }] })[0]).toMatch(/^authn\.0\.users\.Alice\/x: a user name is an account and must be a lower-case registry name/);
  });

  it('refuses a name with another sign-in method’s prefix from every other backend', async () => {
    const wharf = await app({ federation: { providers: [{ type: 'github', clientId: 'x', allowAnyAccount: true, accountPrefix: 'gh-' }] } });
    try {
      tokens.set('tok-squatter', { username: 'gh-octocat', sub: 'u-9' });
      const res = await wharf.token('gh-octocat', 'tok-squatter', 'repository:gh-octocat/app:push');
      expectConflict(res, 'gh-octocat');
      expect(await wharf.services.bindings.get('gh-octocat')).toBeUndefined();
    } finally {
      await wharf.close();
    }
  });
});

describe('AccountBindings cost', () => {
  /** A real store that counts what it is asked. */
  function counted() {
    const store = tempStore();
    const calls = { get: 0, putIfAbsent: 0 };
    const wrapped = Object.assign(Object.create(store) as LmdbStore, {
      get: (key: string) => (calls.get++, store.get(key)),
      putIfAbsent: (key: string, value: string, ttl?: number) => (calls.putIfAbsent++, store.putIfAbsent(key, value, ttl)),
    });
    return { store: wrapped, calls };
  }
  const owner = { source: 'introspection:https://platform.example/introspect' };

  it('writes only a first claim: a known binding costs a read once its memo has expired, never a write', async () => {
    let now = 1_800_000_000_000;
    const { store, calls } = counted();
    const bindings = new AccountBindings(store, { now: () => now });
    expect(await bindings.claim('alice', owner)).toEqual({ kind: 'owned' });
    expect(calls.putIfAbsent).toBe(1);
    now += 10_001;
    expect(await bindings.claim('alice', owner)).toEqual({ kind: 'owned' });
    expect(await bindings.claim('alice', { source: 'static', subject: 'alice' })).toMatchObject({ kind: 'conflict', owner: { source: owner.source } });
    expect(calls.putIfAbsent).toBe(1);
  });

  it('keeps 20,000 active accounts in process, so a fleet costs the store nothing within the memo time', async () => {
    const now = 1_800_000_000_000;
    const { store, calls } = counted();
    const bindings = new AccountBindings(store, { now: () => now });
    const accounts = Array.from({ length: 20_000 }, (_, i) => `ci-job-${i}`);
    // In batches: the embedded store commits concurrent writes together.
    for (let i = 0; i < accounts.length; i += 2_000) await Promise.all(accounts.slice(i, i + 2_000).map((a) => bindings.claim(a, owner)));
    const before = { ...calls };
    for (const account of accounts) expect((await bindings.claim(account, owner)).kind).toBe('owned');
    expect(calls).toEqual(before);
  });
});

describe('identities recorded before bindings existed', () => {
  it('keep working on a free name without binding it, so the source the name really comes from can still claim it', async () => {
    const bindings = new AccountBindings(tempStore());
    const gate = new AccountGate(bindings, { reserved: [], logger: createLogger('silent') });
    // A GitHub credential made before bindings: no owner of its own, only its backend type.
    const legacy = { account: 'carol', provider: 'github', subject: '42', attributes: {} };
    expect(await gate.admit(legacy)).toEqual({ kind: 'ok' });
    expect(await bindings.get('carol')).toBeUndefined();
    // carol's directory entry signs in afresh and binds the name; the legacy record no longer fits it.
    const ldap = { account: 'carol', provider: 'ldap', subject: 'uid=carol', attributes: {}, owner: { source: 'ldap:ldaps://dir/dc=example', subject: 'uid=carol,dc=example' } };
    expect(await gate.admit(ldap)).toEqual({ kind: 'ok' });
    expect(await gate.admit(legacy)).toMatchObject({ kind: 'refused' });
  });
});
