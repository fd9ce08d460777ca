import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp } from '../../src/app.js';
import type { CallbackAuthenticator } from '../../src/authn/authenticator.js';
import type { LoginProviderEntry } from '../../src/authn/login-backend.js';
import { loginProviders } from '../../src/authn/login-registry.js';
import type { PasswordBackendEntry } from '../../src/authn/password-backend.js';
import { passwordBackends } from '../../src/authn/registry.js';
import type { Authorizer } from '../../src/authz/authorizer.js';
import type { DeciderEntry } from '../../src/authz/decider-backend.js';
import { deciders } from '../../src/authz/registry.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { builtInBackends, type BackendRegistries } from '../../src/config/schema.js';
import { BackendRegistry } from '../../src/domain/backend.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';

// A new backend is its own folder plus one registry line: here both live in this file, and
// nothing else in Wharf learns of them. The config accepts the new types (and refuses their
// mistakes with a path), the token endpoint and the login pages use them, and what they offer
// (a circuit, shutdown) is found by the server.

const teamTokenSchema = z.strictObject({
  type: z.literal('team-token'),
  /** Team name → its token (the secret itself comes from the environment variable named here). */
  teams: z.record(z.string(), z.string()),
});

const closed: string[] = [];
const teamToken: PasswordBackendEntry<typeof teamTokenSchema> = {
  schema: teamTokenSchema,
  create: (config, deps) => {
    const tokens = new Map(Object.entries(config.teams).map(([team, env]) => [team, deps.readSecret(`${team} token`, { env })]));
    return {
      type: 'team-token',
      async login(username, password) {
        const expected = tokens.get(username);
        if (expected === undefined) return { kind: 'no_match' };
        if (password !== expected) return { kind: 'denied', reason: 'wrong team token' };
        return { kind: 'ok', identity: { account: username, provider: 'team-token', subject: username, attributes: {} } };
      },
      circuitState: () => 'closed' as const,
      close: async () => void closed.push('team-token'),
    };
  },
  preflight: async (config, context) => Object.keys(config.teams).length ? [] : [{ severity: 'warning', path: `${context.path}.teams`, message: 'no teams' }],
};

// A SAML-style provider: the browser is posted back with a form carrying RelayState.
const formLoginSchema = z.strictObject({ type: z.literal('form-login'), name: z.string().optional(), displayName: z.string().default('Form IdP') });
const formLogin: LoginProviderEntry<typeof formLoginSchema> = {
  schema: formLoginSchema,
  create: (config): CallbackAuthenticator => ({
    name: config.name ?? 'form-login',
    type: 'form-login',
    displayName: config.displayName,
    stateParameter: 'RelayState',
    callback: 'form-post',
    prepare: () => ({ requestId: randomBytes(8).toString('hex') }),
    loginUrl: async (redirectUri, transaction) => `https://idp.example.com/sso?acs=${encodeURIComponent(redirectUri)}&RelayState=${transaction.state}&id=${transaction.secrets.requestId}`,
    handleCallback: async (callback, transaction) => {
      const assertion = callback.form?.assertion;
      // Stands for a signed assertion answering this login's request.
      if (!assertion || callback.form?.inResponseTo !== transaction.secrets.requestId) return { kind: 'denied', reason: 'assertion not for this login' };
      return { kind: 'ok', identity: { account: assertion, provider: 'form-login', subject: assertion, attributes: {} } };
    },
  }),
};

// A backend that makes prefixed account names, and defines some in its config (a list, not a
// record: what a backend's `users` are is its own business). It says so in its entry, and the
// account checks learn it from there.
const partnerTokenSchema = z.strictObject({
  type: z.literal('partner-token'),
  accountPrefix: z.string().optional(),
  users: z.array(z.string()).default([]),
});
const partnerToken: PasswordBackendEntry<typeof partnerTokenSchema> = {
  schema: partnerTokenSchema,
  create: () => ({ type: 'partner-token', login: async () => ({ kind: 'no_match' }) }),
  accounts: { source: () => 'partner', prefix: (config) => config.accountPrefix, names: (config) => config.users.map((name, i) => ({ name, path: ['users', i] })) },
};

// A decider that decides locally, from its config: a plain Authorizer, without a circuit or a cache.
const allowListSchema = z.strictObject({ type: z.literal('allow-list'), pull: z.array(z.string()) });
const allowList: DeciderEntry<typeof allowListSchema> = {
  schema: allowListSchema,
  create: (config): Authorizer => ({
    authorize: async (request) =>
      request.scopes.map((scope) =>
        config.pull.includes(scope.name)
          ? { scope, granted: scope.actions.filter((a) => a === 'pull'), source: 'allow-list', matched: true, reason: 'listed' }
          : { scope, granted: [], source: 'allow-list', matched: false, reason: 'not listed' },
      ),
  }),
};

