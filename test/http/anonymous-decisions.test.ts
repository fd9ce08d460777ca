import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createServices, type Services } from '../../src/services.js';
import { startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

/*
 * What anonymous token requests with fresh repository names cost, against a real Redis cache and
 * a real HTTP platform: their decisions stay in process (no Redis key, no proven user's decision
 * pushed out of the first tier), their calls to the platform are bounded per address, and their
 * audit lines stay short.
 */

const SECRET = randomBytes(12).toString('hex');
const password = randomBytes(9).toString('base64url');
let redis: RedisHandle;
let redisClient: Redis;
let platform: FakePlatform;
let services: Services;
let app: FastifyInstance;
let clock = Date.UTC(2030, 0, 1);
const { logger, lines } = captureLog('info');

const authzCalls = () => platform.count('/authz');
const fresh = (n: number) => Array.from({ length: n }, () => `repository:fresh-${randomBytes(6).toString('hex')}/app:pull`);
const query = (scopes: readonly string[]) => `/token?service=registry&${scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&')}`;
const anonymous = (scopes: readonly string[], ip: string) => app.inject({ method: 'GET', url: query(scopes), remoteAddress: ip });
const asAlice = (scope: string) =>
  app.inject({ method: 'GET', url: query([scope]), headers: { authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` }, remoteAddress: '192.0.2.200' });
const firstTier = async (result: 'local' | 'shared') => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return Number(new RegExp(`wharf_cache_first_tier_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};
const access = (body: string) => JSON.parse(Buffer.from((JSON.parse(body) as { token: string }).token.split('.')[1]!, 'base64url').toString()).access as unknown[];

beforeAll(async () => {
  redis = await startRedis();
  redisClient = new Redis(redis.url);
  platform = await startFakePlatform();
  // The platform's policy: alice owns alice/*, anyone may pull hub/*; everything else is denied.
  platform.setHandler('/authz', (req) => {
    const body = req.json as { account: string; scopes: Array<{ type: string; name: string; actions: string[] }> };
    const decisions = body.scopes.flatMap((s) =>
      (body.account === 'alice' && s.name.startsWith('alice/')) || s.name.startsWith('hub/') ? [{ type: s.type, name: s.name, allowed: s.actions }] : [],
    );
    return { status: 200, body: { decisions, ttl: 600 } };
  });
  const config = parseConfig(
    {
      authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 10) } } }],
      // A first tier of 1 MB: a few thousand decisions fill it.
      cache: { type: 'redis', url: redis.url, local: { maxMegabytes: 1 } },
      authz: {
        webhook: { type: 'webhook', url: `${platform.url}/authz`, retries: 0 },
        acl: { anonymous: { pull: ['public/*'] } },
        anonymous: { cacheMegabytes: 1, webhookScopesPerMinute: 320, webhookScopesPerMinuteTotal: 100_000 },
      },
    },
    {},
  );
  services = createServices(config, {
    store: tempStore(),
    logger,
    keys: (await testKeys()).store,
    hashKey: randomBytes(32),
    env: { WHARF_AUTHZ_WEBHOOK_SECRET: SECRET },
    now: () => clock,
  });
  app = await buildApp(services);
  await services.start();
});

afterAll(() => shutDown(app, services, redisClient, platform, redis));

