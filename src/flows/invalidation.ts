import type { Logger } from 'pino';
import type { AccountGenerations } from '../cache/account-generations.js';
import type { Cache } from '../cache/cache.js';

/** What a platform backend asks to forget. */
export interface InvalidationRequest {
  /** A platform token whose cached introspection must go (e.g. just revoked). */
  token?: string | undefined;
  /** An account whose cached authorization decisions must go. */
  account?: string | undefined;
}

/** Dependencies of the invalidator. */
export interface InvalidatorDeps {
  cache: Cache;
  generations: AccountGenerations;
  /** Cache keys a token may be cached under (one per introspection backend). */
  tokenCacheKeys: (token: string) => string[];
  logger: Logger;
  /**
   * Tells the other replicas which (hashed) keys to drop from their in-process layer, so the
   * invalidation holds everywhere at once rather than within the layer's second.
   */
  announce?: (keys: string[]) => Promise<void>;
  /** Drops this replica's recent token answers. */
  forgetAnswers?: () => void;
}

/** Drops cached facts on request, so a revocation takes effect now instead of after a TTL. */
export class Invalidator {
  constructor(private readonly deps: InvalidatorDeps) {}

  /**
   * Throws `TemporarilyUnavailableError` (a 503) when the generation was not recorded in the store
   * or the shared cache did not take a deletion: reporting success then would let the cached facts
   * come back once Redis does. What was done before the failure only forgot more, never less.
   */
  async invalidate(request: InvalidationRequest, via: string): Promise<void> {
    if (request.account) await this.deps.generations.bump(request.account);
    const keys = request.token ? this.deps.tokenCacheKeys(request.token) : [];
    await Promise.all(keys.map((key) => this.deps.cache.delete(key)));
    if (request.account) keys.push(this.deps.generations.keyOf(request.account));
    this.deps.forgetAnswers?.();
    if (via === 'http' && this.deps.announce) {
      await this.deps.announce(keys).catch((err: unknown) => this.deps.logger.warn({ event: 'invalidation_announce_failed', err: String(err) }, 'could not tell other replicas; their copies expire within a second'));
    }
    this.deps.logger.info({ event: 'cache_invalidated', via, token: request.token ? 'given' : 'none', account: request.account ?? null }, 'cache invalidated');
  }
}
