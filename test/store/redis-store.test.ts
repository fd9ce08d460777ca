import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { startRedis, type RedisHandle } from '../support/redis.js';
import { storeContract } from './store-contract.js';

const servers: RedisHandle[] = [];
const opened: RedisStore[] = [];
let durable: RedisHandle;

beforeAll(async () => {
  requireCommand('/usr/bin/redis-server', 'redis-server');
  durable = await server({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
});

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

async function server(options: Parameters<typeof startRedis>[0]): Promise<RedisHandle> {
  const handle = await startRedis(options);
  servers.push(handle);
  return handle;
}

async function open(url: string, keyPrefix = `t${randomBytes(4).toString('hex')}:`, now?: () => number): Promise<RedisStore> {
  const store = new RedisStore({ url, keyPrefix, ...(now ? { now } : {}) });
  opened.push(store);
  await store.ready();
  return store;
}

storeContract('redis', async () => {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const store = await open(durable.url, prefix);
  return {
    store,
    // Redis expires on its own clock: rather than sleep, end now every TTL of a second or less.
    expire: async () => {
      const admin = new Redis(durable.url);
      try {
        for (const key of await admin.keys(`${prefix}*`)) {
          const left = await admin.pttl(key);
          if (left > 0 && left <= 1000) await admin.del(key);
        }
      } finally {
        admin.disconnect();
      }
    },
    reopen: () => open(durable.url, prefix),
  };
});

describe('RedisStore', () => {
  it('keeps records across a Redis restart with the append-only file on', async () => {
    const redis = await server({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
    const store = await open(redis.url);
    await store.put('credential', 'alice', 3600);
    await store.increment('generation');
    await redis.halt({ kill: true });
    await redis.start();
    await store.ready();
    expect(await store.get('credential')).toBe('alice');
    expect(await store.increment('generation')).toBe(2);
  });

  it('reports a Redis without persistence or with eviction, and is fine with a durable one', async () => {
    expect(await (await open(durable.url)).health()).toEqual({ ok: true, warnings: [] });
    const risky = await server({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    const health = await (await open(risky.url)).health();
    expect(health.ok).toBe(true);
    expect(health.warnings).toEqual([
      expect.stringContaining('appendonly is off'),
      expect.stringContaining('maxmemory-policy is allkeys-lru, not noeviction'),
    ]);
  });

  it('reads the settings from INFO where CONFIG is refused, and says when neither answers', async () => {
    const managed = await server({ persistence: true, args: ['--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', ''] });
    expect((await (await open(managed.url)).health()).warnings).toEqual([expect.stringContaining('maxmemory-policy is volatile-lru')]);
    // As a managed Redis whose ACL allows data commands only.
    const locked = await server({ args: ['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-config', '-info'] });
    expect((await (await open(locked.url)).health()).warnings).toEqual([expect.stringContaining('could not be checked')]);
  });

  it('fails every write with a 503 error while Redis is down, and has kept nothing aside for later', async () => {
    const redis = await server({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
    const store = await open(redis.url);
    await store.put('credential', 'live');
    await redis.halt();
    await expect(store.delete('credential')).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    await expect(store.put('other', 'x')).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    await expect(store.increment('generation')).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    await expect(store.get('credential')).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect((await store.health()).ok).toBe(false);
    await redis.start();
    await store.ready();
    // The failed delete did not happen and the failed put is not replayed from memory.
    expect(await store.get('credential')).toBe('live');
    expect(await store.get('other')).toBeUndefined();
  });

  it('says which writes Redis refuses while it still answers PING and reads, and when it takes them again', async () => {
    const redis = await server({ persistence: true, args: ['--maxmemory-policy', 'noeviction'] });
    let clock = 1_000_000;
    const store = await open(redis.url, undefined, () => clock);
    const admin = new Redis(redis.url);
    try {
      await store.put('credential', 'live');
      expect(await store.health()).toEqual({ ok: true, warnings: [] });

      // Full: every write is refused with OOM, reads go on.
      await admin.config('SET', 'maxmemory', '1');
      await expect(store.put('other', 'x')).rejects.toBeInstanceOf(TemporarilyUnavailableError);
      expect(await store.get('credential')).toBe('live');
      expect(await store.health()).toMatchObject({ ok: true, refusesWrites: expect.stringContaining('out of memory (used memory > maxmemory') });
      await admin.config('SET', 'maxmemory', '0');
      clock += 1000; // the next probe is due
      expect((await store.health()).refusesWrites).toBeUndefined();

      // Found by the probe alone, with nobody writing: a replica of a primary that is gone.
      await admin.replicaof('127.0.0.1', String(await freePort()));
      clock += 1000;
      expect((await store.health()).refusesWrites).toBe('Redis is a read-only replica: point the store at the primary');
      await admin.replicaof('NO', 'ONE');
      // Within a second of the last probe the answer is the last one seen: no probe per request.
      expect((await store.health()).refusesWrites).toBeDefined();
      clock += 1000;
      expect(await store.health()).toEqual({ ok: true, warnings: [] });
      await store.put('other', 'x');
    } finally {
      admin.disconnect();
    }
  });
});
