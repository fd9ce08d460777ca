/**
 * Records that must not be lost: refresh tokens, registry credentials, browser sessions, device
 * codes, account bindings and invalidation generations. Unlike the `Cache`, a store never evicts:
 * an entry goes only when it is deleted or its own TTL ends, and it survives a restart.
 *
 * Every write resolves only once it is recorded durably; when it cannot be, it throws
 * `TemporarilyUnavailableError` and nothing was changed, so a caller answers 503 rather than
 * report a revocation that could later revert. Keys are keyed hashes of secrets, never secrets.
 */
export interface Store {
  /** The live value under `key`, or undefined (absent or past its TTL). */
  get(key: string): Promise<string | undefined>;
  /** Records `value`, for `ttlSeconds` when given (a whole number > 0), else until deleted. */
  put(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /**
   * Records `value` only when no live value exists, atomically across every process sharing the
   * store. Returns whether it was recorded and the value now stored (the earlier one when not).
   */
  putIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<{ created: boolean; value: string }>;
  /** Removes `key`; true when a live value was there. */
  delete(key: string): Promise<boolean>;
  /**
   * Adds 1 to the integer under `key` (0 when absent or past its TTL) atomically across every
   * process sharing the store; returns the new value. Without `ttlSeconds` the counter never
   * expires; with it, a counter this call creates expires `ttlSeconds` later and later increments
   * keep that expiry (a fixed window: limits that nobody's traffic can reset by eviction).
   */
  increment(key: string, ttlSeconds?: number): Promise<number>;
  /** Live entries whose key starts with `prefix`, in key order, at most `limit` (default 1000). */
  list(prefix: string, limit?: number): Promise<Array<{ key: string; value: string }>>;
  /** Resolves once a networked store is connected (rejects after `timeoutMs`); absent where there is nothing to wait for. */
  ready?(timeoutMs?: number): Promise<void>;
  /**
   * Removes entries past their TTL, for backends that do not expire them by themselves (reads
   * already ignore them); returns how many went. Redis expires keys itself and omits it.
   */
  sweep?(): Promise<number>;
  /** Whether the store answers, and anything an operator must fix (readiness). */
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/** What readiness reports about the store. */
export interface StoreHealth {
  /** False when the store cannot be read or written now. */
  readonly ok: boolean;
  /** Problems that do not stop it working but risk losing records (e.g. Redis may evict). */
  readonly warnings: readonly string[];
  /**
   * Why the store refuses writes now (Redis out of memory, a read-only replica, a failing disk,
   * a lost connection), from the last write or a probe; absent while writes go through. Reads
   * may still work: revocations, invalidations and new logins do not.
   */
  readonly refusesWrites?: string;
}
