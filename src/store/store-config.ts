import { z } from 'zod';

/**
 * Where records that must not be lost live (refresh tokens, credentials, sessions, device codes,
 * account bindings). Default: `embedded` under `dataDir`, or Redis at the cache's URL when the
 * cache is Redis (replicas must share these records).
 */
export const storeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('embedded'),
    /** Directory of the embedded database (LMDB). Default `dataDir/state`. */
    path: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('redis'),
    /** URL as for the Redis cache. Redis must run with `appendonly yes` and `maxmemory-policy noeviction` (checked at start; `/readyz` says degraded otherwise). */
    url: z.string().regex(/^(rediss?|redis-sentinel|redis-cluster):\/\//, 'must start with redis://, rediss://, redis-sentinel:// or redis-cluster://'),
    /** Prefix of every key. Default `wharf:` (records already in a Redis cache under it keep working). */
    keyPrefix: z.string().default('wharf:'),
  }),
]);

/** Validated store settings. */
export type StoreConfig = z.infer<typeof storeSchema>;
