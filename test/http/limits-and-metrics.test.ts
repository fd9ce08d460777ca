import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { LoginLimiter } from '../../src/authn/login-limiter.js';
import { parseConfig } from '../../src/config/load.js';
import { TooManyRequestsError } from '../../src/domain/errors.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { startRedis } from '../support/redis.js';

const password = randomBytes(9).toString('base64url');
let app: FastifyInstance;

/** The whole 429 body of a brute-force refusal. */
const limitedBody = (message: string) => ({ errors: [{ code: 'TOOMANYREQUESTS', message }], error: 'too_many_requests', error_description: message });

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const token = (user: string, pw: string, ip: string, scope = 'repository:alice/app:pull') =>
  app.inject({ method: 'GET', url: `/token?service=registry&scope=${scope}`, headers: { authorization: basic(user, pw) }, remoteAddress: ip });

beforeAll(async () => {
  const config = parseConfig(
    {
      authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 10) }, bob: { passwordHash: await bcrypt.hash(password, 10) } } }],
      bruteForce: { perIp: { failures: 8, windowSeconds: 60 }, perAccount: { failures: 3, windowSeconds: 60 } },
    },
    {},
  );
  const services = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32) });
  app = await buildApp(services);
});
afterAll(async () => app?.close());

describe('brute-force limits on the token endpoint', () => {
  it('answers 429 with Retry-After after too many failures for an account from one address', async () => {
    for (let i = 0; i < 3; i++) expect((await token('alice', 'wrong', '10.1.1.1')).statusCode).toBe(401);
    const limited = await token('alice', password, '10.1.1.1');
    expect(limited.statusCode).toBe(429);
    // Within the 60 s window: when the oldest failure of it stops counting.
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers['www-authenticate']).toBeUndefined();
    expect(limited.json()).toEqual(limitedBody('too many failed logins for this account; try again later'));
  });

  it('never slows the real user down from another address', async () => {
    expect((await token('alice', password, '10.2.2.2')).statusCode).toBe(200);
  });

  it('limits an address guessing across many accounts', async () => {
    for (let i = 0; i < 8; i++) await token(`user${i}`, 'guess', '10.3.3.3');
    const limited = await token('bob', password, '10.3.3.3');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual(limitedBody('too many failed logins from this address; try again later'));
    expect((await token('bob', password, '10.4.4.4')).statusCode).toBe(200);
  });

  it('clears an account’s count on success, so typos do not add up', async () => {
    for (let i = 0; i < 2; i++) await token('bob', 'typo', '10.5.5.5');
    expect((await token('bob', password, '10.5.5.5', 'repository:bob/one:pull')).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) await token('bob', 'typo', '10.5.5.5');
    // Another scope each time, so no answer of the last second is handed out again.
    expect((await token('bob', password, '10.5.5.5', 'repository:bob/two:pull')).statusCode).toBe(200);
  });

  it('clears it too when the password was remembered rather than verified', async () => {
    // Verified from elsewhere: from here on bob's password is remembered, and not verified again.
    expect((await token('bob', password, '10.6.6.6', 'repository:bob/three:pull')).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) await token('bob', 'typo', '10.5.5.6');
    expect((await token('bob', password, '10.5.5.6', 'repository:bob/four:pull')).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) await token('bob', 'typo', '10.5.5.6');
    expect((await token('bob', password, '10.5.5.6', 'repository:bob/five:pull')).statusCode).toBe(200);
  });
});

describe('GET /metrics', () => {
  it('counts token requests by outcome and grant type, cache lookups and rate-limit refusals', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('wharf_token_requests_total{outcome="issued",grant_type="get"}')).toBeGreaterThanOrEqual(4);
    expect(value('wharf_token_requests_total{outcome="unauthorized",grant_type="get"}')).toBeGreaterThanOrEqual(17);
    expect(value('wharf_token_requests_total{outcome="rate_limited",grant_type="get"}')).toBe(2);
    expect(value('wharf_rate_limited_total{limit="account"}')).toBe(1);
    expect(value('wharf_rate_limited_total{limit="ip"}')).toBe(1);
    expect(value('wharf_cache_lookups_total{kind="static",result="miss"}')).toBeGreaterThan(0);
    expect(text).toMatch(/^wharf_token_request_duration_seconds_bucket\{le="0.005",grant_type="get"\} \d+/m);
    expect(text).toContain('wharf_process_resident_memory_bytes');
  });
});

describe('LoginLimiter shared through Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    clients.forEach((c) => c.disconnect());
    await redis?.stop();
  });

  it('counts failures seen by two replicas together', async () => {
    const hashKey = randomBytes(32);
    const replica = () => {
      const client = new Redis(redis.url);
      clients.push(client);
      return new LoginLimiter({ perIp: { failures: 100, windowSeconds: 60 }, perAccount: { failures: 4, windowSeconds: 60 }, perAccountTotal: { failures: 100, windowSeconds: 60 }, hashKey, redis: client });
    };
    const [a, b] = [replica(), replica()];
    await (await a.reserve('10.9.9.9', 'carol')).failed(true);
    await (await b.reserve('10.9.9.9', 'carol')).failed(true);
    await (await a.reserve('10.9.9.9', 'carol')).failed(true);
    // The fourth is under way on b: b may not start a fifth meanwhile (another replica may: the
    // account's guesses under way are bounded per process).
    const fourth = await b.reserve('10.9.9.9', 'carol');
    await expect(b.reserve('10.9.9.9', 'carol')).rejects.toBeInstanceOf(TooManyRequestsError);
    await fourth.failed(true);
    await expect(a.reserve('10.9.9.9', 'carol')).rejects.toBeInstanceOf(TooManyRequestsError);
    const keys = await clients[0]!.keys('*');
    expect(keys.join(' ')).not.toContain('carol');
    expect(keys.join(' ')).not.toContain('10.9.9.9');
  });
});
