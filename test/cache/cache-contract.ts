import { describe, expect, it } from 'vitest';
import { NOT_HELD, type Cache } from '../../src/cache/cache.js';

/**
 * The behaviour every Cache backend must have. `advance` moves the backend's clock (or waits, for
 * backends whose TTL runs on a server clock; kept to whole seconds there). `peeks`: the backend
 * answers from what the process holds (Cache.peek), which then must agree with get.
 */
export function cacheContract(name: string, make: () => Promise<{ cache: Cache; expire: (key: string) => Promise<void> }>, { peeks = false }: { peeks?: boolean } = {}) {
  describe(`${name} cache contract`, () => {
    it('returns what was set, and undefined for unknown keys', async () => {
      const { cache } = await make();
      await cache.set('a', 'value-a', 60);
      expect(await cache.get('a')).toBe('value-a');
      expect(await cache.get('missing')).toBeUndefined();
    });

    it('overwrites and deletes', async () => {
      const { cache } = await make();
      await cache.set('k', 'one', 60);
      await cache.set('k', 'two', 60);
      expect(await cache.get('k')).toBe('two');
      await cache.delete('k');
      expect(await cache.get('k')).toBeUndefined();
      await cache.delete('never-set');
    });

    it('forgets entries when their TTL has passed', async () => {
      const { cache, expire } = await make();
      await cache.set('short', 'v', 1);
      await cache.set('long', 'v', 3600);
      await expire('short');
      expect(await cache.get('short')).toBeUndefined();
      expect(await cache.get('long')).toBe('v');
    });

    it('stores strings byte for byte, unicode and JSON included', async () => {
      const { cache } = await make();
      const value = JSON.stringify({ account: 'ålice', groups: ['a b', '"quoted"'], n: 1 });
      await cache.set('json', value, 60);
      expect(await cache.get('json')).toBe(value);
    });

    // Registered only for backends that peek: one that does not is not asked to (no skipped test).
    if (peeks)
      it('peeks, where it can, only what get would answer (never a deleted or expired value)', async () => {
      const { cache, expire } = await make();
      expect(cache.peek).toBeTypeOf('function');
      const answers = async (key: string) => {
        const peeked = cache.peek!(key);
        const got = await cache.get(key);
        if (peeked !== NOT_HELD) expect(peeked).toBe(got);
        return got;
      };
      await cache.set('p', 'one', 3600);
      await cache.set('short', 'v', 1);
      expect(await answers('p')).toBe('one');
      await cache.set('p', 'two', 3600);
      expect(await answers('p')).toBe('two');
      await cache.delete('p');
      expect(cache.peek!('p')).not.toBe('two');
      expect(await answers('p')).toBeUndefined();
      await expire('short');
      expect(cache.peek!('short')).not.toBe('v');
      expect(await answers('short')).toBeUndefined();
    });

    it('reports itself healthy while it answers', async () => {
      const { cache } = await make();
      expect(await cache.healthy()).toBe(true);
    });
  });
}
