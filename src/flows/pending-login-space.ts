import type { Cache } from '../cache/cache.js';
import { MemoryCache } from '../cache/memory-cache.js';

/** Most pending browser logins held in process (about 300 bytes each). */
const PENDING_LOGINS_IN_PROCESS = 10_000;

/**
 * Where pending browser and device logins live. In process: an LRU of their own, so a flood of unauthenticated
 * `/login/:name` requests evicts only other pending logins, never a cached decision (durable records
 * are in the store). With Redis: the shared cache (any replica may serve the callback), each entry
 * gone after 600 s and bounded by the start limits (per address, and `loginStartsTotal` overall).
 */
export function pendingLoginSpace(shared: boolean, cache: Cache, now: () => number): Cache {
  return shared ? cache : new MemoryCache({ maxEntries: PENDING_LOGINS_IN_PROCESS, now });
}
