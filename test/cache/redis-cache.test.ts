import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCache } from '../../src/cache/redis-cache.js';
import { startRedis } from '../support/redis.js';
import { cacheContract } from './cache-contract.js';

let redis: Awaited<ReturnType<typeof startRedis>>;
const opened: RedisCache[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await redis?.stop();
});

async function open(prefix = `t${randomBytes(4).toString('hex')}:`) {
  const cache = new RedisCache({ url: redis.url, keyPrefix: prefix });
  opened.push(cache);
  await cache.ready();
  return cache;
}

cacheContract('redis', async () => {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const cache = await open(prefix);
  return {
    cache,
    // Redis expires on its own clock; rather than sleep a second, make the key's TTL run out now.
    expire: async (key: string) => {
      const admin = new Redis(redis.url);
      try {
        expect(await admin.pttl(prefix + key)).toBeGreaterThan(0);
        await admin.pexpire(prefix + key, 1);
      } finally {
        admin.disconnect();
      }
      await new Promise((r) => setTimeout(r, 5));
    },
  };
});

describe('RedisCache', () => {
  it('shares entries between two clients, as replicas do', async () => {
    const prefix = `shared${randomBytes(4).toString('hex')}:`;
    const a = await open(prefix);
    const b = await open(prefix);
    await a.set('decision', 'allowed', 60);
    expect(await b.get('decision')).toBe('allowed');
  });

  it('keeps deployments with different prefixes apart', async () => {
    const a = await open('deploy-a:');
    const b = await open('deploy-b:');
    await a.set('k', 'a', 60);
    expect(await b.get('k')).toBeUndefined();
  });

  it('reports unhealthy, and fails fast, when Redis is unreachable', async () => {
    const cache = new RedisCache({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 });
    opened.push(cache);
    expect(await cache.healthy()).toBe(false);
    await expect(cache.get('k')).rejects.toThrow();
    await expect(cache.ready(300)).rejects.toThrow(/not ready/);
  });
});
