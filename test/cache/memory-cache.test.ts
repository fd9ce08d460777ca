import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { cacheContract } from './cache-contract.js';

cacheContract('memory', async () => {
  let now = 1_000_000;
  const cache = new MemoryCache({ maxEntries: 1000, now: () => now });
  return { cache, expire: async () => void (now += 1001) };
}, { peeks: true });

describe('MemoryCache', () => {
  it('stays within maxEntries, dropping the least recently used', async () => {
    const cache = new MemoryCache({ maxEntries: 100 });
    for (let i = 0; i < 150; i++) await cache.set(`k${i}`, 'v', 60);
    expect(await cache.get('k0')).toBeUndefined();
    expect(await cache.get('k149')).toBe('v');
  });
});
