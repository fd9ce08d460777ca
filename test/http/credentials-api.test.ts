import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sign } from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { requireCommand } from '../support/prerequisites.js';
import { REDIS_SERVER, startRedis, type RedisHandle } from '../support/redis.js';
import { tempStore } from '../support/store.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const owner = { source: 'github', subject: '1' };
const alice = { account: 'alice', provider: 'github', subject: '1', attributes: {}, owner };
const adminSecret = randomBytes(16).toString('hex');
const federation: ConfigInput['federation'] = { providers: [{ type: 'github', clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }] };
const DAY = 86_400_000;
/** Provider tokens to re-check the sign-in by (never opened here: no test reaches the daily re-check): not capped at a day. */
const upstream = { provider: 'github', sealed: 'opaque', grant: 'login-1', renewable: true };

const clock = { now: 1_800_000_000_000 };
let services: Services;
let app: FastifyInstance;

beforeAll(async () => {
  services = createServices(parseConfig({ federation }, {}), {
    store: tempStore(() => clock.now),
    logger: createLogger('silent'),
    keys: (await testKeys()).store,
    hashKey: randomBytes(32),
    env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret', WHARF_ADMIN_SECRET: adminSecret },
    now: () => clock.now,
  });
  app = await buildApp(services);
  await services.bindings.claim('alice', owner, { bind: true });
});
afterAll(async () => {
  await app?.close();
  await services?.close();
});

const basic = (secret: string, account = 'alice') => `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}`;
const api = (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string>, payload?: object) =>
  app.inject({ method, url, headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) }, ...(payload ? { payload } : {}) });
