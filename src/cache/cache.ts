/**
 * The broker's shared state: verified credentials, refresh tokens, later introspection results
 * and webhook decisions. Keys are always keyed hashes of secrets, never secrets themselves.
 * Values are strings (JSON) so every backend stores the same bytes.
 */
export interface Cache {
  get(key: string): Promise<string | undefined>;
  /**
   * What `get` would answer now, read synchronously from what this process holds (a first tier's
   * copy, an in-process cache's entry): the value, undefined for a key held as absent, or
   * `NOT_HELD` when only `get` can tell (never held, expired, dropped by an invalidation, or kept
   * out of process, as Redis keeps everything). A held answer is the lookup itself, with the
   * effects of the `get` it spares (recency, the lookup counts); `NOT_HELD` has none, so the
   * `get` that follows counts as ever. Optional: without it every read is a `get`.
   */
  peek?(key: string): string | undefined | typeof NOT_HELD;
  /** The value and the milliseconds it has left (undefined: no expiry known), in one round trip. */
  getWithTtl?(key: string): Promise<{ value: string; ttlMs: number | undefined } | undefined>;
  /** Stores `value` for `ttlSeconds` (a whole number > 0). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Whether the backend currently answers (readiness). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** What `Cache.peek` answers for a key this process does not hold: ask `get`. */
export const NOT_HELD: unique symbol = Symbol('not held');

/** A value with what it has left: through `getWithTtl` where the backend has it, else with no expiry known. */
export async function readWithTtl(cache: Cache, key: string): Promise<{ value: string; ttlMs: number | undefined } | undefined> {
  if (cache.getWithTtl) return cache.getWithTtl(key);
  const value = await cache.get(key);
  return value === undefined ? undefined : { value, ttlMs: undefined };
}
