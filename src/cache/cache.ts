/**
 * The broker's shared state: verified credentials, refresh tokens, later introspection results
 * and webhook decisions. Keys are always keyed hashes of secrets, never secrets themselves.
 * Values are strings (JSON) so every backend stores the same bytes.
 */
export interface Cache {
  get(key: string): Promise<string | undefined>;
  /** The value and the milliseconds it has left (undefined: no expiry known), in one round trip. */
  getWithTtl?(key: string): Promise<{ value: string; ttlMs: number | undefined } | undefined>;
  /** Stores `value` for `ttlSeconds` (a whole number > 0). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Whether the backend currently answers (readiness). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** A value with what it has left: through `getWithTtl` where the backend has it, else with no expiry known. */
export async function readWithTtl(cache: Cache, key: string): Promise<{ value: string; ttlMs: number | undefined } | undefined> {
  if (cache.getWithTtl) return cache.getWithTtl(key);
  const value = await cache.get(key);
  return value === undefined ? undefined : { value, ttlMs: undefined };
}