describe('anonymous decisions', () => {
  it('never reach Redis and never push a proven user out of the first tier', async () => {
    expect((await asAlice('repository:alice/app:pull')).statusCode).toBe(200);
    const callsAfterAlice = authzCalls();
    const keysBefore = await redisClient.dbsize();

    // 200 requests of 32 fresh names from 20 addresses (10 each: within their budget): 6,400
    // decisions, twice what the 1 MB first tier holds.
    for (let i = 0; i < 200; i++) {
      const answer = await anonymous(fresh(32), `198.51.100.${i % 20}`);
      expect(answer.statusCode).toBe(200);
      expect(access(answer.body)).toEqual([]);
    }
    expect(authzCalls() - callsAfterAlice).toBe(200);
    expect(await redisClient.dbsize()).toBe(keysBefore);

    // Alice's decision is still in process: no Redis read, no call to the platform.
    clock += 2000; // past the reuse of recent answers
    const local = await firstTier('local');
    const shared = await firstTier('shared');
    const again = await asAlice('repository:alice/app:pull');
    expect(again.statusCode).toBe(200);
    expect(access(again.body)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
    expect(await firstTier('shared')).toBe(shared);
    expect(await firstTier('local')).toBeGreaterThan(local);
    expect(authzCalls() - callsAfterAlice).toBe(200);
  });

  it('are still cached, in process: asking again costs no call', async () => {
    const scopes = ['repository:hub/base:pull', ...fresh(3)];
    const first = await anonymous(scopes, '198.51.100.77');
    const calls = authzCalls();
    clock += 2000; // past the reuse of recent answers
    const second = await anonymous(scopes, '198.51.100.78');
    expect(authzCalls()).toBe(calls);
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect(access(second.body)).toEqual([{ type: 'repository', name: 'hub/base', actions: ['pull'] }]);
  });
});

describe('anonymous calls to the platform, per address', () => {
  it('past the budget of scopes, answer 429 with Retry-After and make no call; ACL scopes and other addresses go on', async () => {
    clock += 120_000; // a new minute for everyone
    const ip = '203.0.113.9';
    // A call costs as many points as scopes it asks about: ten calls of 32 spend the 320.
    for (let i = 0; i < 10; i++) expect((await anonymous(fresh(32), ip)).statusCode).toBe(200);
    const calls = authzCalls();
    const limited = await anonymous(fresh(1), ip);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    const message = 'too many anonymous requests from your address need the registry platform; try again later, or log in';
    expect(limited.json()).toEqual({ errors: [{ code: 'TOOMANYREQUESTS', message }], error: 'too_many_requests', error_description: message });
    expect(authzCalls()).toBe(calls);
    expect(lines.at(-1)).toMatchObject({ event: 'token_denied', clientIp: ip, reason: 'over 320 anonymous scopes per minute for the authorization webhook from this address' });

    // The ACL decides public/* without the platform: not bounded.
    const publicPull = await anonymous(['repository:public/tools:pull'], ip);
    expect(publicPull.statusCode).toBe(200);
    expect(access(publicPull.body)).toEqual([{ type: 'repository', name: 'public/tools', actions: ['pull'] }]);
    // Another address has its own budget; a logged-in user has none.
    expect((await anonymous(fresh(2), '203.0.113.10')).statusCode).toBe(200);
    expect((await asAlice('repository:alice/other:pull')).statusCode).toBe(200);
    expect(authzCalls()).toBe(calls + 2);

    clock += 20_000;
    expect((await anonymous(fresh(2), ip)).headers['retry-after']).toBe('40');
    clock += 40_000;
    expect((await anonymous(fresh(2), ip)).statusCode).toBe(200);
  });

  it('count an IPv6 client by its /64', async () => {
    clock += 120_000;
    for (let i = 0; i < 10; i++) expect((await anonymous(fresh(32), `2001:db8:7:7::${(i + 1).toString(16)}`)).statusCode).toBe(200);
    expect((await anonymous(fresh(1), '2001:db8:7:7:ffff::1')).statusCode).toBe(429);
    expect((await anonymous(fresh(1), '2001:db8:7:8::1')).statusCode).toBe(200);
  });
});

describe('anonymous audit lines', () => {
  it('list what was granted in full, count the refusals by reason, and name the first 8 requested scopes', async () => {
    clock += 120_000;
    const scopes = ['repository:hub/audited:pull', ...fresh(31)];
    const before = lines.length;
    expect((await anonymous(scopes, '198.51.100.201')).statusCode).toBe(200);
    const written = lines.slice(before).filter((l) => l.event === 'token_issued');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      provider: 'anonymous',
      requested: scopes.slice(0, 8),
      requestedCount: 32,
      decisions: [{ scope: 'repository:hub/audited:pull', granted: ['pull'], source: 'webhook', reason: 'allowed by the webhook' }],
      denied: [{ source: 'webhook', reason: 'not in the webhook answer', count: 31 }],
    });
    const bytes = Buffer.byteLength(JSON.stringify(written[0]));
    // It was 5.5 KB: every one of 32 names, then each again with its refusal and reason.
    expect(bytes).toBeLessThan(1024);
  });
});
