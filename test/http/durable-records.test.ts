import { randomBytes } from 'node:crypto';
import { sign } from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

/** A whole error body. */
const errorBody = (error: string, code: string, message: string) => ({ errors: [{ code, message }], error, error_description: message });

const alice = { account: 'alice', provider: 'github', subject: '1', attributes: { orgs: ['acme'] } };
const adminSecret = randomBytes(16).toString('hex');
const federation: ConfigInput['federation'] = { providers: [{ type: 'github', clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }] };

async function start(config: ConfigInput, options: { withStore?: boolean } = {}) {
  const services = createServices(parseConfig(config, {}), {
    ...(options.withStore ? { store: tempStore() } : {}),
    logger: createLogger('silent'),
    keys: (await testKeys()).store,
    hashKey: randomBytes(32),
    env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret', WHARF_INTROSPECTION_CLIENT_SECRET: 'platform-secret', WHARF_ADMIN_SECRET: adminSecret },
  });
  return { services, app: await buildApp(services) };
}

/** A signed-in browser: its session is created as the callback creates it, and its cookie signed as Wharf signs it. */
async function signIn(services: Services) {
  const { id, session } = await services.sessions.create(alice);
  return { cookie: `wharf_session=${encodeURIComponent(sign(id, services.cookieSecret))}`, csrf: session.csrf };
}

const pull = (app: FastifyInstance, secret: string) =>
  app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:alice/app:pull', headers: { authorization: `Basic ${Buffer.from(`alice:${secret}`).toString('base64')}` } });

