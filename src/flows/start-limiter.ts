import type { Cache } from '../cache/cache.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import { TooManyRequestsError } from '../domain/errors.js';

/** Options of a limiter of unauthenticated starts (browser logins, device codes). */
export interface StartLimiterOptions {
  /** Where the counters live (evictable: losing one only resets a window). */
  cache: Cache;
  hashKey: Buffer;
  /** Names the counters and the message ("browser logins", "device logins"). */
  what: string;
  /** Starts one address may make per window. */
  perAddress: number;
  /** Starts everyone together may make per window; undefined = no overall bound. */
  total?: number | undefined;
  windowSeconds: number;
  now: () => number;
}

/**
 * Counts starts that anyone may make without signing in, per address and overall, in fixed
 * windows, and refuses the excess with 429 and `Retry-After`: each start writes a record, and
 * unauthenticated requests must not be able to write without bound.
 */
export class StartLimiter {
  /**
   * The last count under way per counter: counts of one counter run one after another, so a
   * burst at one replica cannot read the same value many times over (50 concurrent starts all
   * read 0 and were all admitted). The cache has no atomic increment; across replicas the
   * counters are shared but each replica's counts interleave, so a simultaneous burst spread
   * over N replicas may exceed a limit by at most N - 1.
   */
  private readonly counting = new Map<string, Promise<number>>();

  constructor(private readonly options: StartLimiterOptions) {}

  /** Counts one start from `clientIp`; throws `TooManyRequestsError` when a limit is used up. */
  async take(clientIp: string): Promise<void> {
    const { cache, hashKey, what, windowSeconds } = this.options;
    const nowSeconds = this.options.now() / 1000;
    const window = String(Math.floor(nowSeconds / windowSeconds));
    const retryAfter = windowSeconds - Math.floor(nowSeconds % windowSeconds);
    const count = (key: string): Promise<number> => {
      const previous = this.counting.get(key) ?? Promise.resolve(0);
      const next = previous
        .catch(() => 0)
        .then(async () => {
          const value = Number((await cache.get(key)) ?? 0) + 1;
          await cache.set(key, String(value), windowSeconds);
          return value;
        });
      this.counting.set(key, next);
      // The entry goes once its count is done, unless a later count already took its place.
      void next.finally(() => this.counting.get(key) === next && this.counting.delete(key)).catch(() => undefined);
      return next;
    };
    if ((await count(`start:${keyedHash(hashKey, 'start-rate', what, clientIp, window)}`)) > this.options.perAddress) {
      throw new TooManyRequestsError(`too many ${what} started from this address; wait a few minutes`, retryAfter);
    }
    if (this.options.total !== undefined && (await count(`start:${keyedHash(hashKey, 'start-rate-total', what, window)}`)) > this.options.total) {
      throw new TooManyRequestsError(`too many ${what} started; wait a few minutes`, retryAfter);
    }
  }
}
