import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformSecrets, startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { httpGet, startProcess, waitUntil, type ManagedProcess } from '../support/processes.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { WHARF_BIN, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// What traffic that proves nothing costs, measured on the compiled server in its own process, as
// an attacker would send it: for 30 s, anonymous requests with 32 fresh repository scopes each,
// logins with random usernames and device-login starts, from many client addresses (IPv4, and
// random addresses of one IPv6 /64), behind one trusted proxy hop. The store is on a Redis of its
// own limited to 16 MB with `noeviction`, as docs/operations.md asks (the cache on another Redis
// that may evict). Afterwards what proven users hold must still work and still be writable, and
// the store's Redis, Wharf's memory and its log grew by little.

const FLOOD_SECONDS = 30;
/** Client addresses of the flood (documentation ranges, only ever sent as X-Forwarded-For). */
const IPV4 = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}`);
const IPV6_64 = '2001:db8:77:1';
const FLOODER = IPV4[0]!;

/** The V8 flags production runs with (the Kubernetes manifest's NODE_OPTIONS): a heap cap, a small young generation, one V8 helper thread. */
const PRODUCTION_NODE_OPTIONS = /name: NODE_OPTIONS\s+value: (.+)/.exec(readFileSync(new URL('../../deploy/wharf-deployment.yaml', import.meta.url), 'utf8'))![1]!.trim();

function randomIpv6(): string {
  const group = () => randomBytes(2).readUInt16BE().toString(16);
  return `${IPV6_64}:${group()}:${group()}:${group()}:${group()}`;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Resident memory of a process, in bytes. */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

async function redisFacts(redis: Redis): Promise<{ usedMemory: number; keys: number }> {
  const info = await redis.info('memory');
  return { usedMemory: Number(/used_memory:(\d+)/.exec(info)![1]), keys: await redis.dbsize() };
}

describe('hostile traffic: what proves nothing costs little and touches nothing proven users hold', () => {
  const secrets = { ...platformSecrets(), WHARF_GITHUB_CLIENT_SECRET: randomBytes(12).toString('hex') };
  const alicePassword = randomBytes(12).toString('hex');
  const platformTokens = new Map<string, string>();
  const tokenOf = (user: string) => {
    const token = `plat_${user}_${randomBytes(16).toString('hex')}`;
    platformTokens.set(token, user);
    return token;
  };
  let work: string;
  let redis: RedisHandle;
  let cacheRedis: RedisHandle;
  let client: Redis;
  let cacheClient: Redis;
  /** Log bytes by event, to say what grew when the log did. */
  const logByEvent = new Map<string, number>();
  let platform: FakePlatform;
  let wharf: ManagedProcess;
  let url: string;
  let pool: Pool;
  let logBytes = 0;
  let aliceRefresh: string;
  const bobToken = tokenOf('bob');
  const tally: Record<string, Record<number, number>> = { anonymous: {}, login: {}, device: {} };

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await pool.request({ method: 'GET', path, headers });
    return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
  };
  const post = async (path: string, form: Record<string, string>, headers: Record<string, string> = {}) => {
    const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
    return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
  };
  const from = (address: string) => ({ 'x-forwarded-for': address });

  beforeAll(async () => {
    requireCommand('/usr/bin/redis-server', 'redis-server');
    work = await mkdtemp(join(tmpdir(), 'wharf-hostile-'));
    redis = await startRedis({ persistence: true, args: ['--maxmemory', '16mb', '--maxmemory-policy', 'noeviction'] });
    cacheRedis = await startRedis({ args: ['--maxmemory', '16mb', '--maxmemory-policy', 'allkeys-lru'] });
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    cacheClient = new Redis(cacheRedis.url, { maxRetriesPerRequest: 1 });
    platform = await startFakePlatform();
    platform.setHandler('/introspect', (req) => {
      const user = platformTokens.get(req.form?.get('token') ?? '');
      return { status: 200, body: user ? { active: true, username: user, scope: 'registry' } : { active: false } };
    });
    platform.setHandler('/authz', (req) => {
      const body = req.json as { account: string; scopes: Array<{ type: string; name: string; actions: string[] }> };
      // The platform's policy: an account owns `<account>/*`; anyone may pull `flood/*`.
      const decisions = body.scopes
        .filter((s) => (body.account !== '' && s.name.startsWith(`${body.account}/`)) || s.name.startsWith('flood/'))
        .map((s) => ({ type: s.type, name: s.name, allowed: s.name.startsWith('flood/') ? ['pull'] : ['pull', 'push'] }));
      return { status: 200, body: { decisions, ttl: 300 } };
    });

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const config = await writeConfig(
      {
        server: { port, trustProxy: 1, publicUrl: url },
        dataDir: join(work, 'data'),
        cache: { type: 'redis', url: cacheRedis.url },
        store: { type: 'redis', url: redis.url },
        log: { level: 'info' },
        authn: [
          { type: 'static', users: { alice: { passwordHash: await bcrypt.hash(alicePassword, 4) } } },
          { type: 'introspection', url: `${platform.url}/introspect`, retries: 0 },
        ],
        authz: {
          acl: { rules: [{ account: 'alice', name: 'alice/*', actions: ['push', 'pull'] }], anonymous: { pull: ['public/*'] } },
          webhook: { type: 'webhook', url: `${platform.url}/authz`, retries: 0 },
        },
        federation: {
          providers: [{ type: 'github', clientId: 'Iv1.hostile', webUrl: platform.url, apiUrl: platform.url, allowedOrgs: ['acme'] }],
        },
      },
      work,
    );
    wharf = await startProcess(process.execPath, [WHARF_BIN, 'serve', '--config', config], { cwd: work, env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: PRODUCTION_NODE_OPTIONS, ...secrets } });
    let partial = '';
    wharf.child.stdout!.on('data', (d: string) => {
      logBytes += Buffer.byteLength(d);
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const event = /"event":"([^"]+)"/.exec(line)?.[1] ?? /"msg":"([^"]{0,40})/.exec(line)?.[1] ?? 'other';
        logByEvent.set(event, (logByEvent.get(event) ?? 0) + Buffer.byteLength(line) + 1);
      }
    });
    await waitUntil('wharf answers', async () => ((await httpGet(`${url}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), { process: wharf });
    pool = new Pool(url, { connections: 32, pipelining: 1 });

    // Proven users before the flood: alice holds a refresh token, bob's decisions are cached.
    const login = await post('/token', { grant_type: 'password', username: 'alice', password: alicePassword, service: 'registry', scope: 'repository:alice/app:pull', access_type: 'offline' });
    expect(login.status, login.body).toBe(200);
    aliceRefresh = (JSON.parse(login.body) as { refresh_token: string }).refresh_token;
    expect(aliceRefresh).toBeTruthy();
    const bob = await get('/token?service=registry&scope=repository:bob/app:pull', { authorization: basic('bob', bobToken) });
    expect(bob.status, bob.body).toBe(200);
  }, 60_000);

  afterAll(() => shutDown(pool, wharf, client, cacheClient, platform, redis, cacheRedis, work));

  it('floods for 30 s; afterwards memory, Redis and the log grew little, and proven users are unharmed', async () => {
    const anonymousOnce = async (address: string) => {
      const scopes = Array.from({ length: 32 }, () => `scope=repository:flood/${randomBytes(6).toString('hex')}:pull`).join('&');
      return (await get(`/token?service=registry&${scopes}`, from(address))).status;
    };
    const loginOnce = async (address: string) =>
      (await get('/token?service=registry&scope=repository:x/y:pull', { ...from(address), authorization: basic(`u${randomBytes(6).toString('hex')}`, randomBytes(9).toString('hex')) })).status;
    const deviceOnce = async (address: string) => (await post('/device/code', { client_id: 'wharf-cli', registry: 'registry.example.com' }, from(address))).status;

    // Warm: one round of each kind, then the baseline.
    for (const address of IPV4.slice(1, 4)) {
      await anonymousOnce(address);
      await loginOnce(address);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const before = { rss: rssOf(wharf.pid), redis: await redisFacts(client), cache: await redisFacts(cacheClient), log: logBytes };
    logByEvent.clear();

    const deadline = Date.now() + FLOOD_SECONDS * 1000;
    const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!;
    const addressOf = () => (Math.random() < 0.25 ? randomIpv6() : pick(IPV4));
    const stream = async (kind: keyof typeof tally, once: () => Promise<number>) => {
      // Bounded in time and in count.
      for (let n = 0; n < 200_000 && Date.now() < deadline; n++) {
        const status = await once().catch(() => 0);
        tally[kind]![status] = (tally[kind]![status] ?? 0) + 1;
      }
    };
    await Promise.all([
      ...Array.from({ length: 8 }, () => stream('anonymous', () => anonymousOnce(addressOf()))),
      ...Array.from({ length: 8 }, () => stream('login', () => loginOnce(addressOf()))),
      ...Array.from({ length: 4 }, () => stream('device', () => deviceOnce(Math.random() < 0.5 ? FLOODER : addressOf()))),
    ]);
    const after = { rss: rssOf(wharf.pid), redis: await redisFacts(client), cache: await redisFacts(cacheClient), log: logBytes };
    const MB = 2 ** 20;
    const grown = {
      rssMB: (after.rss - before.rss) / MB,
      redisMB: (after.redis.usedMemory - before.redis.usedMemory) / MB,
      keys: after.redis.keys - before.redis.keys,
      logMB: (after.log - before.log) / MB,
      cacheRedis: { MB: (after.cache.usedMemory - before.cache.usedMemory) / MB, keys: after.cache.keys - before.cache.keys },
    };
    const logTop = [...logByEvent].sort((a, b) => b[1] - a[1]).slice(0, 6);
    console.log('hostile traffic:', JSON.stringify({ tally, grown, logTop }));

    // The flood was real: every kind was sent many times and refused past its bounds.
    for (const kind of Object.keys(tally)) expect(Object.values(tally[kind]!).reduce((a, b) => a + b, 0), kind).toBeGreaterThan(500);
    expect(tally.login![429], 'logins refused by a budget').toBeGreaterThan(100);
    expect(tally.device![429], 'device starts refused by the start limit').toBeGreaterThan(100);
    // Nothing failed as a server error: every answer is a grant, a 401 or a limit.
    for (const kind of Object.keys(tally)) expect(Object.keys(tally[kind]!).filter((s) => s === '0' || s.startsWith('5')), kind).toEqual([]);

    expect(grown.rssMB, 'Wharf resident memory growth, MB').toBeLessThan(30);
    expect(grown.redisMB, "the store's Redis used_memory growth, MB").toBeLessThan(4);
    expect(grown.keys, "the store's Redis key count growth").toBeLessThan(50);
    expect(grown.logMB, `log growth, MB (by event: ${JSON.stringify(logTop)})`).toBeLessThan(1);

    // The flooding address is still held by the start limit.
    expect((await post('/device/code', { client_id: 'wharf-cli' }, from(FLOODER))).status).toBe(429);

    // An admin invalidation succeeds and sticks: bob's next request asks the platform again.
    const webhookCalls = platform.count('/authz');
    const invalidate = await pool.request({ method: 'POST', path: '/admin/invalidate', headers: { authorization: `Bearer ${secrets.WHARF_ADMIN_SECRET}`, 'content-type': 'application/json' }, body: JSON.stringify({ account: 'bob' }) });
    expect(invalidate.statusCode, await invalidate.body.text()).toBe(204);
    const bob = await get('/token?service=registry&scope=repository:bob/app:pull', { ...from('203.0.113.9'), authorization: basic('bob', bobToken) });
    expect(bob.status, bob.body).toBe(200);
    expect(platform.count('/authz')).toBe(webhookCalls + 1);

    // A revocation succeeds and sticks.
    const revoke = await post('/token/revoke', { token: aliceRefresh }, from('203.0.113.10'));
    expect(revoke.status, revoke.body).toBe(200);
    const redeem = await post('/token', { grant_type: 'refresh_token', refresh_token: aliceRefresh, service: 'registry', scope: 'repository:alice/app:pull' }, from('203.0.113.10'));
    expect(redeem.status, redeem.body).toBe(401);
    expect(JSON.parse(redeem.body)).toMatchObject({ error: 'invalid_grant' });

    // A new user's first login (a new account binding in the store) answers 200.
    const carol = await get('/token?service=registry&scope=repository:carol/app:push,pull', { ...from('203.0.113.11'), authorization: basic('carol', tokenOf('carol')) });
    expect(carol.status, carol.body).toBe(200);
  }, 120_000);

  it('says degraded on /readyz, naming the cause, when the store refuses writes', async () => {
    expect(JSON.parse((await get('/readyz')).body)).toMatchObject({ status: 'ready' });
    await client.config('SET', 'maxmemory', '1');
    try {
      const readiness = await waitUntil(
        '/readyz says the store refuses writes',
        async () => {
          const body = JSON.parse((await get('/readyz')).body) as { status: string; checks: Record<string, string> };
          return body.status === 'degraded' && body.checks.store !== 'ok' ? body : undefined;
        },
        { process: wharf, timeoutMs: 15_000 },
      );
      expect(readiness.checks.store).toMatch(/memory|OOM/i);
    } finally {
      await client.config('SET', 'maxmemory', '16mb');
    }
    await waitUntil('/readyz is ready again', async () => ((JSON.parse((await get('/readyz')).body) as { status: string }).status === 'ready' ? true : undefined), { process: wharf, timeoutMs: 15_000 });
  }, 60_000);
});
