import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { startRedis } from '../support/redis.js';
import { shutDown } from '../support/shut-down.js';

// Redis going away must not take the token endpoint with it: the in-process fallback answers,
// readiness says degraded, and nothing hangs.
describe('when Redis goes down', () => {
  const password = randomBytes(9).toString('base64url');
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let services: Services;
  let app: FastifyInstance;
  const token = () =>
    app.inject({
      method: 'GET',
      url: '/token?service=registry&scope=repository:alice/app:pull',
      headers: { authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` },
    });

  beforeAll(async () => {
    redis = await startRedis();
    const config = parseConfig({ cache: { type: 'redis', url: redis.url }, authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 10) } } }] }, {});
    services = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32) });
    app = await buildApp(services);
    await services.start();
  });
  afterAll(() => shutDown(app, services, redis));

  it('keeps issuing tokens from the in-process fallback and reports itself degraded', async () => {
    expect((await token()).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready', checks: { cache: 'ok', invalidations: 'listening' } });

    await redis.stop();
    // A hang (a command queued behind a dead connection) would never settle; commands must fail
    // fast so the fallback answers. The deadline only tells a hang from an answer.
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
    const during = await Promise.race([token(), hung]);
    expect(during).not.toBe('hung');
    expect(during !== 'hung' && during.statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'degraded', checks: { cache: expect.stringContaining('unreachable'), invalidations: 'not subscribed (in-process copies trusted for 1 s)' } });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/wharf_cache_lookups_total\{kind="static",result="(hit|miss)"\}/);
  });
});
