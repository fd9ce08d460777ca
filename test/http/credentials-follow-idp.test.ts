import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { CLI_CLIENT_ID } from '../../src/client/login/device-client.js';
import { parseConfig } from '../../src/config/load.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { captureLog } from '../support/log-capture.js';
import { awkwardSecret, signInAtIdp, startTestIdp, type IdpUser, type TestIdp } from '../support/oidc-idp.js';
import { tempStore } from '../support/store.js';
import { shutDown } from '../support/shut-down.js';

// Credentials from browser and device logins follow the identity provider: a real oidc-provider
// (rotating its refresh tokens, as Auth0 and Okta can) stands in for an OIDC issuer and for
// Google; Wharf runs in process on an injected clock, which is moved past the re-check interval
// (a day by default) to see what the next use of a credential finds.
const PUBLIC_URL = 'https://auth.example.com';
const DAY = 86_400_000;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const users: Record<string, IdpUser> = {
  alice: { email: 'alice@example.com', email_verified: true, preferred_username: 'alice', groups: ['devs'] },
  bob: { email: 'bob@example.com', email_verified: true, preferred_username: 'bob', groups: ['devs'] },
  carol: { email: 'carol@example.com', email_verified: true, preferred_username: 'carol', groups: ['devs'] },
  dave: { email: 'dave@example.com', email_verified: true, preferred_username: 'dave', groups: ['devs'] },
  erin: { email: 'erin@example.com', email_verified: true, preferred_username: 'erin', groups: ['devs'] },
  frank: { email: 'frank@example.com', email_verified: true, preferred_username: 'frank', groups: ['devs'] },
  gina: { email: 'gina@example.com', email_verified: true, hd: 'example.com' },
  henry: { email: 'henry@example.com', email_verified: true, preferred_username: 'henry', groups: ['devs', 'ops'] },
};

let clock = 1_800_000_000_000;
let idp: TestIdp;
let services: Services;
let app: FastifyInstance;
const log = captureLog('info');

beforeAll(async () => {
  const plainSecret = awkwardSecret();
  idp = await startTestIdp({
    redirectUris: ['sso', 'plain', 'google'].map((name) => `${PUBLIC_URL}/login/${name}/callback`),
    users,
    clients: [{ clientId: 'wharf-plain', method: 'client_secret_basic', clientSecret: plainSecret, refreshTokens: false }],
    rotateRefreshTokens: true,
  });
  const config = parseConfig(
    {
      server: { publicUrl: PUBLIC_URL },
      log: { level: 'info' },
      federation: {
        registryHost: 'registry.example.com',
        providers: [
          { type: 'oidc', name: 'sso', issuer: idp.issuer, clientId: idp.clientId, allowedGroups: ['devs', 'ops'] },
          // A client the provider gives no refresh token.
          { type: 'oidc', name: 'plain', issuer: idp.issuer, clientId: 'wharf-plain' },
          { type: 'google', issuer: idp.issuer, clientId: idp.clientId, allowedDomains: ['example.com'] },
        ],
      },
      authz: {
        acl: {
          rules: [
            { group: 'ops', name: 'ops/*', actions: ['push', 'pull'] },
            { group: 'devs', name: 'team/*', actions: ['pull'] },
            { account: '*', name: '${account}/*', actions: ['push', 'pull'] },
          ],
        },
      },
    },
    {},
  );
  const now = () => clock;
  services = createServices(config, {
    store: tempStore(now),
    logger: log.logger,
    keys: (await testKeys()).store,
    hashKey: randomBytes(32),
    env: { WHARF_SSO_CLIENT_SECRET: idp.clientSecret, WHARF_GOOGLE_CLIENT_SECRET: idp.clientSecret, WHARF_PLAIN_CLIENT_SECRET: plainSecret },
    now,
  });
  app = await buildApp(services);
});

afterAll(() => shutDown(app, services, idp));

const cookiesOf = (setCookie: string | string[] | undefined) => [setCookie ?? []].flat().map((c) => c.split(';', 1)[0]).join('; ');

/** A whole browser sign-in at `provider` as `login`: Wharf's redirect, the IdP's forms, the callback. */
async function signIn(provider: string, login: string) {
  const start = await app.inject({ method: 'GET', url: `/login/${provider}` });
  expect(start.statusCode, start.body).toBe(302);
  const callback = await signInAtIdp(start.headers.location!, login);
  const done = await app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: cookiesOf(start.headers['set-cookie']) } });
  expect(done.statusCode, done.body).toBe(302);
  const cookie = cookiesOf(done.headers['set-cookie']);
  const page = await app.inject({ method: 'GET', url: '/account', headers: { cookie } });
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1]!, page: page.body };
}