const backends: BackendRegistries = {
  ...builtInBackends,
  passwordBackends: new BackendRegistry([...passwordBackends.entries, teamToken, partnerToken]) as unknown as BackendRegistries['passwordBackends'],
  loginProviders: new BackendRegistry([...loginProviders.entries, formLogin]) as unknown as BackendRegistries['loginProviders'],
  deciders: new BackendRegistry([...deciders.entries, allowList]) as unknown as BackendRegistries['deciders'],
};

const TEAM_TOKEN = randomBytes(12).toString('base64url');
const PUBLIC_URL = 'https://auth.example.com';
let app: FastifyInstance;
let services: Services;

beforeAll(async () => {
  const config = parseConfig(
    {
      server: { publicUrl: PUBLIC_URL },
      authn: [{ type: 'team-token', teams: { platform: 'PLATFORM_TEAM_TOKEN' } }],
      authz: { acl: { rules: [{ account: 'platform', name: 'platform/*', actions: ['pull', 'push'] }] } },
      federation: { providers: [{ type: 'form-login' }] },
    },
    {},
    'registry test',
    backends,
  );
  const keys = await testKeys();
  services = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: keys.store, hashKey: randomBytes(32), env: { PLATFORM_TEAM_TOKEN: TEAM_TOKEN }, backends });
  app = await buildApp(services);
});

afterAll(async () => {
  await app?.close();
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('a password backend registered through the registry alone', () => {
  it('is a config type, whose mistakes are reported with their path, and unknown to the built-in config', () => {
    const bad = () => parseConfig({ authn: [{ type: 'team-token', teams: { platform: 1 } }] }, {}, 'test', backends);
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([{ path: 'authn.0.teams.platform', message: expect.stringMatching(/string/) }]);
    }
    expect(() => parseConfig({ authn: [{ type: 'team-token', teams: {} }] }, {})).toThrow(ConfigError);
  });

  it('logs users in at the token endpoint: a token for the right secret, 401 for a wrong one', async () => {
    const ok = await app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:platform/app:pull,push', headers: { authorization: basic('platform', TEAM_TOKEN) } });
    expect(ok.statusCode).toBe(200);
    expect(decodeJwt(ok.json().token as string)).toMatchObject({ sub: 'platform', access: [{ type: 'repository', name: 'platform/app', actions: ['pull', 'push'] }] });
    const wrong = await app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:platform/app:pull', headers: { authorization: basic('platform', 'guess') } });
    expect(wrong.statusCode).toBe(401);
  });

  it('has its circuit on /readyz, found by the server without naming the backend', async () => {
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json().checks['team-token']).toBe('circuit closed');
  });
});

describe('a browser-login provider that posts the browser back', () => {
  it('signs in through a form callback carrying its own state parameter', async () => {
    const start = await app.inject({ method: 'GET', url: '/login/form-login' });
    expect(start.statusCode).toBe(302);
    const location = new URL(start.headers.location as string);
    expect(location.origin + location.pathname).toBe('https://idp.example.com/sso');
    expect(location.searchParams.get('acs')).toBe(`${PUBLIC_URL}/login/form-login/callback`);
    const loginCookie = [start.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('wharf_login='));
    // Posted from the provider's site: the cookie must travel on a cross-site POST.
    expect(loginCookie).toMatch(/SameSite=None/);
    expect(loginCookie).toMatch(/Secure/);
    const form = new URLSearchParams({ RelayState: location.searchParams.get('RelayState')!, assertion: 'sam', inResponseTo: location.searchParams.get('id')! });
    const back = await app.inject({ method: 'POST', url: '/login/form-login/callback', payload: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie!.split(';', 1)[0]! } });
    expect(back.statusCode).toBe(302);
    expect([back.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith('wharf_session='))).toBe(true);
  });

  it('refuses a posted callback whose state is not the browser’s', async () => {
    const start = await app.inject({ method: 'GET', url: '/login/form-login' });
    const loginCookie = [start.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('wharf_login='))!;
    const form = new URLSearchParams({ RelayState: 'someone-elses', assertion: 'sam', inResponseTo: 'x' });
    const back = await app.inject({ method: 'POST', url: '/login/form-login/callback', payload: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie.split(';', 1)[0]! } });
    expect(back.statusCode).toBe(400);
    expect([back.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith('wharf_session='))).toBe(false);
  });
});

