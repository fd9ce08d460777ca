import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { waitUntil } from '../support/processes.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { tempStore } from '../support/store.js';
import { captureLog, type LogLine } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

const password = randomBytes(9).toString('base64url');
let hash: string;
beforeAll(async () => {
  hash = await bcrypt.hash(password, 4);
});

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const federation: ConfigInput['federation'] = { providers: [{ type: 'github', clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }] };

interface Started {
  app: FastifyInstance;
  services: Services;
  lines: LogLine[];
  advance(seconds: number): void;
}
const started: Started[] = [];
afterAll(async () => {
  for (const { app, services } of started) {
    await app.close();
    await services.close();
  }
});

/** Wharf with `users` (all with `password`), behind one proxy hop; log lines collected, clock injected. */
async function start(config: ConfigInput, users: string[] = ['alice']): Promise<Started> {
  let now = Date.now();
  const { logger, lines } = captureLog('info');
  const services = createServices(
    parseConfig({ server: { trustProxy: 1 }, authn: [{ type: 'static', users: Object.fromEntries(users.map((u) => [u, { passwordHash: hash }])) }], ...config }, {}),
    {
      store: tempStore(),
      logger,
      keys: (await testKeys()).store,
      hashKey: randomBytes(32),
      env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret' },
      now: () => now,
    },
  );
  const handle = { app: await buildApp(services), services, lines, advance: (s: number) => void (now += s * 1000) };
  started.push(handle);
  return handle;
}

/** A token request from `client` as the proxy in front (10.0.0.5) reports it in X-Forwarded-For. */
const login = (app: FastifyInstance, user: string, pw: string, client: string, scope = 'repository:alice/app:pull') =>
  app.inject({ method: 'GET', url: `/token?service=registry&scope=${scope}`, headers: { authorization: basic(user, pw), 'x-forwarded-for': client }, remoteAddress: '10.0.0.5' });