/** A credential made on the account page; its secret and the page that showed it. */
async function createCredential(browser: { cookie: string; csrf: string }, days = 30) {
  const res = await app.inject({ method: 'POST', url: '/account/credentials', headers: { ...FORM, cookie: browser.cookie }, payload: new URLSearchParams({ csrf: browser.csrf, label: 'laptop', days: String(days) }).toString() });
  expect(res.statusCode, res.body).toBe(200);
  return { secret: /<pre id="credential">([^<]+)<\/pre>/.exec(res.body)![1]!, page: res.body };
}

/** `GET /token` with the credential, as docker asks. */
function token(account: string, secret: string, ...scopes: string[]) {
  const query = ['service=registry', ...scopes.map((s) => `scope=${encodeURIComponent(s)}`)].join('&');
  return app.inject({ method: 'GET', url: `/token?${query}`, headers: { authorization: `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}` } });
}

/** The access a token answer grants. */
function access(res: { statusCode: number; body: string; json(): unknown }) {
  expect(res.statusCode, res.body).toBe(200);
  return decodeJwt((res.json() as { token: string }).token).access;
}

describe('credentials from OIDC and Google logins follow the identity provider', () => {
  it('applies groups changed at the provider once the credential is re-checked, and keeps them', async () => {
    const { secret } = await createCredential(await signIn('sso', 'alice'));
    const scopes = ['repository:team/app:pull', 'repository:ops/app:push,pull'];
    expect(access(await token('alice', secret, ...scopes))).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);

    users.alice!.groups = ['devs', 'ops'];
    clock += DAY / 2; // not due yet: the groups of the last check still apply
    expect(access(await token('alice', secret, ...scopes))).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    clock += DAY / 2; // a day after the login: re-checked through the refresh token
    const refreshes = idp.refreshes();
    const after = [{ type: 'repository', name: 'team/app', actions: ['pull'] }, { type: 'repository', name: 'ops/app', actions: ['push', 'pull'] }];
    expect(access(await token('alice', secret, ...scopes))).toEqual(after);
    expect(idp.refreshes()).toBe(refreshes + 1);
    clock += 60_000; // the next use, not due: the new groups were kept
    expect(access(await token('alice', secret, ...scopes))).toEqual(after);
    expect(idp.refreshes()).toBe(refreshes + 1);
  });

  it("makes a person's robot follow the groups their credential's re-check brings, not those of the sign-in it was made in", async () => {
    const browser = await signIn('sso', 'henry');
    const { secret } = await createCredential(browser);
    const made = await app.inject({
      method: 'POST',
      url: '/api/v1/robots',
      headers: { cookie: browser.cookie, 'x-csrf-token': browser.csrf, 'content-type': 'application/json' },
      payload: { name: 'ops-deployer', scope: [{ repositories: ['ops/*'], actions: ['push', 'pull'] }] },
    });
    expect(made.statusCode, made.body).toBe(201);
    const robot = made.json<{ secret: string }>().secret;
    const ops = [{ type: 'repository', name: 'ops/app', actions: ['push', 'pull'] }];
    expect(access(await token('robot-ops-deployer', robot, 'repository:ops/app:push,pull'))).toEqual(ops);
    users.henry!.groups = ['devs']; // henry leaves ops at the provider
    clock += DAY / 2; // nothing has asked the provider yet: the robot acts on the groups it last gave
    expect(access(await token('robot-ops-deployer', robot, 'repository:ops/app:push,pull'))).toEqual(ops);
    clock += DAY / 2; // henry's credential is due: its re-check asks the provider, and the answer is recorded
    expect(access(await token('henry', secret, 'repository:ops/app:push,pull'))).toEqual([]);
    clock += 60_000;
    expect(access(await token('robot-ops-deployer', robot, 'repository:ops/app:push,pull'))).toEqual([]);
  });

  it('revokes the credential of a user the provider no longer knows at its next use', async () => {
    const { secret } = await createCredential(await signIn('sso', 'bob'));
    expect((await token('bob', secret, 'repository:bob/app:pull')).statusCode).toBe(200);
    const bob = users.bob!;
    delete users.bob;
    try {
      clock += DAY + 60_000;
      const refused = await token('bob', secret, 'repository:bob/app:pull');
      expect(refused.statusCode).toBe(401);
      expect(await services.credentials.list('bob')).toEqual([]);
      const line = log.events('credential_revoked').find((l) => l.account === 'bob');
      expect(line).toMatchObject({ by: 'revalidation', provider: 'sso' });
      expect(String(line?.reason)).toContain('invalid_grant');
      // Revoked for good: the user coming back at the provider does not bring it back.
      users.bob = bob;
      clock += DAY;
      expect((await token('bob', secret, 'repository:bob/app:pull')).statusCode).toBe(401);
    } finally {
      users.bob = bob;
    }
  });

  it.each([
    ['a user no longer in an allowed group', 'sso', 'carol', (): void => void (users.carol!.groups = ['marketing']), 'none of the allowed groups (devs, ops)'],
    ['a Google account moved out of the allowed domain', 'google', 'gina', (): void => void (users.gina!.hd = 'elsewhere.org'), 'not in an allowed domain (example.com)'],
  ] as const)('revokes the credential of %s', async (_who, provider, login, moveAway, reason) => {
    const { secret } = await createCredential(await signIn(provider, login));
    expect((await token(login, secret, `repository:${login}/app:pull`)).statusCode).toBe(200);
    moveAway();
    clock += DAY + 60_000;
    expect((await token(login, secret, `repository:${login}/app:pull`)).statusCode).toBe(401);
    expect(await services.credentials.list(login)).toEqual([]);
    expect(String(log.events('credential_revoked').find((l) => l.account === login)?.reason)).toContain(reason);
  });

  it('keeps a credential working while the provider is down, refuses it (503, not revoked) past the grace time, and takes it back when the provider answers', async () => {
    const { secret } = await createCredential(await signIn('sso', 'dave'));
    idp.setDown(true);
    try {
      clock += DAY + 60_000;
      expect((await token('dave', secret, 'repository:dave/app:pull')).statusCode).toBe(200);
      expect(log.events('credential_revalidated').some((l) => l.account === 'dave' && l.verdict === 'unknown' && l.level === 40)).toBe(true);
      clock += 3 * DAY; // 72 h past the due re-check
      const refused = await token('dave', secret, 'repository:dave/app:pull');
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: 'the sign-in provider sso cannot be asked about this credential and last confirmed it 96 hours ago; it works again once the provider answers' });
      expect(await services.credentials.list('dave')).toHaveLength(1);
    } finally {
      idp.setDown(false);
    }
    clock += 60_000;
    expect((await token('dave', secret, 'repository:dave/app:pull')).statusCode).toBe(200);
  });

  it('keeps every credential of one login working across rotated refresh tokens', async () => {
    const browser = await signIn('sso', 'frank');
    const laptop = await createCredential(browser);
    const ci = await createCredential(browser);
    const refreshes = idp.refreshes();
    for (let day = 0; day < 3; day++) {
      clock += DAY + 60_000;
      // Each day another credential of the login is used first: it must refresh with the newest
      // refresh token, which the other's re-check received (the spent one revokes the grant).
      const [first, second] = day % 2 === 0 ? [laptop, ci] : [ci, laptop];
      expect((await token('frank', first.secret, 'repository:frank/app:pull')).statusCode).toBe(200);
      expect((await token('frank', second.secret, 'repository:frank/app:pull')).statusCode).toBe(200);
    }
    expect(await services.credentials.list('frank')).toHaveLength(2);
    expect(idp.refreshes()).toBe(refreshes + 3); // one re-check a day for the login, not one per credential
  });

  it('caps credentials from a login that gave no refresh token, on the account page and in the device answer', async () => {
    const browser = await signIn('plain', 'erin');
    expect(browser.page).toContain('Valid for (days, at most 1)');
    const created = clock;
    const { secret, page } = await createCredential(browser, 30);
    expect(page).toContain(`It expires on ${new Date(created + DAY).toISOString().replace('T', ' ').slice(0, 16)} UTC`);

    const started = await app.inject({ method: 'POST', url: '/device/code', headers: FORM, payload: `client_id=${CLI_CLIENT_ID}` });
    const { device_code, user_code } = started.json() as { device_code: string; user_code: string };
    const confirm = await app.inject({ method: 'POST', url: '/device/confirm', headers: { ...FORM, cookie: browser.cookie }, payload: new URLSearchParams({ csrf: browser.csrf, user_code }).toString() });
    expect(confirm.body).toContain('valid for 1 day,');
    const decided = await app.inject({ method: 'POST', url: '/device/decide', headers: { ...FORM, cookie: browser.cookie }, payload: new URLSearchParams({ csrf: browser.csrf, user_code, decision: 'approve' }).toString() });
    expect(decided.statusCode, decided.body).toBe(200);
    const polled = await app.inject({ method: 'POST', url: '/device/token', headers: FORM, payload: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code, client_id: CLI_CLIENT_ID }).toString() });
    expect(polled.json()).toMatchObject({ token_type: 'Bearer', expires_in: 86_400, account: 'erin' });

    expect((await token('erin', secret, 'repository:erin/app:pull')).statusCode).toBe(200);
    clock = created + DAY;
    expect((await token('erin', secret, 'repository:erin/app:pull')).statusCode).toBe(401);
  });
});
