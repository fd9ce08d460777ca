import type { Logger } from 'pino';
import type { Cache } from './cache.js';
import type { CacheConfig } from './cache-config.js';
import { Coherence } from './coherence.js';
import { FallbackCache } from './fallback-cache.js';
import { MemoryCache } from './memory-cache.js';
import { RedisCache } from './redis-cache.js';
import { TwoTierCache } from './two-tier-cache.js';

/** Trusts in-process copies for a second, or, with Redis and its invalidation channel, up to `maxStalenessSeconds`. */
export function createCoherence(config: CacheConfig): Coherence {
  return new Coherence({ maxStalenessMs: config.type === 'redis' ? config.local.maxStalenessSeconds * 1000 : 1000 });
}

/** What the configured cache is built with besides its config. */
export interface CacheOptions {
  logger: Logger;
  coherence: Coherence;
  /** Prefixes of the keys every token request reads (the backends' `hotKeyPrefixes`): kept in the first tier over Redis. */
  hotKeyPrefixes: readonly string[];
  /** Told whether each first-tier lookup was answered in process. */
  onLookup?: (result: 'local' | 'shared') => void;
  now?: () => number;
}

/** Creates the cache backend the config names; Redis falls back to an in-process cache while down. */
export function createCache(config: CacheConfig, options: CacheOptions): Cache {
  const now = options.now ? { now: options.now } : {};
  if (config.type === 'memory') return new MemoryCache({ maxEntries: config.maxEntries, ...now });
  const shared = new FallbackCache(
    new RedisCache({ url: config.url, keyPrefix: config.keyPrefix }),
    // Used only while Redis is unreachable; lru-cache allocates its index for `max` up front.
    new MemoryCache({ maxEntries: 20_000, maxBytes: 16 * 1024 * 1024, ...now }),
    options.logger.child({ component: 'cache' }),
  );
  // The facts every token request reads (written once per key, invalidated by deletion) stay in process.
  return new TwoTierCache(shared, {
    prefixes: [...new Set(options.hotKeyPrefixes)],
    maxBytes: config.local.maxMegabytes * 1024 * 1024,
    coherence: options.coherence,
    ...(options.onLookup ? { onLookup: options.onLookup } : {}),
    ...now,
  });
}
