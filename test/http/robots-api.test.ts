import { randomBytes } from 'node:crypto';
import { sign } from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import type { Store } from '../../src/store/store.js';
import { makeAlice, type Alice } from '../support/alice.js';
import { startFakePlatform } from '../support/fake-platform.js';
import { tempStore } from '../support/store.js';

let alice: Alice;
beforeAll(async () => {
  alice = await makeAlice();
});

const adminSecret = randomBytes(16).toString('hex');
/** alice may push and pull her namespace; robots' own rules let them push and pull anything. */
const aliceRule = (actions: string[]) => ({ account: 'alice', name: 'alice/*', actions });
const robotRule = { account: 'robot-*', name: '*', actions: ['push', 'pull'] };

interface Running {
  services: Services;
  app: FastifyInstance;
}
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app.close();
    await r.services.close();
  }
});

/**
 * Wharf with these ACL rules over `store` (shared, as a config reload keeps the state); static users
 * alice, bob and `robot-ci` (a person a config happens to call so), all with alice's password.
 */
async function wharf(rules: object[], store: Store, hashKey: Buffer): Promise<Running> {
  const users = { alice: { passwordHash: alice.hash }, bob: { passwordHash: alice.hash }, 'robot-ci': { passwordHash: alice.hash } };
  const config = parseConfig({ authn: [{ type: 'static', users }], authz: { acl: { rules } } } as ConfigInput, {});
  const services = createServices(config, { store, logger: createLogger('silent'), keys: alice.keys.store, hashKey, env: { WHARF_ADMIN_SECRET: adminSecret } });
  const r = { services, app: await buildApp(services) };
  running.push(r);
  return r;
}

const basic = (account: string, secret: string) => `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}`;
const api = (r: Running, method: 'GET' | 'POST' | 'DELETE', url: string, authorization: string, payload?: object) =>
  r.app.inject({ method, url, headers: { authorization, ...(payload ? { 'content-type': 'application/json' } : {}) }, ...(payload ? { payload } : {}) });
