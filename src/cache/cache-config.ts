import { z } from 'zod';

/** Cache backends. */
export const cacheSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('memory'),
    /** Most entries kept in process. Default 100000. */
    maxEntries: z.number().int().min(100).default(100_000),
  }),
  z.strictObject({
    type: z.literal('redis'),
    /** `redis://host:port`, `rediss://…` (TLS), `redis-sentinel://host:port,host:port/<master>` or `redis-cluster://host:port,host:port` (env WHARF_REDIS_URL). */
    url: z.string().regex(/^(rediss?|redis-sentinel|redis-cluster):\/\//, 'must start with redis://, rediss://, redis-sentinel:// or redis-cluster://'),
    /** Prefix of every key. Default `wharf:`. */
    keyPrefix: z.string().default('wharf:'),
    /**
     * The in-process first tier over Redis for what every token request reads (introspection
     * results, decisions, verified passwords, generations, bindings). Invalidations reach it over
     * Redis pub/sub at once; while that subscription is down a copy is trusted for a second only.
     */
    local: z
      .strictObject({
        /** Memory it may take. Default 48. */
        maxMegabytes: z.number().int().min(1).max(4096).default(48),
        /** Longest a copy is trusted without asking Redis, even with the subscription up (a missed message is forgotten within it). Default 300. */
        maxStalenessSeconds: z.number().int().min(1).max(86_400).default(300),
      })
      .prefault({}),
  }),
]);

/** Validated cache settings. */
export type CacheConfig = z.infer<typeof cacheSchema>;
