import { LRUCache } from 'lru-cache';
import type { Store } from '../store/store.js';
import { keyedHash } from './keyed-hash.js';

/** Options of the generations. */
export interface AccountGenerationsOptions {
  /** How long a generation read from the store is reused in process, in ms. Default 1000. */
  memoMs?: number;
  /** Clock in ms (tests move it instead of waiting). */
  now?: () => number;
}

/**
 * A per-account generation that cached decisions include in their keys: moving it orphans every
 * decision cached for the account at once, without scanning the cache. It lives in the store and
 * only counts up, so an invalidation can neither be evicted nor undone by a stale write.
 *
 * Every token request with a cached decision reads its account's generation, so a value read from
 * the store is reused in process for `memoMs` (one second, as the cache's in-process layer did
 * before): a busy account costs the store one read per second. The replica that moves a
 * generation sees it at once; the others through `forgetLocal` (the invalidation channel), or
 * within that second.
 */
export class AccountGenerations {
  private readonly memo: LRUCache<string, string>;
  /** Counts forgets, so a read that began before one does not put back what it dropped. */
  private forgets = 0;

  constructor(
    private readonly store: Store,
    private readonly hashKey: Buffer,
    options: AccountGenerationsOptions = {},
  ) {
    const now = options.now;
    this.memo = new LRUCache({ max: 5_000, ttl: options.memoMs ?? 1000, ttlAutopurge: false, ...(now ? { perf: { now }, ttlResolution: 0 } : {}) });
  }

  /** The account's generation; throws `TemporarilyUnavailableError` when the store cannot say (callers then bypass their cache). */
  async current(account: string): Promise<string> {
    const key = this.key(account);
    const memo = this.memo.get(key);
    if (memo !== undefined) return memo;
    const forgets = this.forgets;
    const value = (await this.store.get(key)) ?? '0';
    // Generations only count up: a read that began before a bump must not put the older one back.
    const known = this.memo.get(key);
    if (forgets === this.forgets && (known === undefined || Number(value) > Number(known))) this.memo.set(key, value);
    return known !== undefined && Number(known) > Number(value) ? known : value;
  }

  /** Moves the account's generation forward, durably; throws `TemporarilyUnavailableError` (nothing changed) when it cannot. */
  async bump(account: string): Promise<void> {
    const key = this.key(account);
    this.memo.set(key, String(await this.store.increment(key)));
  }

  /** The store key of an account's generation (what the invalidation channel names). */
  keyOf(account: string): string {
    return this.key(account);
  }

  /** Drops in-process copies (another replica moved these generations). */
  forgetLocal(keys: readonly string[]): void {
    this.forgets++;
    for (const key of keys) this.memo.delete(key);
  }

  private key(account: string): string {
    // Not `gen:`: the cache kept random markers there, which a counter cannot count up from.
    return `generation:${keyedHash(this.hashKey, 'generation', account)}`;
  }
}
