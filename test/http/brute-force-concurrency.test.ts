import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { startFakePlatform, type FakePlatform, type FakeResponse } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { waitUntil } from '../support/processes.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { shutDown } from '../support/shut-down.js';

/** A whole error body. */
const errorBody = (error: string, code: string, message: string) => ({ errors: [{ code, message }], error, error_description: message });

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

async function appFor(config: ConfigInput, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; services: Services }> {
  const services = createServices(parseConfig(config, env), { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), env });
  return { app: await buildApp(services), services };
}

/** A counter's value in the /metrics text (0 when the series does not exist yet). */
async function metric(app: FastifyInstance, series: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const match = new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Calls per command since the last CONFIG RESETSTAT, from INFO commandstats. */
async function commandStats(client: Redis): Promise<Record<string, number>> {
  const stats: Record<string, number> = {};
  for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[m[1]!] = Number(m[2]);
  return stats;
}

/** The limiter's commands: its counters are Lua scripts (consume, give back) and DEL (clear on success). */
const limiterCommands = (stats: Record<string, number>) => (stats.evalsha ?? 0) + (stats.eval ?? 0) + (stats.del ?? 0);

describe('brute-force limits under concurrency, shared through Redis', () => {
  const demoPassword = randomBytes(9).toString('base64url');
  const alicePassword = randomBytes(9).toString('base64url');
  const carolPassword = randomBytes(9).toString('base64url');
  let redis: RedisHandle;
  let admin: Redis;
  let app: FastifyInstance;
  let services: Services;
  const token = (user: string, pw: string, ip: string, scope = 'repository:alice/app:pull') =>
    app.inject({ method: 'GET', url: `/token?service=registry&scope=${scope}`, headers: { authorization: basic(user, pw) }, remoteAddress: ip });

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
    ({ app, services } = await appFor({
      cache: { type: 'redis', url: redis.url },
      authn: [
        {
          type: 'static',
          users: {
            demo: { passwordHash: await bcrypt.hash(demoPassword, 10) },
            alice: { passwordHash: await bcrypt.hash(alicePassword, 10) },
            carol: { passwordHash: await bcrypt.hash(carolPassword, 10) },
          },
        },
      ],
      // The concurrency bounds out of the way: this is about the budgets.
      bruteForce: { perIp: { failures: 50, windowSeconds: 300 }, perAccount: { failures: 10, windowSeconds: 300 }, maxConcurrentPerAddress: 1000, maxConcurrentVerifications: 1000 },
    }));
    // Until its connection is up the limiter counts in process; wait until it counts in Redis.
    let probe = 0;
    await waitUntil('the limiter counting in Redis', async () => {
      await admin.config('RESETSTAT');
      await token('nobody', 'x', `192.0.2.${++probe}`);
      return limiterCommands(await commandStats(admin)) > 0 ? true : undefined;
    });
  });
  afterAll(() => shutDown(admin, app, services, redis));

  it('verifies at most the account budget of 200 concurrent guesses, refuses the rest with 429 and Retry-After, and lets another user in meanwhile', async () => {
    const verifiedBefore = await metric(app, 'wharf_credential_verifications_total{backend="static"}');
    const guesses = Array.from({ length: 200 }, (_, i) => token('demo', `wrong-${i}`, '10.7.7.7'));
    // Another user behind the same address, while the burst is under way.
    const alice = token('alice', alicePassword, '10.7.7.7');
    const answers = await Promise.all(guesses);
    expect((await alice).statusCode).toBe(200);

    const unauthorized = answers.filter((a) => a.statusCode === 401);
    const limited = answers.filter((a) => a.statusCode === 429);
    expect(unauthorized).toHaveLength(10);
    expect(limited).toHaveLength(190);
    for (const a of limited) {
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(a.headers['retry-after'])).toBeLessThanOrEqual(300);
      expect(a.json()).toEqual(errorBody('too_many_requests', 'TOOMANYREQUESTS', 'too many failed logins for this account; try again later'));
    }
    // The 10 guesses and alice's login: nothing else reached bcrypt.
    expect((await metric(app, 'wharf_credential_verifications_total{backend="static"}')) - verifiedBefore).toBe(11);
    // The right password from the guessing address is refused too, but not from another.
    expect((await token('demo', demoPassword, '10.7.7.7')).statusCode).toBe(429);
    expect((await token('demo', demoPassword, '10.8.8.8')).statusCode).toBe(200);
  });

  it('answers a credential verified earlier without a single limiter command in Redis', async () => {
    // Verified once from one address (the limiter takes and gives back its points)...
    await admin.config('RESETSTAT');
    expect((await token('carol', carolPassword, '10.9.0.1', 'repository:carol/one:pull')).statusCode).toBe(200);
    expect(limiterCommands(await commandStats(admin))).toBeGreaterThan(0);
    // ...then remembered: from another address and for another scope, nothing is verified or counted.
    const verifiedBefore = await metric(app, 'wharf_credential_verifications_total{backend="static"}');
    await admin.config('RESETSTAT');
    expect((await token('carol', carolPassword, '10.9.0.2', 'repository:carol/two:pull')).statusCode).toBe(200);
    expect(limiterCommands(await commandStats(admin))).toBe(0);
    expect(await metric(app, 'wharf_credential_verifications_total{backend="static"}')).toBe(verifiedBefore);
  });

  it('does not let an address over its budget test guesses against a remembered password', async () => {
    // alice's password is remembered; this address then spends alice's budget on guesses.
    expect((await token('alice', alicePassword, '10.9.0.4', 'repository:alice/three:pull')).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await token('alice', `guess-${i}`, '10.9.0.3')).statusCode).toBe(401);
    expect((await token('alice', 'guess-10', '10.9.0.3')).statusCode).toBe(429);
    const right = await token('alice', alicePassword, '10.9.0.3');
    expect(right.statusCode).toBe(429);
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('bounds on verifications under way', () => {
  let platform: FakePlatform;
  let app: FastifyInstance;
  let services: Services;
  /** Introspection answers held back until released, so verifications stay under way. */
  let held: Array<() => void> = [];
  const release = () => {
    for (const go of held) go();
    held = [];
  };
  const token = (tokenValue: string, ip: string, scope = 'repository:alice/app:pull') =>
    app.inject({ method: 'GET', url: `/token?service=registry&scope=${scope}`, headers: { authorization: basic('alice', tokenValue) }, remoteAddress: ip });

  beforeAll(async () => {
    platform = await startFakePlatform();
    platform.setHandler(
      '/introspect',
      () => new Promise<FakeResponse>((resolve) => held.push(() => resolve({ status: 200, body: { active: true, username: 'alice', sub: 'alice' } }))),
    );
    ({ app, services } = await appFor(
      {
        authn: [{ type: 'introspection', url: `${platform.url}/introspect`, clientId: 'wharf', retries: 0, timeoutMs: 30_000 }],
        bruteForce: { maxConcurrentPerAddress: 2, maxConcurrentVerifications: 3 },
      },
      { WHARF_INTROSPECTION_CLIENT_SECRET: 'secret' },
    ));
  });
  afterAll(async () => {
    release();
    await app?.close();
    await services?.close();
    await platform?.close();
  });

  it('refuses an address beyond its share with 429 at once and the excess over the total with 503, while the others wait for their answer', async () => {
    const first = [token('tok-a1', '10.6.0.1'), token('tok-a2', '10.6.0.1')];
    await waitUntil('two introspections under way', async () => (held.length === 2 ? true : undefined), { intervalMs: 10 });
    // The same address again: refused without waiting for the platform.
    const third = await token('tok-a3', '10.6.0.1');
    expect(third.statusCode).toBe(429);
    expect(third.headers['retry-after']).toBe('1');
    expect(third.json()).toEqual(errorBody('too_many_requests', 'TOOMANYREQUESTS', 'too many logins under way from this address; try again in a moment'));

    // Another address still gets a verification: one address cannot take every slot.
    const other = token('tok-b1', '10.6.0.2');
    await waitUntil('three introspections under way', async () => (held.length === 3 ? true : undefined), { intervalMs: 10 });
    // At the total, a fourth address is told to come back.
    const busy = await token('tok-c1', '10.6.0.3');
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json()).toEqual(errorBody('temporarily_unavailable', 'UNAVAILABLE', 'too many logins under way; try again in a moment'));
    expect(platform.count('/introspect')).toBe(3);

    release();
    for (const answer of await Promise.all([...first, other])) expect(answer.statusCode).toBe(200);
    // Slots are given back: the address that was refused gets through now.
    const again = [token('tok-a3', '10.6.0.1'), token('tok-a4', '10.6.0.1')];
    await waitUntil('the retried introspections', async () => (held.length === 2 ? true : undefined), { intervalMs: 10 });
    // With both of its slots taken again, a token the backend remembers still gets in: it is not verified.
    // (Another scope: not an answer of the last second handed out again.)
    const remembered = await token('tok-a1', '10.6.0.1', 'repository:alice/other:pull');
    expect(remembered.statusCode).toBe(200);
    expect(platform.count('/introspect')).toBe(5);
    release();
    for (const answer of await Promise.all(again)) expect(answer.statusCode).toBe(200);
  });
});
