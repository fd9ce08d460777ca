import { LRUCache } from 'lru-cache';
import type { Cache } from './cache.js';

/** Options of the in-process layer. */
export interface LocalFirstOptions {
  /** Key prefixes served from the local layer (hot, read-mostly entries). */
  prefixes: readonly string[];
  /** How long a local copy (or a known absence) is trusted. Invalidations reach other replicas within it. */
  ttlMs: number;
  max?: number;
  /** Clock in ms (tests move it instead of waiting). */
  now?: () => number;
}

const ABSENT = Symbol('absent');

/**
 * A one-second in-process layer over the shared cache for the entries every token request reads
 * (introspection results, decisions, account generations): a busy client then costs Redis one
 * read per entry per second instead of one per request. A revocation or invalidation is seen by
 * every replica within `ttlMs` (and at once by the replica that performed it).
 */
export class LocalFirstCache implements Cache {
  private readonly local: LRUCache<string, string | typeof ABSENT>;
  /** Counts deletions and forgets, so a read that began before one does not bring back what it removed. */
  private removals = 0;

  constructor(
    private readonly shared: Cache,
    private readonly options: LocalFirstOptions,
  ) {
    this.local = new LRUCache({ max: options.max ?? 5_000, ttl: options.ttlMs, ttlAutopurge: false, ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}) });
  }

  async get(key: string): Promise<string | undefined> {
    if (!this.isLocal(key)) return this.shared.get(key);
    const copy = this.local.get(key);
    if (copy !== undefined) return copy === ABSENT ? undefined : copy;
    const removals = this.removals;
    const value = await this.shared.get(key);
    // Keep what was read only if nothing changed the key meanwhile: a write (a decision just made)
    // or a deletion would otherwise be overwritten by this older answer for the whole TTL.
    if (removals === this.removals && !this.local.has(key)) this.local.set(key, value ?? ABSENT);
    return value;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.shared.set(key, value, ttlSeconds);
    if (this.isLocal(key)) this.local.set(key, value, { ttl: Math.min(this.options.ttlMs, ttlSeconds * 1000) });
  }

  async delete(key: string): Promise<void> {
    this.removals++;
    this.local.delete(key);
    await this.shared.delete(key);
  }

  /** Drops local copies only (another replica changed the shared entries). */
  forgetLocal(keys: readonly string[]): void {
    this.removals++;
    for (const key of keys) this.local.delete(key);
  }

  healthy(): Promise<boolean> {
    return this.shared.healthy();
  }

  async close(): Promise<void> {
    this.local.clear();
    await this.shared.close();
  }

  private isLocal(key: string): boolean {
    return this.options.prefixes.some((p) => key.startsWith(p));
  }
}
