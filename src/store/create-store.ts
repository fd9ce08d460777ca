import { join, resolve } from 'node:path';
import type { CacheConfig } from '../cache/cache-config.js';
import { LmdbStore } from './lmdb-store.js';
import { RedisStore } from './redis-store.js';
import type { Store } from './store.js';
import type { StoreConfig } from './store-config.js';

/** What decides the store: its own settings, else the cache's Redis, else a directory. */
export interface StoreSettings {
  store?: StoreConfig | undefined;
  cache: CacheConfig;
  dataDir: string;
}

/** The store the config names (see `storeSchema` for the default). */
export function createStore(config: StoreSettings, now?: () => number): Store {
  // Replicas sharing a Redis cache must share these records too, so Redis is then the default.
  const store = config.store ?? (config.cache.type === 'redis' ? { type: 'redis' as const, url: config.cache.url, keyPrefix: config.cache.keyPrefix } : { type: 'embedded' as const });
  if (store.type === 'redis') return new RedisStore({ url: store.url, keyPrefix: store.keyPrefix, ...(now ? { now } : {}) });
  return new LmdbStore({ path: store.path ?? join(resolve(config.dataDir), 'state'), ...(now ? { now } : {}) });
}
