import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { LmdbStore } from './lmdb-store.js';
import type { Store } from './store.js';

/** The store the config names (see `storeSchema` for the default). */
export function createStore(config: Pick<Config, 'store' | 'cache' | 'dataDir'>, now?: () => number): Store {
  const store = config.store ?? { type: 'embedded' as const };
  return new LmdbStore({ path: store.path ?? join(resolve(config.dataDir), 'state'), ...(now ? { now } : {}) });
}
