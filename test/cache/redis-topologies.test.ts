import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCache } from '../../src/cache/redis-cache.js';
import { connectRedis } from '../../src/cache/redis-connection.js';
import { parseConfig } from '../../src/config/load.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { startRedisCluster, startRedisSentinel } from '../support/redis-topologies.js';
import { cacheContract } from './cache-contract.js';

// The same cache contract against a Redis Cluster and a Sentinel-managed primary, from the URL
// forms an operator writes in WHARF_REDIS_URL.
for (const [name, start] of [
  ['Redis Cluster', startRedisCluster],
  ['Redis Sentinel', startRedisSentinel],
] as const) {
  describe(name, () => {
    let topology: Awaited<ReturnType<typeof start>>;
    const opened: RedisCache[] = [];
    beforeAll(async () => {
      topology = await start();
    }, 60_000);
    afterAll(async () => {
      await Promise.all(opened.map((c) => c.close()));
      await topology?.stop();
    });

    const open = async (prefix: string) => {
      const cache = new RedisCache({ url: topology.url, keyPrefix: prefix });
      opened.push(cache);
      await cache.ready(10_000);
      return cache;
    };

    it('is accepted as WHARF_REDIS_URL', () => {
      expect(parseConfig({}, { WHARF_REDIS_URL: topology.url }).cache).toMatchObject({ type: 'redis', url: topology.url });
    });

    it('shares entries between clients, across the keyspace', async () => {
      const prefix = `t${randomBytes(3).toString('hex')}:`;
      const [a, b] = [await open(prefix), await open(prefix)];
      // Enough keys to land on every cluster slot range.
      for (let i = 0; i < 30; i++) await a.set(`k${i}`, `v${i}`, 60);
      for (let i = 0; i < 30; i++) expect(await b.get(`k${i}`)).toBe(`v${i}`);
      await b.delete('k0');
      expect(await a.get('k0')).toBeUndefined();
      expect(await a.healthy()).toBe(true);
    });

    it('holds the store: records, first claims, counters and a prefix listing across the keyspace', async () => {
      const store = new RedisStore({ url: topology.url, keyPrefix: `s${randomBytes(3).toString('hex')}:` });
      try {
        await store.ready(10_000);
        // Enough keys to land on every cluster node.
        for (let i = 0; i < 30; i++) await store.put(`cred:${String(i).padStart(2, '0')}`, `v${i}`, 60);
        await store.put('other:x', 'x');
        const listed = await store.list('cred:');
        expect(listed.map((e) => e.key)).toEqual(Array.from({ length: 30 }, (_, i) => `cred:${String(i).padStart(2, '0')}`));
        expect(listed[7]!.value).toBe('v7');
        expect(await store.putIfAbsent('claim', 'first')).toEqual({ created: true, value: 'first' });
        expect(await store.putIfAbsent('claim', 'second')).toEqual({ created: false, value: 'first' });
        expect(await store.increment('generation')).toBe(1);
        expect(await store.increment('generation')).toBe(2);
        expect(await store.delete('cred:00')).toBe(true);
        expect((await store.health()).ok).toBe(true);
      } finally {
        await store.close();
      }
    });

    cacheContract(name, async () => {
      const prefix = `c${randomBytes(3).toString('hex')}:`;
      const cache = await open(prefix);
      return {
        cache,
        expire: async (key: string) => {
          const admin = connectRedis(topology.url, {});
          try {
            await admin.pexpire(prefix + key, 1);
          } finally {
            admin.disconnect();
          }
          await new Promise((r) => setTimeout(r, 5));
        },
      };
    });
  });
}
