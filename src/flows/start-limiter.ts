import type { Cache } from '../cache/cache.js';
import { keyedHash } from '../cache/keyed-hash.js';
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
  constructor(private readonly options: StartLimiterOptions) {}

  /** Counts one start from `clientIp`; throws `TooManyRequestsError` when a limit is used up. */
  async take(clientIp: string): Promise<void> {
    const { cache, hashKey, what, windowSeconds } = this.options;
    const nowSeconds = this.options.now() / 1000;
    const window = String(Math.floor(nowSeconds / windowSeconds));
    const retryAfter = windowSeconds - Math.floor(nowSeconds % windowSeconds);
    const count = async (key: string) => {
      const next = Number((await cache.get(key)) ?? 0) + 1;
      await cache.set(key, String(next), windowSeconds);
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
