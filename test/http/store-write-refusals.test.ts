import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { shutDown } from '../support/shut-down.js';

/*
 * A store whose Redis refuses writes (full under noeviction) while it still answers PING and
 * reads: every revocation and invalidation answers 503, and /readyz and the metrics must say so,
 * naming the cause, then say ready again once Redis takes writes.
 */

const ADMIN = randomBytes(12).toString('hex');
let redis: RedisHandle;
let admin: Redis;
let services: Services;
let app: FastifyInstance;
let clock = Date.UTC(2030, 0, 1);

const readyz = async () => (await app.inject({ method: 'GET', url: '/readyz' })).json() as { status: string; checks: Record<string, string> };
const writableGauge = async () => /^wharf_store_writable (\d+)$/m.exec((await app.inject({ method: 'GET', url: '/metrics' })).body)?.[1];
const invalidate = () => app.inject({ method: 'POST', url: '/admin/invalidate', headers: { authorization: `Bearer ${ADMIN}` }, payload: { account: 'alice' } });

beforeAll(async () => {
  redis = await startRedis({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
  admin = new Redis(redis.url);
  const config = parseConfig({ store: { type: 'redis', url: redis.url } }, {});
  services = createServices(config, { logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), env: { WHARF_ADMIN_SECRET: ADMIN }, now: () => clock });
  app = await buildApp(services);
  await services.start();
});

afterAll(() => shutDown(app, services, admin, redis));

describe('a store that refuses writes', () => {
  it('shows on /readyz as degraded, naming the cause, and in wharf_store_writable; ready again once Redis takes writes', async () => {
    expect(await readyz()).toMatchObject({ status: 'ready', checks: { store: 'ok' } });
    expect(await writableGauge()).toBe('1');
    expect((await invalidate()).statusCode).toBe(204);

    await admin.config('SET', 'maxmemory', '1');
    clock += 1000;
    expect((await invalidate()).statusCode).toBe(503);
    const degraded = await readyz();
    expect(degraded.status).toBe('degraded');
    expect(degraded.checks.store).toBe('refuses writes: Redis is out of memory (used memory > maxmemory, noeviction): give it memory, or move the cache to a Redis of its own');
    expect(await writableGauge()).toBe('0');

    await admin.config('SET', 'maxmemory', '0');
    clock += 1000;
    expect(await readyz()).toMatchObject({ status: 'ready', checks: { store: 'ok' } });
    expect(await writableGauge()).toBe('1');
    expect((await invalidate()).statusCode).toBe(204);
  });
});