const form = (app: FastifyInstance, url: string, browser: { cookie: string }, body: Record<string, string>) =>
  app.inject({ method: 'POST', url, headers: { cookie: browser.cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, payload: new URLSearchParams(body).toString() });

describe('revocations on the Redis store while Redis is down', () => {
  let redis: RedisHandle;
  let services: Services;
  let app: FastifyInstance;

  beforeAll(async () => {
    redis = await startRedis({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
    // No store given: with a Redis cache the default store is Redis at the same URL.
    // The introspection backend only gives platform tokens a cache entry that invalidation must drop.
    const introspection = { type: 'introspection' as const, url: 'http://127.0.0.1:9/introspect', tokenPattern: '^plat_' };
    ({ services, app } = await start({ cache: { type: 'redis', url: redis.url }, authn: [introspection], federation }));
    await services.store.ready?.();
  });
  afterAll(() => shutDown(app, services, redis));

  it('answers 503 and changes nothing; what was revoked while Redis was up stays revoked', async () => {
    const browser = await signIn(services);
    const early = await services.credentials.create(alice, { label: 'early', lifetimeSeconds: 86_400, source: 'browser' });
    const late = await services.credentials.create(alice, { label: 'late', lifetimeSeconds: 86_400, source: 'browser' });
    expect((await pull(app, late.secret)).statusCode).toBe(200);
    expect((await form(app, `/account/credentials/${early.record.id}/revoke`, browser, { csrf: browser.csrf })).body).toContain('Credential revoked.');
    expect((await pull(app, early.secret)).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready', checks: { store: 'ok' } });

    await redis.halt();
    const revoke = await form(app, `/account/credentials/${late.record.id}/revoke`, browser, { csrf: browser.csrf });
    expect(revoke.statusCode).toBe(503);
    expect(revoke.headers['content-type']).toContain('text/html');
    expect(revoke.body).toContain('nothing was changed');
    expect(revoke.body).not.toContain('Credential revoked');
    const logout = await form(app, '/logout', browser, { csrf: browser.csrf });
    expect(logout.statusCode).toBe(503);
    expect(logout.headers['set-cookie']).toBeUndefined(); // the browser keeps its session: it was told logout failed
    const invalidate = await app.inject({ method: 'POST', url: '/admin/invalidate', headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' }, payload: { account: 'alice' } });
    expect(invalidate.statusCode).toBe(503);
    expect(invalidate.json()).toEqual(errorBody('temporarily_unavailable', 'UNAVAILABLE', 'the state store is unavailable; try again shortly'));
    // A platform token's cached introspection would be back with Redis: not reported dropped either.
    const dropToken = await app.inject({ method: 'POST', url: '/admin/invalidate', headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' }, payload: { token: 'plat_revoked' } });
    expect(dropToken.statusCode).toBe(503);
    expect(dropToken.json()).toEqual(errorBody('temporarily_unavailable', 'UNAVAILABLE', 'the shared cache is unreachable; nothing was invalidated there, try again shortly'));
    // Nothing can say whether a credential was revoked meanwhile: no token, in either direction.
    expect((await pull(app, late.secret)).statusCode).toBe(503);
    expect((await pull(app, early.secret)).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'degraded', checks: { store: 'unreachable' } });

    await redis.start();
    await services.store.ready?.();
    expect((await pull(app, late.secret)).statusCode).toBe(200); // never reported revoked
    expect((await pull(app, early.secret)).statusCode).toBe(401); // revoked while up: for good
    const page = await app.inject({ method: 'GET', url: '/account', headers: { cookie: browser.cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('late');
    expect(page.body).not.toContain('early');
  });

  it('answers 503 to a refresh-token revocation instead of a 200 that Redis would undo, and revokes for good once it can', async () => {
    const revoke = (token: string) =>
      app.inject({ method: 'POST', url: '/token/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${encodeURIComponent(token)}` });
    const token = await services.refreshTokens.issue(alice, 'registry');
    await redis.halt();
    const down = await revoke(token);
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual(errorBody('temporarily_unavailable', 'UNAVAILABLE', 'the state store is unavailable; try again shortly'));
    await redis.start();
    await services.store.ready?.();
    // Never reported revoked, so still live; revoked now, and that holds.
    expect((await services.refreshTokens.redeem(token, 'registry'))?.identity.account).toBe('alice');
    expect((await revoke(token)).statusCode).toBe(200);
    expect(await services.refreshTokens.redeem(token, 'registry')).toBeUndefined();
  });
});

describe('unauthenticated login starts', () => {
  it('cannot evict a credential or a browser session, however many there are', async () => {
    const { services, app } = await start({ cache: { type: 'memory', maxEntries: 100 }, federation }, { withStore: true });
    const browser = await signIn(services);
    const credential = await services.credentials.create(alice, { label: 'laptop', lifetimeSeconds: 86_400, source: 'browser' });
    for (let i = 0; i < 150; i++) {
      const started = await app.inject({ method: 'GET', url: '/login/github', remoteAddress: `10.9.${i >> 8}.${i & 255}` });
      expect(started.statusCode).toBe(302);
    }
    expect((await pull(app, credential.secret)).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/account', headers: { cookie: browser.cookie } })).statusCode).toBe(200);
    await app.close();
    await services.close();
  });

  it('are limited per address: 429 with Retry-After, as a page', async () => {
    const { services, app } = await start({ federation: { ...federation!, loginStartsPerIp: 3 } }, { withStore: true });
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/login/github', remoteAddress: '10.8.0.1' })).statusCode).toBe(302);
    const refused = await app.inject({ method: 'GET', url: '/login/github', remoteAddress: '10.8.0.1' });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.body).toContain('Too many sign-ins were started from your address');
    expect((await app.inject({ method: 'GET', url: '/login/github', remoteAddress: '10.8.0.2' })).statusCode).toBe(302);
    await app.close();
    await services.close();
  });

  it('of device logins are refused as JSON for the CLI, per address and overall', async () => {
    const { services, app } = await start({ federation: { ...federation!, device: { maxStartsPerIp: 2, maxStartsTotal: 3 } } }, { withStore: true });
    const code = (ip: string) => app.inject({ method: 'POST', url: '/device/code', remoteAddress: ip, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'client_id=wharf-cli' });
    expect((await code('10.7.0.1')).statusCode).toBe(200);
    expect((await code('10.7.0.1')).statusCode).toBe(200);
    const perAddress = await code('10.7.0.1');
    expect(perAddress.statusCode).toBe(429);
    expect(perAddress.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(perAddress.json()).toEqual(errorBody('too_many_requests', 'TOOMANYREQUESTS', 'too many device logins started from this address; wait a few minutes'));
    expect((await code('10.7.0.2')).statusCode).toBe(200);
    const overall = await code('10.7.0.3');
    expect(overall.statusCode).toBe(429);
    expect(Number(overall.headers['retry-after'])).toBeGreaterThan(0);
    expect(overall.json()).toEqual(errorBody('too_many_requests', 'TOOMANYREQUESTS', 'too many device logins started; wait a few minutes'));
    await app.close();
    await services.close();
  });
});

describe('a Redis store that could lose records', () => {
  it('is named at start in a warning line and in /readyz, which says degraded', async () => {
    const redis = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    const { logger, lines } = captureLog('info');
    const services = createServices(parseConfig({ cache: { type: 'redis', url: redis.url } }, {}), { logger, keys: (await testKeys()).store, hashKey: randomBytes(32) });
    const app = await buildApp(services);
    try {
      await services.start();
      expect(lines.filter((l) => l.event === 'store_at_risk').map((l) => l.warning)).toEqual([
        expect.stringContaining('appendonly is off'),
        expect.stringContaining('maxmemory-policy is allkeys-lru'),
      ]);
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ status: 'degraded', checks: { cache: 'ok', store: expect.stringMatching(/appendonly is off.*; .*allkeys-lru/) } });
    } finally {
      await app.close();
      await services.close();
      await redis.stop();
    }
  });
});