describe('shutdown', () => {
  it('closes what the registered backend opened', async () => {
    await app.close();
    await services.close();
    expect(closed).toEqual(['team-token']);
  });
});

describe('a new backend’s account names', () => {
  const problems = (input: Record<string, unknown>) => {
    try {
      parseConfig(input, {}, 'test', backends);
      return [];
    } catch (err) {
      return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  it('are checked for overlaps with other sign-in methods’ prefixes, from what its entry declares', () => {
    const github = { type: 'github-token', allowAnyAccount: true, accountPrefix: 'gh-' };
    expect(problems({ authn: [github, { type: 'partner-token', accountPrefix: 'gh-' }] })).toEqual([
      'authn.1.accountPrefix: account prefix "gh-" overlaps "gh-" of another sign-in method: each needs a prefix of its own',
    ]);
    expect(problems({ authn: [github, { type: 'partner-token', accountPrefix: 'gh-p-' }] })).toHaveLength(1);
    expect(problems({ authn: [github, { type: 'partner-token', accountPrefix: 'pt-', users: ['pt-ok', 'gh-octocat'] }] })).toEqual([
      'authn.1.users.1: user name starts with "gh-", the account prefix of another sign-in method',
    ]);
    expect(problems({ authn: [{ type: 'static', users: { 'pt-admin': { passwordHash: '$2b$04$' + 'a'.repeat(53) } } }, { type: 'partner-token', accountPrefix: 'pt-' }] })).toEqual([
      'authn.0.users.pt-admin: user name starts with "pt-", the account prefix of another sign-in method',
    ]);
  });

  it('keep its prefix to itself at sign-in: another backend’s user with that prefix is refused', async () => {
    const config = parseConfig({ authn: [{ type: 'team-token', teams: { 'pt-squatter': 'SQUATTER_TOKEN' } }, { type: 'partner-token', accountPrefix: 'pt-' }] }, {}, 'test', backends);
    const secret = randomBytes(12).toString('base64url');
    const own = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), env: { SQUATTER_TOKEN: secret }, backends });
    const ownApp = await buildApp(own);
    try {
      const res = await ownApp.inject({ method: 'GET', url: '/token?service=registry&scope=repository:pt-squatter/app:pull', headers: { authorization: basic('pt-squatter', secret) } });
      expect(res.statusCode).toBe(401);
      expect(res.json().errors[0].message).toBe('account "pt-squatter" belongs to another sign-in method; ask an administrator');
    } finally {
      await ownApp.close();
      await own.close();
    }
  });

  it('cannot be forgotten: an entry whose schema has an accountPrefix must declare it', () => {
    const undeclared = { ...partnerToken, accounts: undefined };
    expect(() => new BackendRegistry([undeclared])).toThrow('the backend type "partner-token" has an accountPrefix setting but declares no accounts.prefix in its registry entry');
  });
});

describe('a local decider registered through the registry alone', () => {
  it('decides in the chain before the ACL, with no circuit and no cache of its own', async () => {
    const config = parseConfig(
      { authn: [{ type: 'team-token', teams: { platform: 'PLATFORM_TEAM_TOKEN' } }], authz: { deciders: [{ type: 'allow-list', pull: ['base/alpine'] }, { type: 'acl' }], acl: { rules: [{ account: 'platform', name: 'platform/*', actions: ['push'] }] } } },
      {},
      'test',
      backends,
    );
    const own = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), env: { PLATFORM_TEAM_TOKEN: TEAM_TOKEN }, backends });
    const ownApp = await buildApp(own);
    try {
      const res = await ownApp.inject({
        method: 'GET',
        url: '/token?service=registry&scope=repository:base/alpine:pull,push&scope=repository:platform/app:push&scope=repository:other/x:pull',
        headers: { authorization: basic('platform', TEAM_TOKEN) },
      });
      expect(res.statusCode).toBe(200);
      expect(decodeJwt(res.json().token as string).access).toEqual([
        { type: 'repository', name: 'base/alpine', actions: ['pull'] },
        { type: 'repository', name: 'platform/app', actions: ['push'] },
      ]);
      const checks = (await ownApp.inject({ method: 'GET', url: '/readyz' })).json().checks as Record<string, string>;
      expect(Object.keys(checks).filter((k) => k.startsWith('authz'))).toEqual([]);
    } finally {
      await ownApp.close();
      await own.close();
    }
  });
});
