import { addressGroup } from '../domain/client-address.js';
import { TooManyRequestsError } from '../domain/errors.js';
import type { RefusalLog } from '../logging/refusal-log.js';
import type { Store } from '../store/store.js';

/** Address groups counted per window in one process unless told otherwise (about 100 bytes each). */
const MAX_ADDRESSES = 20_000;

/** Options of a limiter of unauthenticated starts (browser logins, device codes). */
export interface StartLimiterOptions {
  /** Where the overall count lives (one atomic counter per window, shared by replicas, never evicted); used only with `total`. */
  store?: Store | undefined;
  /** Names the starts in messages ("browser logins", "device logins"). */
  what: string;
  /** Names the limit in the metric, the log and the store key (`device_starts`); the overall bound adds `_total`, a full table `_table`. */
  limit: string;
  /** Starts one address group may make per window, counted in this process. */
  perAddress: number;
  /** Starts everyone together may make per window, across replicas; undefined = no overall bound. */
  total?: number | undefined;
  windowSeconds: number;
  /** IPv6 clients are counted by this prefix (`server.ipv6PrefixLength`). */
  ipv6PrefixLength: number;
  /** Address groups counted per window; when full, a group not counted yet is refused. Default 20 000. */
  maxAddresses?: number;
  /** Counts refusals and logs the first few per address. */
  refusals?: RefusalLog | undefined;
  now: () => number;
}

/**
 * Counts starts that anyone may make without signing in, per address group and overall, in fixed
 * windows, and refuses the excess with 429 and `Retry-After`: each start writes a record, and
 * unauthenticated requests must not be able to write without bound.
 *
 * No one else's traffic can reset a count. Counts per address are held in this process, in a
 * table of bounded size that refuses newcomers when full instead of forgetting a count before its
 * window ends (in the evictable cache, 25 s of anonymous traffic evicted them and a refused
 * address was let in again); so they are per replica. The overall count is one atomic counter
 * per window in the store, shared by every replica.
 */
export class StartLimiter {
  private window = -1;
  /** Starts per address group in the current window; replaced whole when the window changes. */
  private counts = new Map<string, number>();
  private readonly maxAddresses: number;

  constructor(private readonly options: StartLimiterOptions) {
    this.maxAddresses = options.maxAddresses ?? MAX_ADDRESSES;
  }

  /** Counts one start from `clientIp`; throws `TooManyRequestsError` when a limit is used up. */
  async take(clientIp: string): Promise<void> {
    const { what, limit, windowSeconds, total, store } = this.options;
    const nowSeconds = this.options.now() / 1000;
    const window = Math.floor(nowSeconds / windowSeconds);
    const retryAfter = windowSeconds - Math.floor(nowSeconds % windowSeconds);
    if (window !== this.window) {
      // Every count of an earlier window has ended with it.
      this.window = window;
      this.counts = new Map();
    }
    const counts = this.counts;
    const group = addressGroup(clientIp, this.options.ipv6PrefixLength);
    const count = counts.get(group) ?? 0;
    if (count === 0 && counts.size >= this.maxAddresses) this.refuse(clientIp, `too many ${what} started; wait a few minutes`, retryAfter, `${limit}_table`);
    if (count >= this.options.perAddress) this.refuse(clientIp, `too many ${what} started from this address; wait a few minutes`, retryAfter, limit);
    // Counted at once, before any await: concurrent starts from one address see each other.
    counts.set(group, count + 1);
    if (total === undefined || !store) return;
    let overall: number;
    try {
      overall = await store.increment(`starts:${limit}:${window}`, windowSeconds);
    } catch (err) {
      giveBack(counts, group);
      throw err;
    }
    if (overall > total) {
      // Refused overall: not a start of this address's, and no entry left behind for it.
      giveBack(counts, group);
      this.refuse(clientIp, `too many ${what} started; wait a few minutes`, retryAfter, `${limit}_total`);
    }
  }

  private refuse(clientIp: string, message: string, retryAfter: number, limit: string): never {
    this.options.refusals?.record(clientIp, limit, { event: 'start_refused', limit, clientIp }, `${this.options.what} start refused`);
    throw new TooManyRequestsError(message, retryAfter, limit);
  }
}

/** Takes back one count of `group`, removing its entry at zero. */
function giveBack(counts: Map<string, number>, group: string): void {
  const count = counts.get(group);
  if (count === undefined) return;
  if (count <= 1) counts.delete(group);
  else counts.set(group, count - 1);
}