/** A counter's value in the /metrics text (0 when the series does not exist yet). */
async function metric(app: FastifyInstance, series: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const match = new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

const statuses = (answers: { statusCode: number }[]) => answers.map((a) => a.statusCode);
const sixtyOf = (prefix: string) => Array.from({ length: 60 }, (_, i) => `${prefix}${(i + 1).toString(16)}`);

describe('60 IPv6 addresses of one /64 behind the proxy are one address for every limit', () => {
  it('guessing one account: 10 failures, then 429 for the account; another /64 still gets in', async () => {
    const { app } = await start({});
    const answers = [];
    for (const client of sixtyOf('2001:db8:1:2::')) answers.push(await login(app, 'alice', 'guess', client));
    expect(statuses(answers)).toEqual([...Array(10).fill(401), ...Array(50).fill(429)]);
    expect(answers[59]!.json().error_description).toBe('too many failed logins for this account; try again later');
    expect((await login(app, 'alice', password, '2001:db8:1:3::1')).statusCode).toBe(200);
  });

  it('guessing many usernames: the address budget is the /64’s', async () => {
    const { app } = await start({ bruteForce: { perIp: { failures: 5 } } });
    const answers = [];
    for (const [i, client] of sixtyOf('2001:db8:5:6::').entries()) answers.push(await login(app, `nobody${i}`, 'guess', client));
    expect(statuses(answers)).toEqual([...Array(5).fill(401), ...Array(55).fill(429)]);
    expect(answers[59]!.json().error_description).toBe('too many failed logins from this address; try again later');
  });

  it('starting device logins: 20, then 429, with a log line for the first few refusals only', async () => {
    const { app, lines } = await start({ federation });
    const answers = [];
    for (const client of sixtyOf('2001:db8:9:9::')) {
      answers.push(
        await app.inject({ method: 'POST', url: '/device/code', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': client }, remoteAddress: '10.0.0.5', payload: 'client_id=wharf-cli' }),
      );
    }
    expect(statuses(answers)).toEqual([...Array(20).fill(200), ...Array(40).fill(429)]);
    expect(lines.filter((l) => l.event === 'device_code_issued')).toHaveLength(20);
    const refused = lines.filter((l) => l.event === 'start_refused');
    expect(refused.map((l) => [l.limit, l.clientIp])).toEqual(['15', '16', '17'].map((n) => ['device_starts', `2001:db8:9:9::${n}`]));
    expect(lines).toHaveLength(23);
  });
});

describe('bruteForce.perAccountTotal', () => {
  it('refuses guesses at one account from 60 addresses once its total is spent, never its owner’s remembered login', async () => {
    const { app } = await start({ bruteForce: { perAccountTotal: { failures: 10 } } }, ['alice', 'carol']);
    // alice signed in earlier: her password is remembered.
    expect((await login(app, 'alice', password, '192.0.2.1')).statusCode).toBe(200);
    for (const user of ['alice', 'carol']) {
      const answers = [];
      for (let i = 1; i <= 60; i++) answers.push(await login(app, user, `guess-${i}`, `198.51.100.${i}`));
      expect(statuses(answers)).toEqual([...Array(10).fill(401), ...Array(50).fill(429)]);
      expect(answers[59]!.json().error_description).toBe('too many failed logins for this account from many addresses; try again later');
    }
    // The owner with a remembered credential, from a new address: not limited by other people's guesses.
    expect((await login(app, 'alice', password, '203.0.113.1', 'repository:alice/other:pull')).statusCode).toBe(200);
    // A fresh login of the owner is refused until the window ends.
    const fresh = await login(app, 'carol', password, '203.0.113.2', 'repository:carol/app:pull');
    expect(fresh.statusCode).toBe(429);
    expect(Number(fresh.headers['retry-after'])).toBeGreaterThan(0);
    expect(await metric(app, 'wharf_rate_limited_total{limit="account_total"}')).toBe(101);
  });
});

describe('refused logins', () => {
  it('are logged one by one only for the first few per address: 1,000 refusals make three lines and one summary, and the metric counts them all', async () => {
    const { app, lines, advance } = await start({ bruteForce: { perIp: { failures: 1 } } });
    expect((await login(app, 'alice', 'guess', '203.0.113.50')).statusCode).toBe(401);
    for (let i = 0; i < 1000; i++) expect((await login(app, `user${i}`, 'guess', '203.0.113.50')).statusCode).toBe(429);
    expect(lines.filter((l) => l.event === 'token_denied')).toHaveLength(1 + 3);
    expect(await metric(app, 'wharf_rate_limited_total{limit="ip"}')).toBe(1000);
    // A minute later the next refusal brings the summary of the last one (and is a line of its own again).
    advance(61);
    expect((await login(app, 'alice', 'guess', '203.0.113.50')).statusCode).toBe(429);
    const summaries = lines.filter((l) => l.event === 'refusals_summarised');
    expect(summaries).toEqual([expect.objectContaining({ refused: 1000, summarised: 997, addresses: 1, byLimit: { ip: 1000 }, top: [{ address: '203.0.113.50', refused: 1000 }] })]);
    expect(lines.filter((l) => l.event === 'token_denied')).toHaveLength(1 + 3 + 1);
  });
});

describe('refused logins in the Redis the budgets share', () => {
  let redis: RedisHandle;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterAll(() => shutDown(admin, redis));

  it('leave at most a couple of keys for 2,000 random usernames from one address, most of them refused', async () => {
    const { app } = await start({ cache: { type: 'redis', url: redis.url }, bruteForce: { perIp: { failures: 3 } } });
    // Until its connection is up the limiter counts in process; wait until it counts in Redis.
    let probe = 0;
    await waitUntil('the limiter counting in Redis', async () => {
      await login(app, 'alice', 'guess', `192.0.2.${++probe}`);
      return (await admin.dbsize()) > 0 ? true : undefined;
    });
    const before = await admin.dbsize();
    const answers = [];
    for (let batch = 0; batch < 100; batch++) {
      answers.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => login(app, `random-${batch}-${i}-${randomBytes(4).toString('hex')}`, 'guess', '198.51.100.77')))));
    }
    expect(answers.filter((a) => a.statusCode === 429).length).toBeGreaterThanOrEqual(1990);
    expect((await admin.dbsize()) - before).toBeLessThanOrEqual(2);
  });
});

describe('device-login start limits', () => {
  it('cannot be reset by filling the cache with other entries', async () => {
    const { app, services } = await start({ cache: { type: 'memory', maxEntries: 100 }, federation: { ...federation!, device: { maxStartsPerIp: 2 } } });
    const code = () => app.inject({ method: 'POST', url: '/device/code', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.80' }, remoteAddress: '10.0.0.5', payload: 'client_id=wharf-cli' });
    expect(statuses([await code(), await code(), await code()])).toEqual([200, 200, 429]);
    // What anonymous traffic does to the cache: many entries of other kinds, far more than it holds.
    for (let i = 0; i < 1000; i++) await services.cache.set(`authz:${randomBytes(8).toString('hex')}`, '{}', 600);
    expect((await code()).statusCode).toBe(429);
  });
});

describe('browser-login start limits', () => {
  it('bound the starts of all addresses together, so no flood of addresses fills the pending-login space', async () => {
    const { app } = await start({ federation: { ...federation!, loginStartsTotal: 3 } });
    const begin = (client: string) => app.inject({ method: 'GET', url: '/login/github', headers: { 'x-forwarded-for': client }, remoteAddress: '10.0.0.5' });
    expect(statuses([await begin('198.51.100.1'), await begin('198.51.100.2'), await begin('198.51.100.3')])).toEqual([302, 302, 302]);
    const refused = await begin('198.51.100.4');
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });
});
