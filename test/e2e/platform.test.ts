import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerLogin, readDockerConfig } from '../support/docker-cli.js';
import { platformSecrets, startFakePlatform, verifyWharfSignature, type FakePlatform } from '../support/fake-platform.js';
import { buildOciImage } from '../support/oci-image.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { waitUntil } from '../support/processes.js';
import { startRedis } from '../support/redis.js';
import { type RegistryHandle } from '../support/registry.js';
import { skopeoCopy } from '../support/skopeo.js';
import { runWharfCli, startWharf, startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// Wharf's main job, end to end: `docker login -p <platform token>`, introspection and the authz
// webhook answered by a real HTTP server standing in for the platform, decisions in a real Redis
// shared by two Wharf instances, the real registry and skopeo.
describe('platform tokens: introspection, webhook and Redis, end to end', () => {
  const secrets = platformSecrets();
  const platformTokens = new Map<string, { username: string }>();
  /** Every token handed out, revoked ones included: none may ever reach a log line. */
  const issuedTokens: string[] = [];
  const tokenOf = (user: string) => {
    const token = `plat_${user}_${randomBytes(16).toString('hex')}`;
    platformTokens.set(token, { username: user });
    issuedTokens.push(token);
    return token;
  };
  /** Accounts whose pulls the platform currently refuses. */
  const pullBanned = new Set<string>();
  let work: string;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let platform: FakePlatform;
  let wharfA: WharfHandle;
  let wharfB: WharfHandle;
  let registry: RegistryHandle;
  let image: { ref: string };
  let aliceToken: string;
  let configFileA: string;

  const tokenRequest = (wharf: WharfHandle, user: string, password: string, scope: string) =>
    fetch(`${wharf.url}/token?service=registry&account=${user}&scope=${encodeURIComponent(scope)}`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    });
  const upstreamCalls = () => ({ introspect: platform.count('/introspect'), authz: platform.count('/authz') });

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    requireCommand('/usr/bin/redis-server', 'redis-server');
    work = await mkdtemp(join(tmpdir(), 'wharf-platform-'));
    redis = await startRedis();
    platform = await startFakePlatform();
    platform.setHandler('/introspect', (req) => {
      const expected = `Basic ${Buffer.from(`wharf:${secrets.WHARF_INTROSPECTION_CLIENT_SECRET}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return { status: 401, body: { error: 'invalid_client' } };
      const claims = platformTokens.get(req.form?.get('token') ?? '');
      return { status: 200, body: claims ? { active: true, ...claims, scope: 'registry' } : { active: false } };
    });
    platform.setHandler('/authz', (req) => {
      if (req.headers.authorization !== `Bearer ${secrets.WHARF_AUTHZ_WEBHOOK_SECRET}`) return { status: 401, body: {} };
      if (!verifyWharfSignature(req, secrets.WHARF_AUTHZ_WEBHOOK_SECRET, Math.floor(Date.now() / 1000))) return { status: 403, body: {} };
      const body = req.json as { account: string; scopes: Array<{ type: string; name: string; actions: string[] }> };
      // The platform's policy: an account owns `<account>/*`, except `<account>/forbidden`.
      const decisions = body.scopes
        .filter((s) => s.name.startsWith(`${body.account}/`) && !s.name.endsWith('/forbidden'))
        .map((s) => ({ type: s.type, name: s.name, allowed: pullBanned.has(body.account) ? ['push'] : ['pull', 'push', 'delete'] }));
      return { status: 200, body: { decisions, ttl: 300 } };
    });

    const [portA, portB, registryPort] = [await freePort(), await freePort(), await freePort()];
    const config = (port: number) => ({
      server: { port },
      dataDir: join(work, 'data'),
      cache: { type: 'redis' as const, url: redis.url },
      authn: [{ type: 'introspection' as const, url: `${platform.url}/introspect`, retries: 0 }],
      authz: { webhook: { type: 'webhook' as const, url: `${platform.url}/authz`, retries: 0 } },
    });
    const configA = await writeConfig(config(portA), join(work));
    configFileA = configA;
    ({ wharf: wharfA, registry } = await startWharfAndRegistry(configA, work, registryPort, secrets));
    const dirB = await mkdtemp(join(tmpdir(), 'wharf-platform-b-'));
    wharfB = await startWharf(await writeConfig(config(portB), dirB), secrets);
    image = await buildOciImage(join(work, 'image'), { tag: 'v1', content: 'platform e2e' });
    aliceToken = tokenOf('alice');
  });

  afterAll(() => shutDown(registry, wharfA, wharfB, platform, redis, work));

  it('lets docker login with a platform API token as the password', async () => {
    const configDir = join(work, 'docker');
    const login = await dockerLogin(registry.host, 'alice', aliceToken, { configDir });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain('Login Succeeded');
    // Platform tokens are not turned into refresh tokens: revoking one on the platform must end access.
    const entry = (await readDockerConfig(configDir)).auths?.[registry.host];
    expect(entry?.identitytoken).toBeUndefined();
  });

  it('lets skopeo push where the webhook allows, and not where it denies', async () => {
    const allowed = await skopeoCopy(image.ref, `docker://${registry.host}/alice/app:v1`, { creds: `alice:${aliceToken}` });
    expect(allowed.code, allowed.stderr).toBe(0);
    const denied = await skopeoCopy(image.ref, `docker://${registry.host}/alice/forbidden:v1`, { creds: `alice:${aliceToken}` });
    expect(denied.code).not.toBe(0);
    const decision = wharfA.logs.find((l) => l.event === 'token_issued' && JSON.stringify(l.requested).includes('alice/forbidden')) as
      | { decisions: Array<{ granted: string[]; source: string }> }
      | undefined;
    expect(decision?.decisions[0]).toMatchObject({ granted: [], source: 'webhook' });
  });

  it('answers a second request within the TTL without calling the platform, on either instance', async () => {
    const scope = 'repository:alice/app:pull';
    expect((await tokenRequest(wharfA, 'alice', aliceToken, scope)).status).toBe(200);
    const before = upstreamCalls();
    const again = await tokenRequest(wharfA, 'alice', aliceToken, scope);
    const fromB = await tokenRequest(wharfB, 'alice', aliceToken, scope);
    expect(upstreamCalls()).toEqual(before);
    // Asked again on B, in a form the answer reuse does not know (another client_id): decided anew
    // from B's first tier, with no Redis round trip.
    const firstTier = async () => {
      const text = await (await fetch(`${wharfB.url}/metrics`)).text();
      const count = (result: string) => Number(new RegExp(`wharf_cache_first_tier_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      return { local: count('local'), shared: count('shared') };
    };
    const tierBefore = await firstTier();
    const decidedAgain = await fetch(`${wharfB.url}/token?service=registry&account=alice&client_id=another&scope=${encodeURIComponent(scope)}`, {
      headers: { authorization: `Basic ${Buffer.from(`alice:${aliceToken}`).toString('base64')}` },
    });
    expect(decidedAgain.status).toBe(200);
    const tierAfter = await firstTier();
    // The decision; the platform token's proof was recalled less than a second ago (RecentProofs).
    expect(tierAfter.local - tierBefore.local).toBeGreaterThanOrEqual(1);
    expect(tierAfter.shared).toBe(tierBefore.shared);
    expect(upstreamCalls()).toEqual(before);
    for (const res of [again, fromB]) {
      expect(res.status).toBe(200);
      expect(decodeJwt(((await res.json()) as { token: string }).token).access).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
    }
  });

  it('drops a revoked token at once through POST /admin/invalidate', async () => {
    const token = tokenOf('dave');
    expect((await tokenRequest(wharfA, 'dave', token, 'repository:dave/x:pull')).status).toBe(200);
    platformTokens.delete(token); // revoked on the platform; Wharf still has it cached
    expect((await tokenRequest(wharfB, 'dave', token, 'repository:dave/x:pull')).status).toBe(200);
    const refused = await fetch(`${wharfA.url}/admin/invalidate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' },
      body: JSON.stringify({ token }),
    });
    expect(refused.status).toBe(401);
    const invalidate = await fetch(`${wharfA.url}/admin/invalidate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.WHARF_ADMIN_SECRET}` },
      body: JSON.stringify({ token }),
    });
    expect(invalidate.status).toBe(204);
    // At once on the replica that was told; on the other as soon as the announcement arrives over Redis.
    expect((await tokenRequest(wharfA, 'dave', token, 'repository:dave/x:pull')).status).toBe(401);
    await waitUntil('the other replica refuses too', async () => ((await tokenRequest(wharfB, 'dave', token, 'repository:dave/x:pull')).status === 401 ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
  });

  it('drops a revoked token published on the Redis invalidation channel', async () => {
    const token = tokenOf('erin');
    expect((await tokenRequest(wharfB, 'erin', token, 'repository:erin/x:pull')).status).toBe(200);
    platformTokens.delete(token);
    const publisher = new Redis(redis.url);
    try {
      await publisher.publish('wharf:invalidate', JSON.stringify({ token }));
    } finally {
      publisher.disconnect();
    }
    await waitUntil('the invalidation message takes effect', async () => ((await tokenRequest(wharfB, 'erin', token, 'repository:erin/x:pull')).status === 401 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
  });

  it('holds an invalidation a replica could not hear: losing its subscription drops its copies, and it hears again once back', async () => {
    const token = tokenOf('frank');
    const scope = 'repository:frank/x:pull';
    expect((await tokenRequest(wharfB, 'frank', token, scope)).status).toBe(200); // B now holds frank's facts in process
    platformTokens.delete(token);
    const admin = new Redis(redis.url);
    try {
      // The subscribers' connections drop and cannot come back for now: nothing published reaches B.
      const connected = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
      const subscribers = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string).trim().split('\n').length;
      await admin.config('SET', 'maxclients', String(connected - subscribers));
      try {
        await admin.client('KILL', 'TYPE', 'pubsub');
        const invalidate = await fetch(`${wharfA.url}/admin/invalidate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.WHARF_ADMIN_SECRET}` },
          body: JSON.stringify({ token }),
        });
        expect(invalidate.status).toBe(204);
        // Without the drop on a lost subscription B would answer from its copy for maxStalenessSeconds (300 s).
        await waitUntil('B refuses the revoked token', async () => ((await tokenRequest(wharfB, 'frank', token, scope)).status === 401 ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
      } finally {
        await admin.config('SET', 'maxclients', '10000');
      }
      const listening = async (w: WharfHandle) => ((await (await fetch(`${w.url}/readyz`)).json()) as { checks: Record<string, string> }).checks.invalidations === 'listening';
      await waitUntil('both replicas subscribed again', async () => ((await listening(wharfA)) && (await listening(wharfB)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
      // Listening again: an announcement reaches B at once, though B keeps copies for minutes.
      const other = tokenOf('grace');
      expect((await tokenRequest(wharfB, 'grace', other, 'repository:grace/x:pull')).status).toBe(200);
      platformTokens.delete(other);
      const invalidate = await fetch(`${wharfA.url}/admin/invalidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.WHARF_ADMIN_SECRET}` },
        body: JSON.stringify({ token: other }),
      });
      expect(invalidate.status).toBe(204);
      // B is listening again, so it keeps copies for 300 s: only the announcement can end this one.
      await waitUntil('B hears it', async () => ((await tokenRequest(wharfB, 'grace', other, 'repository:grace/x:pull')).status === 401 ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
    } finally {
      admin.disconnect();
    }
  });

  it('lets wharf accounts unbind reach every running replica at once over the invalidation channel', async () => {
    const token = tokenOf('henry');
    const scope = 'repository:henry/x:pull';
    // Both replicas have seen henry's binding (to the platform) and remember it in process.
    expect((await tokenRequest(wharfA, 'henry', token, scope)).status).toBe(200);
    expect((await tokenRequest(wharfB, 'henry', token, scope)).status).toBe(200);
    const unbind = await runWharfCli(['accounts', 'unbind', 'henry', '--config', configFileA], { env: secrets });
    expect(unbind.code, unbind.stderr).toBe(0);
    expect(unbind.stdout).toContain('Running servers were told at once');
    // B forgot the binding it held, so henry's next request claims the name anew in the store.
    // Had B kept it (for up to maxStalenessSeconds), the name would have stayed unbound.
    await waitUntil('B claims henry anew', async () => {
      expect((await tokenRequest(wharfB, 'henry', token, scope)).status).toBe(200);
      const show = await runWharfCli(['accounts', 'show', 'henry', '--config', configFileA], { env: secrets });
      return show.code === 0 ? show.stdout : undefined;
    }, { timeoutMs: 5000, intervalMs: 100 });
  });

  it('drops an account’s cached decisions through POST /admin/invalidate', async () => {
    const scope = 'repository:alice/app:pull';
    pullBanned.add('alice');
    try {
      const stillCached = await tokenRequest(wharfA, 'alice', aliceToken, scope);
      expect(decodeJwt(((await stillCached.json()) as { token: string }).token).access).toHaveLength(1);
      const invalidate = await fetch(`${wharfB.url}/admin/invalidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.WHARF_ADMIN_SECRET}` },
        body: JSON.stringify({ account: 'alice' }),
      });
      expect(invalidate.status).toBe(204);
      await waitUntil('the other replica asks the platform again', async () => {
        const fresh = await tokenRequest(wharfA, 'alice', aliceToken, scope);
        return (decodeJwt(((await fresh.json()) as { token: string }).token).access as unknown[]).length === 0 ? true : undefined;
      }, { timeoutMs: 5000, intervalMs: 20 });
    } finally {
      pullBanned.delete('alice');
      await fetch(`${wharfB.url}/admin/invalidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.WHARF_ADMIN_SECRET}` },
        body: JSON.stringify({ account: 'alice' }),
      });
    }
  });

  it('keeps cached users working and refuses new users with 503 while the platform is down', async () => {
    const scope = 'repository:alice/app:pull,push';
    // Decisions are cached per requested action set: alice has pushed and pulled before the outage.
    // Through both replicas: the invalidation just before may still be on its way to one of them,
    // which then names the account's decisions by the generation before it (and would rightly
    // fail closed in the outage, having nothing cached under the new one).
    for (const wharf of [wharfA, wharfB]) {
      expect((await tokenRequest(wharf, 'alice', aliceToken, scope)).status).toBe(200);
      expect((await tokenRequest(wharf, 'alice', aliceToken, 'repository:alice/app:pull')).status).toBe(200);
    }
    const newcomer = tokenOf('frank');
    platform.setFault('/introspect', { kind: 'reset' });
    platform.setFault('/authz', { kind: 'reset' });
    try {
      const cached = await tokenRequest(wharfB, 'alice', aliceToken, scope);
      expect(cached.status).toBe(200);
      expect(decodeJwt(((await cached.json()) as { token: string }).token).access).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
      const pull = await skopeoCopy(`docker://${registry.host}/alice/app:v1`, `oci:${join(work, 'pulled')}:v1`, { creds: `alice:${aliceToken}` });
      expect(pull.code, pull.stderr).toBe(0);

      const refused = await tokenRequest(wharfA, 'frank', newcomer, 'repository:frank/x:pull');
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable', errors: [{ code: 'UNAVAILABLE' }] });
      // A cached user asking for a scope never decided before gets a 503 too (nothing cached proves it).
      const unproven = await tokenRequest(wharfA, 'alice', aliceToken, 'repository:alice/never-seen:pull');
      expect(unproven.status).toBe(503);
      expect(wharfA.rawLogs()).toMatch(/fail(ed)? closed/);
    } finally {
      platform.setFault('/introspect', undefined);
      platform.setFault('/authz', undefined);
    }
  });

  it('never logs a platform token or a secret', async () => {
    const logs = wharfA.rawLogs() + wharfB.rawLogs();
    for (const token of [aliceToken, ...platformTokens.keys(), ...issuedTokens]) expect(logs).not.toContain(token);
    for (const secret of Object.values(secrets)) expect(logs).not.toContain(secret);
    expect(await readFile(join(work, 'registry', 'config.yml'), 'utf8')).not.toContain(secrets.WHARF_AUTHZ_WEBHOOK_SECRET);
  });
});