/** The actions a token request with this credential is granted on `name`; 401 as the status. */
async function granted(secret: string, name = 'alice/app'): Promise<string[] | number> {
  const answer = await app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:pull,push`, headers: { authorization: basic(secret) } });
  if (answer.statusCode !== 200) return answer.statusCode;
  const access = decodeJwt(answer.json<{ token: string }>().token).access as Array<{ actions: string[] }>;
  return access[0]?.actions ?? [];
}
async function signIn() {
  const { id, session } = await services.sessions.create(alice, upstream);
  return { cookie: `wharf_session=${encodeURIComponent(sign(id, services.cookieSecret))}`, csrf: session.csrf };
}
const pullOnly = [{ repositories: ['alice/app'], actions: ['pull'] }];

describe('the credential API', () => {
  it('agrees with docs/openapi.yaml: every route documented, every documented operation routed', async () => {
    await app.ready();
    const routed = new Set<string>();
    const stack: string[] = [];
    for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
      const at = line.indexOf('/');
      if (at < 0) continue;
      const depth = at / 4 - 1;
      const [, segment, methods] = /^(\S+)(?: \(([^)]*)\))?/.exec(line.slice(at))!;
      stack.length = depth;
      stack.push(segment!);
      const path = stack.join('').replace(/:(\w+)/g, '{$1}');
      if (!path.startsWith('/api/v1')) continue;
      for (const m of methods?.split(', ') ?? []) if (m !== 'HEAD') routed.add(`${m} ${path}`);
    }
    const doc = parse(readFileSync(join(ROOT, 'docs/openapi.yaml'), 'utf8')) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\.1\./);
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${path}`)));
    expect(routed.size).toBeGreaterThanOrEqual(5);
    expect([...routed].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((d) => !routed.has(d))).toEqual([]);
  });

  it('lets a signed-in browser create, list and revoke, with the CSRF token on every change', async () => {
    const browser = await signIn();
    const noCsrf = await api('POST', '/api/v1/credentials', { cookie: browser.cookie }, { label: 'ci', scope: pullOnly });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json()).toEqual({ errors: [{ code: 'DENIED', message: "send the session's CSRF token in X-CSRF-Token" }], error: 'denied', error_description: "send the session's CSRF token in X-CSRF-Token" });
    const made = await api('POST', '/api/v1/credentials', { cookie: browser.cookie, 'x-csrf-token': browser.csrf }, { label: 'ci', scope: pullOnly, expiresInDays: 5 });
    expect(made.statusCode).toBe(201);
    const { secret, id } = made.json<{ secret: string; id: string }>();
    expect(made.json()).toMatchObject({ label: 'ci', scope: pullOnly, source: 'api', expiringSoon: true, lastUsedAt: null, expiresAt: new Date(clock.now + 5 * DAY).toISOString() });
    expect(await granted(secret)).toEqual(['pull']);
    expect(await granted(secret, 'alice/other')).toEqual([]);
    const listed = await api('GET', '/api/v1/credentials', { cookie: browser.cookie });
    expect(listed.json<{ credentials: unknown[] }>().credentials).toContainEqual(expect.objectContaining({ id, label: 'ci', scope: pullOnly, lastUsedAt: new Date(clock.now).toISOString() }));
    expect((await api('DELETE', `/api/v1/credentials/${id}`, { cookie: browser.cookie })).statusCode).toBe(403);
    expect((await api('DELETE', `/api/v1/credentials/${id}`, { cookie: browser.cookie, 'x-csrf-token': browser.csrf })).statusCode).toBe(204);
    expect(await granted(secret)).toBe(401);
    expect((await api('DELETE', `/api/v1/credentials/${id}`, { cookie: browser.cookie, 'x-csrf-token': browser.csrf })).statusCode).toBe(404);
    expect((await api('GET', '/api/v1/credentials', {})).statusCode).toBe(401);
  });

  it('lets a credential with the management right make credentials inside its own scope, never wider', async () => {
    const { secret: laptop } = await services.credentials.create(alice, { label: 'laptop', lifetimeSeconds: 30 * 86_400, source: 'browser', upstream });
    // An unscoped credential has the account's full rights, management included.
    const robot = await api('POST', '/api/v1/credentials', { authorization: basic(laptop) }, { label: 'deployer', scope: [{ repositories: ['alice/*'], actions: ['pull'] }, { manage: true }], expiresInDays: 60 });
    expect(robot.statusCode).toBe(201);
    const deployer = robot.json<{ secret: string; expiresAt: string }>();
    expect(Date.parse(deployer.expiresAt)).toBe(clock.now + 30 * DAY); // no longer than the credential that made it
    const bearer = { authorization: `Bearer ${deployer.secret}` };
    const wider = await api('POST', '/api/v1/credentials', bearer, { label: 'x', scope: [{ repositories: ['alice/*'], actions: ['push'] }] });
    expect(wider.statusCode).toBe(403);
    expect(wider.json<{ error_description: string }>().error_description).toMatch(/inside its own scope/);
    expect((await api('POST', '/api/v1/credentials', bearer, { label: 'x' })).statusCode).toBe(403); // unscoped = the account's full rights
    const inside = await api('POST', '/api/v1/credentials', bearer, { label: 'ci', scope: pullOnly });
    expect(inside.statusCode).toBe(201);
    const ci = inside.json<{ secret: string; id: string }>();
    // Without the management right: nothing.
    const refused = await api('GET', '/api/v1/credentials', { authorization: basic(ci.secret) });
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ error_description: string }>().error_description).toMatch(/no management right/);
    // The laptop credential lies outside the deployer's scope: not its to revoke.
    const laptopId = (await services.credentials.list('alice')).find((c) => c.label === 'laptop')!.id;
    expect((await api('DELETE', `/api/v1/credentials/${laptopId}`, bearer)).statusCode).toBe(403);
    expect((await api('DELETE', `/api/v1/credentials/${ci.id}`, bearer)).statusCode).toBe(204);
    expect((await api('GET', '/api/v1/credentials', { authorization: `Bearer wharf_cr_${'x'.repeat(43)}` })).statusCode).toBe(401);
  });

  it('rotates without downtime and retires the earlier secret on request', async () => {
    const { secret: first, record } = await services.credentials.create(alice, { label: 'ci', lifetimeSeconds: 10 * 86_400, source: 'browser', upstream });
    const rotate = await api('POST', `/api/v1/credentials/${record.id}/rotate`, { authorization: basic(first) }, { retireAfterHours: 2 });
    expect(rotate.statusCode).toBe(200);
    const { secret: second, previousRetiresAt } = rotate.json<{ secret: string; previousRetiresAt: string }>();
    expect(previousRetiresAt).toBe(new Date(clock.now + 2 * 3_600_000).toISOString());
    expect([await granted(first), await granted(second)]).toEqual([['pull', 'push'], ['pull', 'push']]);
    expect((await api('POST', `/api/v1/credentials/${record.id}/retire-previous`, { authorization: basic(second) })).statusCode).toBe(204);
    expect([await granted(first), await granted(second)]).toEqual([401, ['pull', 'push']]);
    expect((await api('POST', `/api/v1/credentials/${record.id}/retire-previous`, { authorization: basic(second) })).statusCode).toBe(404);
  });

  it('takes admin calls for a named account, and tells an expired credential it expired', async () => {
    const admin = { authorization: `Bearer ${adminSecret}` };
    expect((await api('POST', '/api/v1/credentials', admin, { label: 'deploy host' })).statusCode).toBe(400);
    expect((await api('POST', '/api/v1/credentials', admin, { label: 'x', account: 'nobody' })).statusCode).toBe(404);
    const made = await api('POST', '/api/v1/credentials', admin, { label: 'deploy host', account: 'alice', scope: pullOnly, expiresInDays: 2 });
    expect(made.statusCode).toBe(201);
    const { secret, id } = made.json<{ secret: string; id: string }>();
    expect(await granted(secret)).toEqual(['pull']);
    const listed = await api('GET', '/api/v1/credentials?account=alice', admin);
    expect(listed.json<{ credentials: Array<{ id: string }> }>().credentials.map((c) => c.id)).toContain(id);
    clock.now += 2 * DAY;
    const expired = await app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:alice/app:pull', headers: { authorization: basic(secret) } });
    expect(expired.statusCode).toBe(401);
    expect(expired.json<{ error_description: string }>().error_description).toMatch(/^this registry credential \("deploy host"\) expired at /);
    const onApi = await api('GET', '/api/v1/credentials', { authorization: basic(secret) });
    expect(onApi.statusCode).toBe(401);
    expect(onApi.json<{ error_description: string }>().error_description).toMatch(/expired at/);
  });

  it('refuses bad input with the error body', async () => {
    const admin = { authorization: `Bearer ${adminSecret}` };
    const bad = await api('POST', '/api/v1/credentials', admin, { label: 'x', account: 'alice', scope: [{ repositories: ['alice/*'], actions: ['write'] }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^invalid credential scope: entry 0: actions must be/) as unknown });
    const form = await app.inject({ method: 'POST', url: '/api/v1/credentials', headers: { ...admin, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'label=x&account=alice' });
    expect(form.statusCode).toBe(415);
  });
});

