import { LRUCache } from 'lru-cache';
import type { Store } from '../store/store.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import type { Coherence, LocalCopy } from '../cache/coherence.js';

/** Options of the generations. */
export interface AccountGenerationsOptions {
  /** Most bytes the in-process copies may hold (about 200 per account). Default 4 MiB. */
  maxBytes?: number;
  /** Clock in ms (tests move it instead of waiting). */
  now?: () => number;
}

/**
 * A per-account generation that cached decisions include in their keys: moving it orphans every
 * decision cached for the account at once, without scanning the cache. It lives in the store and
 * only counts up, so an invalidation can neither be evicted nor undone by a stale write.
 *
 * Every token request with a cached decision reads its account's generation, so a value read from
 * the store is kept in process as the coherence allows (long while invalidations are heard, a
 * second otherwise). The replica that moves a generation sees it at once; the others when the
 * invalidation reaches them.
 */
export class AccountGenerations implements LocalCopy {
  private readonly memo: LRUCache<string, string>;
  /** Account → its store key: an HMAC per token request saved (a pure function, never stale). */
  private readonly keys = new LRUCache<string, string>({ maxSize: 4 * 1024 * 1024, sizeCalculation: (key, account) => key.length + account.length + 100 });

  constructor(
    private readonly store: Store,
    private readonly hashKey: Buffer,
    private readonly coherence: Coherence,
    options: AccountGenerationsOptions = {},
  ) {
    const now = options.now;
    this.memo = new LRUCache({
      maxSize: options.maxBytes ?? 4 * 1024 * 1024,
      sizeCalculation: (value, key) => key.length + value.length + 120,
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
    });
    coherence.attach(this);
  }

  /** The account's generation; throws `TemporarilyUnavailableError` when the store cannot say (callers then bypass their cache). */
  current(account: string): string | Promise<string> {
    const key = this.key(account);
    // As is when held (a busy account's every request): no promise of its own.
    return this.memo.get(key) ?? this.read(key);
  }

  private async read(key: string): Promise<string> {
    const epoch = this.coherence.epoch;
    const value = (await this.store.get(key)) ?? '0';
    // Generations only count up: a read that began before a bump must not put the older one back.
    const known = this.memo.get(key);
    if (epoch === this.coherence.epoch && (known === undefined || Number(value) > Number(known))) this.keepCopy(key, value);
    return known !== undefined && Number(known) > Number(value) ? known : value;
  }

  /** Moves the account's generation forward, durably; throws `TemporarilyUnavailableError` (nothing changed) when it cannot. */
  async bump(account: string): Promise<void> {
    const key = this.key(account);
    const value = String(await this.store.increment(key));
    // Other copies in this process (decisions keyed by the old generation) go; this one is current.
    this.coherence.forget([key]);
    this.keepCopy(key, value);
  }

  /** The store key of an account's generation (what the invalidation channel names). */
  keyOf(account: string): string {
    return this.key(account);
  }

  /** Part of LocalCopy: another replica moved these generations. */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.memo.delete(key);
  }

  forgetAll(): void {
    this.memo.clear();
  }

  private keepCopy(key: string, value: string): void {
    const ttl = this.coherence.trustMs();
    if (ttl >= 1) this.memo.set(key, value, { ttl });
  }

  private key(account: string): string {
    let key = this.keys.get(account);
    if (key === undefined) {
      // Not `gen:`: the cache kept random markers there, which a counter cannot count up from.
      key = `generation:${keyedHash(this.hashKey, 'generation', account)}`;
      this.keys.set(account, key);
    }
    return key;
  }
}