/** What `account` with `secret` is granted on `name` (asking pull and push); the status when refused. */
async function granted(r: Running, account: string, secret: string, name: string): Promise<string[] | { status: number; message: string }> {
  const answer = await r.app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:pull,push`, headers: { authorization: basic(account, secret) } });
  if (answer.statusCode !== 200) return { status: answer.statusCode, message: answer.json<{ error_description: string }>().error_description };
  const access = decodeJwt(answer.json<{ token: string }>().token).access as Array<{ actions: string[] }>;
  return access[0]?.actions ?? [];
}
/** An unscoped credential of a person's (what `wharf login` stores): it manages. */
async function personCredential(r: Running, account: string): Promise<string> {
  const identity = { account, provider: 'static', subject: account, attributes: {}, owner: { source: 'static' } };
  return (await r.services.credentials.create(identity, { label: 'laptop', lifetimeSeconds: 86_400, source: 'device' })).secret;
}
const pushPull = (name: string) => [{ repositories: [name], actions: ['pull', 'push'] }];

describe('robot accounts', () => {
  it('a robot name cannot be claimed by any sign-in: a static user called robot-ci is refused', async () => {
    const r = await wharf([robotRule], tempStore(), randomBytes(32));
    const answer = await granted(r, 'robot-ci', alice.password, 'robot-ci/app');
    expect(answer).toEqual({ status: 401, message: expect.stringContaining('reserved for robot accounts') as unknown });
    expect(await r.services.bindings.get('robot-ci')).toBeUndefined();
  });

  it('a person makes a robot only inside their own rights (403 outside), named robot-…, with the maker recorded', async () => {
    const r = await wharf([aliceRule(['push', 'pull']), robotRule], tempStore(), randomBytes(32));
    const mine = basic('alice', await personCredential(r, 'alice'));
    const outside = await api(r, 'POST', '/api/v1/robots', mine, { name: 'ci', scope: [{ repositories: ['bob/*'], actions: ['pull'] }] });
    expect(outside.statusCode).toBe(403);
    expect(outside.json<{ error_description: string }>().error_description).toBe('a robot gets no right its maker lacks: you may not pull repository:bob/*');
    expect(await r.services.bindings.get('robot-ci')).toBeUndefined();
    const made = await api(r, 'POST', '/api/v1/robots', mine, { name: 'ci', scope: [{ repositories: ['alice/app'], actions: ['pull'] }], expiresInDays: 30 });
    expect(made.statusCode, made.body).toBe(201);
    const body = made.json<{ name: string; maker: string; secret: string; credential: { scope: unknown } }>();
    expect(body).toMatchObject({ name: 'robot-ci', maker: 'alice', credential: { scope: [{ repositories: ['alice/app'], actions: ['pull'] }] } });
    expect(await r.services.bindings.get('robot-ci')).toMatchObject({ source: 'robot', robot: { maker: 'alice' } });
    // Its own credential pulls alice/app (its scope), pushes nothing, reaches nothing else.
    expect(await granted(r, 'robot-ci', body.secret, 'alice/app')).toEqual(['pull']);
    expect(await granted(r, 'robot-ci', body.secret, 'alice/other')).toEqual([]);
    // The name is taken now.
    expect((await api(r, 'POST', '/api/v1/robots', `Bearer ${adminSecret}`, { name: 'robot-ci', scope: pushPull('x/*') })).statusCode).toBe(409);
  });

  it('a person’s robot acts within its maker’s rights and its scope, with no rule naming the robot', async () => {
    const r = await wharf([aliceRule(['push', 'pull'])], tempStore(), randomBytes(32));
    const made = await api(r, 'POST', '/api/v1/robots', basic('alice', await personCredential(r, 'alice')), { name: 'puller', scope: [{ repositories: ['alice/*'], actions: ['pull'] }] });
    expect(made.statusCode, made.body).toBe(201);
    const { secret } = made.json<{ secret: string }>();
    expect(await granted(r, 'robot-puller', secret, 'alice/app')).toEqual(['pull']);
    expect(await granted(r, 'robot-puller', secret, 'robot-puller/app')).toEqual([]);
    // An administrator's robot has no maker: it is decided in its own name, and no rule names it here.
    const adminMade = await api(r, 'POST', '/api/v1/robots', `Bearer ${adminSecret}`, { name: 'ops', scope: pushPull('alice/*') });
    expect(adminMade.statusCode, adminMade.body).toBe(201);
    expect(await granted(r, 'robot-ops', adminMade.json<{ secret: string }>().secret, 'alice/app')).toEqual([]);
  });

  it("shrinks with its maker: push lost by the maker's ACL is lost by the robot at its next token request, and a maker unbound gets it nothing", async () => {
    const store = tempStore();
    const hashKey = randomBytes(32);
    const before = await wharf([aliceRule(['push', 'pull']), robotRule], store, hashKey);
    const made = await api(before, 'POST', '/api/v1/robots', basic('alice', await personCredential(before, 'alice')), { name: 'deployer', scope: pushPull('alice/*') });
    expect(made.statusCode, made.body).toBe(201);
    const { secret } = made.json<{ secret: string }>();
    expect(await granted(before, 'robot-deployer', secret, 'alice/app')).toEqual(['pull', 'push']);
    // The config is reloaded: alice may only pull now. The robot's own rule still says push.
    const after = await wharf([aliceRule(['pull']), robotRule], store, hashKey);
    expect(await granted(after, 'robot-deployer', secret, 'alice/app')).toEqual(['pull']);
    // Rotated by an administrator, the robot's credential keeps its maker: the new secret gets no more.
    const admin = `Bearer ${adminSecret}`;
    const [listed] = (await api(after, 'GET', '/api/v1/credentials?account=robot-deployer', admin)).json<{ credentials: Array<{ id: string }> }>().credentials;
    const rotated = await api(after, 'POST', `/api/v1/credentials/${listed!.id}/rotate`, admin, { account: 'robot-deployer', retireAfterHours: 0 });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const renewed = rotated.json<{ secret: string }>().secret;
    expect(await granted(after, 'robot-deployer', renewed, 'alice/app')).toEqual(['pull']);
    // alice's name is freed (she left): her robot gets nothing.
    await after.services.bindings.unbind('alice');
    expect(await granted(after, 'robot-deployer', renewed, 'alice/app')).toEqual({ status: 401, message: expect.stringContaining('no longer belongs to that person') as unknown });
  });

  it('an administrator makes robots with any scope, no maker limit; lists all; a person lists and deletes only their own', async () => {
    const r = await wharf([aliceRule(['push', 'pull']), robotRule], tempStore(), randomBytes(32));
    const admin = `Bearer ${adminSecret}`;
    const byAdmin = await api(r, 'POST', '/api/v1/robots', admin, { name: 'mirror', scope: pushPull('library/*') });
    expect(byAdmin.statusCode, byAdmin.body).toBe(201);
    expect(byAdmin.json()).toMatchObject({ name: 'robot-mirror', maker: 'admin' });
    expect(await granted(r, 'robot-mirror', byAdmin.json<{ secret: string }>().secret, 'library/nginx')).toEqual(['pull', 'push']);
    const aliceCredential = basic('alice', await personCredential(r, 'alice'));
    const byAlice = await api(r, 'POST', '/api/v1/robots', aliceCredential, { name: 'ci', scope: pushPull('alice/app') });
    expect(byAlice.statusCode).toBe(201);
    const names = async (authorization: string) => (await api(r, 'GET', '/api/v1/robots', authorization)).json<{ robots: Array<{ name: string; maker: string }> }>().robots.map((b) => `${b.name}:${b.maker}`);
    expect(await names(admin)).toEqual(['robot-ci:alice', 'robot-mirror:admin']);
    expect(await names(aliceCredential)).toEqual(['robot-ci:alice']);
    const bobCredential = basic('bob', await personCredential(r, 'bob'));
    expect(await names(bobCredential)).toEqual([]);
    expect((await api(r, 'DELETE', '/api/v1/robots/ci', bobCredential)).statusCode).toBe(404);
    // Its maker lists, rotates and revokes its credentials on the credential API by naming it; nobody else does.
    const ofRobot = (await api(r, 'GET', '/api/v1/credentials?account=robot-ci', aliceCredential)).json<{ credentials: Array<{ id: string }> }>().credentials;
    expect(ofRobot).toHaveLength(1);
    expect((await api(r, 'GET', '/api/v1/credentials?account=robot-ci', bobCredential)).statusCode).toBe(404);
    expect((await api(r, 'POST', `/api/v1/credentials/${ofRobot[0]!.id}/rotate`, bobCredential, { account: 'robot-ci' })).statusCode).toBe(404);
    const rotated = await api(r, 'POST', `/api/v1/credentials/${ofRobot[0]!.id}/rotate`, aliceCredential, { account: 'robot-ci', retireAfterHours: 0 });
    expect(rotated.statusCode, rotated.body).toBe(200);
    expect(await granted(r, 'robot-ci', rotated.json<{ secret: string }>().secret, 'alice/app')).toEqual(['pull', 'push']);
    // An administrator lists a robot's credentials on the credential API, but makes them only with the robot.
    expect((await api(r, 'GET', '/api/v1/credentials?account=robot-ci', admin)).json<{ credentials: unknown[] }>().credentials).toHaveLength(1);
    expect((await api(r, 'POST', '/api/v1/credentials', admin, { account: 'robot-ci', label: 'more' })).statusCode).toBe(403);
    // Deleted by its maker: its credential stops, and its name is free again.
    const secret = rotated.json<{ secret: string }>().secret;
    expect((await api(r, 'DELETE', '/api/v1/robots/robot-ci', aliceCredential)).statusCode).toBe(204);
    expect(await granted(r, 'robot-ci', secret, 'alice/app')).toMatchObject({ status: 401 });
    expect(await r.services.bindings.get('robot-ci')).toBeUndefined();
    // A robot's credential manages nothing: it cannot make robots.
    const robotCredential = basic('robot-mirror', byAdmin.json<{ secret: string }>().secret);
    expect((await api(r, 'POST', '/api/v1/robots', robotCredential, { name: 'child', scope: pushPull('library/*') })).statusCode).toBe(403);
  });
});

describe('a robot name freed by an operator', () => {
  it('a person whose account is named admin is not the maker of an administrator’s robots', async () => {
    const r = await wharf([robotRule], tempStore(), randomBytes(32));
    const made = await api(r, 'POST', '/api/v1/robots', `Bearer ${adminSecret}`, { name: 'mirror', scope: pushPull('library/*') });
    expect(made.statusCode, made.body).toBe(201);
    const [credential] = (await api(r, 'GET', '/api/v1/credentials?account=robot-mirror', `Bearer ${adminSecret}`)).json<{ credentials: Array<{ id: string }> }>().credentials;
    const person = basic('admin', await personCredential(r, 'admin'));
    expect((await api(r, 'GET', '/api/v1/robots', person)).json<{ robots: unknown[] }>().robots).toEqual([]);
    expect((await api(r, 'GET', '/api/v1/credentials?account=robot-mirror', person)).statusCode).toBe(404);
    expect((await api(r, 'POST', `/api/v1/credentials/${credential!.id}/rotate`, person, { account: 'robot-mirror' })).statusCode).toBe(404);
    expect((await api(r, 'DELETE', '/api/v1/robots/mirror', person)).statusCode).toBe(404);
  });

  it('a credential deletes no robot that reaches past its own scope', async () => {
    const r = await wharf([aliceRule(['push', 'pull']), robotRule], tempStore(), randomBytes(32));
    const made = await api(r, 'POST', '/api/v1/robots', basic('alice', await personCredential(r, 'alice')), { name: 'wide', scope: pushPull('alice/*') });
    expect(made.statusCode, made.body).toBe(201);
    const identity = { account: 'alice', provider: 'static', subject: 'alice', attributes: {}, owner: { source: 'static' } };
    const narrow = await r.services.credentials.create(identity, { label: 'narrow', lifetimeSeconds: 86_400, source: 'device', scope: [{ repositories: ['alice/app'], actions: ['pull'] }, { manage: true }] });
    const refused = await api(r, 'DELETE', '/api/v1/robots/wide', basic('alice', narrow.secret));
    expect(refused.statusCode).toBe(403);
    expect(await r.services.bindings.get('robot-wide')).toBeDefined();
  });

  it('is a new robot when made again, even by the same maker: the old credential stands for nothing', async () => {
    const r = await wharf([aliceRule(['push', 'pull']), robotRule], tempStore(), randomBytes(32));
    const mine = basic('alice', await personCredential(r, 'alice'));
    const first = await api(r, 'POST', '/api/v1/robots', mine, { name: 'ci', scope: pushPull('alice/app') });
    const old = first.json<{ secret: string }>().secret;
    // `wharf accounts unbind robot-ci`: the name is freed, its credential not revoked.
    await r.services.bindings.unbind('robot-ci');
    expect(await granted(r, 'robot-ci', old, 'alice/app')).toEqual({ status: 401, message: 'robot account "robot-ci" no longer exists' });
    const again = await api(r, 'POST', '/api/v1/robots', mine, { name: 'ci', scope: pushPull('alice/app') });
    expect(again.statusCode, again.body).toBe(201);
    expect(await granted(r, 'robot-ci', again.json<{ secret: string }>().secret, 'alice/app')).toEqual(['pull', 'push']);
    expect(await granted(r, 'robot-ci', old, 'alice/app')).toMatchObject({ status: 401 });
  });
});

describe('robot accounts made in a browser session', () => {
  it('take the session and its CSRF token, and only a scope inside the person’s rights', async () => {
    const owner = { source: 'github', subject: '1' };
    const person = { account: 'alice', provider: 'github', subject: '1', attributes: {}, owner };
    const federation: ConfigInput['federation'] = { providers: [{ type: 'github', clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }] };
    const services = createServices(parseConfig({ federation, authz: { acl: { rules: [aliceRule(['push', 'pull']), robotRule] } } } as ConfigInput, {}), {
      store: tempStore(),
      logger: createLogger('silent'),
      keys: alice.keys.store,
      hashKey: randomBytes(32),
      env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret', WHARF_ADMIN_SECRET: adminSecret },
    });
    const r = { services, app: await buildApp(services) };
    running.push(r);
    await services.bindings.claim('alice', owner, { bind: true });
    const { id, session } = await services.sessions.create(person, { provider: 'github', sealed: 'opaque', grant: 'login-1', renewable: true });
    const cookie = `wharf_session=${encodeURIComponent(sign(id, services.cookieSecret))}`;
    const post = (headers: Record<string, string>, scope: object[]) =>
      r.app.inject({ method: 'POST', url: '/api/v1/robots', headers: { cookie, 'content-type': 'application/json', ...headers }, payload: { name: 'web', scope } });
    expect((await post({}, pushPull('alice/app'))).statusCode).toBe(403);
    const outside = await post({ 'x-csrf-token': session.csrf }, pushPull('team/*'));
    expect(outside.statusCode).toBe(403);
    expect(outside.json<{ error_description: string }>().error_description).toBe('a robot gets no right its maker lacks: you may not pull,push repository:team/*');
    const made = await post({ 'x-csrf-token': session.csrf }, pushPull('alice/app'));
    expect(made.statusCode, made.body).toBe(201);
    expect(await granted(r, 'robot-web', made.json<{ secret: string }>().secret, 'alice/app')).toEqual(['pull', 'push']);
  });
});

describe('a robot under a webhook', () => {
  it('loses push at its next token request once the platform stops letting its maker push', async () => {
    const platform = await startFakePlatform();
    let alicePushes = true;
    // The platform's policy: robots may push and pull alice/*; alice may pull it, and push while alicePushes.
    platform.setHandler('/authz', (req) => {
      const body = req.json as { account: string; scopes: Array<{ type: string; name: string; actions: string[] }> };
      const allowed = body.account.startsWith('robot-') || alicePushes ? ['push', 'pull'] : ['pull'];
      const decisions = body.scopes.filter((x) => x.name.startsWith('alice/') && (body.account === 'alice' || body.account.startsWith('robot-'))).map((x) => ({ type: x.type, name: x.name, allowed: x.actions.filter((a) => allowed.includes(a)) }));
      return { status: 200, body: { decisions, ttl: 1 } };
    });
    let clock = Date.UTC(2030, 0, 1);
    const config = parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: alice.hash } } }], authz: { webhook: { type: 'webhook', url: `${platform.url}/authz`, retries: 0 } } } as ConfigInput, {});
    const services = createServices(config, { store: tempStore(() => clock), logger: createLogger('silent'), keys: alice.keys.store, hashKey: randomBytes(32), env: { WHARF_AUTHZ_WEBHOOK_SECRET: 'webhook-secret' }, now: () => clock });
    const r = { services, app: await buildApp(services) };
    running.push(r);
    try {
      const made = await api(r, 'POST', '/api/v1/robots', basic('alice', await personCredential(r, 'alice')), { name: 'deployer', scope: pushPull('alice/*') });
      expect(made.statusCode, made.body).toBe(201);
      const { secret } = made.json<{ secret: string }>();
      expect(await granted(r, 'robot-deployer', secret, 'alice/app')).toEqual(['pull', 'push']);
      alicePushes = false;
      clock += 2000; // past the answers' ttl: the next request asks the platform again
      expect(await granted(r, 'robot-deployer', secret, 'alice/app')).toEqual(['pull']);
    } finally {
      await platform.close();
    }
  });
});
