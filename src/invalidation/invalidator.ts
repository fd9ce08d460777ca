import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import type { AccountGenerations } from './account-generations.js';
import type { Coherence } from '../cache/coherence.js';
import type { InvalidationChannel } from './redis-channel.js';

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
  /** Every in-process copy in this process, and how long copies are trusted. */
  coherence: Coherence;
  /** Cache keys a token may be cached under (one per introspection backend). */
  tokenCacheKeys: (token: string) => string[];
  logger: Logger;
}

/** The key every replica's copies of recent answers answer to: a revocation drops them all. */
const REVOCATION = 'revocation';

/**
 * The one home of invalidation: the per-account generations, the in-process copies (through the
 * coherence) and the channel that tells the other replicas. Anything that forgets (the admin
 * route, a platform's message on Redis, a revoked credential or refresh token, a replica's
 * announcement) comes through here.
 */
export class Invalidator {
  private channel: InvalidationChannel | undefined;

  constructor(private readonly deps: InvalidatorDeps) {}

  /** From now on, announcements go to the other replicas over `channel`. */
  announceOn(channel: InvalidationChannel | undefined): void {
    this.channel = channel;
  }

  /**
   * Throws `TemporarilyUnavailableError` (a 503) when the generation was not recorded in the store
   * or the shared cache did not take a deletion: reporting success then would let the cached facts
   * come back once Redis does. What was done before the failure only forgot more, never less.
   * `via` `redis`: every replica received the request itself, so nothing is announced.
   */
  async invalidate(request: InvalidationRequest, via: 'http' | 'redis'): Promise<void> {
    if (request.account) await this.deps.generations.bump(request.account);
    const keys = request.token ? this.deps.tokenCacheKeys(request.token) : [];
    await Promise.all(keys.map((key) => this.deps.cache.delete(key)));
    if (request.account) keys.push(this.deps.generations.keyOf(request.account));
    this.deps.coherence.forget(keys);
    if (via === 'http') await this.announce(keys);
    this.deps.logger.info({ event: 'cache_invalidated', via, token: request.token ? 'given' : 'none', account: request.account ?? null }, 'cache invalidated');
  }

  /** A registry credential or refresh token was revoked here: no replica may hand out an answer decided before. */
  async revoked(): Promise<void> {
    this.deps.coherence.forget([REVOCATION]);
    await this.announce([REVOCATION]);
  }

  /** Another replica changed these keys. */
  heard(keys: readonly string[]): void {
    this.deps.coherence.forget(keys);
  }

  private async announce(keys: string[]): Promise<void> {
    await this.channel?.publish(keys).catch((err: unknown) => this.deps.logger.warn({ event: 'invalidation_announce_failed', err: String(err) }, 'could not tell other replicas; their copies expire within their staleness bound'));
  }
}