describe('revoking through the API while the store cannot record it', () => {
  let redis: RedisHandle;
  let onRedis: Services;
  let redisApp: FastifyInstance;
  beforeAll(async () => {
    requireCommand(REDIS_SERVER, 'redis-server');
    redis = await startRedis({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
    // No store given: with a Redis cache the default store is Redis at the same URL.
    onRedis = createServices(parseConfig({ cache: { type: 'redis', url: redis.url } }, {}), { logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32) });
    redisApp = await buildApp(onRedis);
    await onRedis.store.ready?.();
  });
  afterAll(async () => {
    await redisApp?.close();
    await onRedis?.close();
    await redis?.stop();
  });

  it('answers 503 and the credential still works; revoked once the store is back', async () => {
    const { secret, record } = await onRedis.credentials.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'api' });
    const revoke = () => redisApp.inject({ method: 'DELETE', url: `/api/v1/credentials/${record.id}`, headers: { authorization: `Bearer ${secret}` } });
    await redis.halt();
    const refused = await revoke();
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
    await redis.start();
    await onRedis.store.ready?.();
    expect((await onRedis.credentials.list('alice')).map((c) => c.id)).toEqual([record.id]);
    expect((await revoke()).statusCode).toBe(204);
    expect(await onRedis.credentials.list('alice')).toEqual([]);
  });
});
