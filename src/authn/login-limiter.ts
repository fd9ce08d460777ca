import type { RedisClient } from '../cache/redis-connection.js';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { keyedHash } from '../crypto/keyed-hash.js';
import { TooManyRequestsError } from '../domain/errors.js';

/** Attempt budget of one limit. */
export interface FailureLimit {
  /** Verifications that may fail (or be under way) within the window. */
  failures: number;
  windowSeconds: number;
}

/** Options of the limiter. */
export interface LoginLimiterOptions {
  perIp: FailureLimit;
  /** Failures for one account from one address. */
  perAccount: FailureLimit;
  hashKey: Buffer;
  /** Shared counters across replicas; in-process counters without it (and while it is down). */
  redis?: RedisClient | undefined;
  keyPrefix?: string;
  /** Told which limit refused a request (metrics). */
  onLimited?: (limit: 'ip' | 'account') => void;
  /** Clock in ms for the in-process marks of spent budgets. Default Date.now. */
  now?: () => number;
}

/**
 * One verification's claim on the budgets, taken before the verification starts. Exactly one of
 * the three methods is called once the verification has an outcome.
 */
export interface LoginReservation {
  /** The credential was right: the account's count from that address is cleared and the address's point given back. */
  succeeded(): Promise<void>;
  /** The credential was wrong: the points stay spent until the window ends. */
  failed(): void;
  /** No verdict (the backend was unavailable): both points are given back. */
  cancelled(): Promise<void>;
}

type Limit = 'ip' | 'account';

/**
 * Brute-force protection: verifications are counted per client address and per account from
 * that address. The per-account count is scoped by address on purpose: an attacker elsewhere
 * can then never lock a user out, so a successful login is not slowed by other people's
 * failures, while guessing from one address stops quickly.
 *
 * An attempt is counted before it is verified (an atomic increment in the shared store), and a
 * success gives its points back: so failures plus verifications under way never exceed the
 * budget, however many requests arrive at once. Checking first and counting after the verdict
 * let 200 concurrent guesses through against a budget of 10.
 */
export class LoginLimiter {
  private readonly ip: RateLimiterAbstract;
  private readonly account: RateLimiterAbstract;
  /**
   * Budgets this process saw spent, until their windows end (by address, and by address and
   * account). A remembered credential skips the shared counters, so without these an address
   * over its budget could go on testing guesses against recently used passwords: a wrong guess
   * is refused by the counters and marks its key here, and from then on a right one is refused too.
   */
  private readonly spent = new LRUCache<string, { until: number; limit: Limit }>({ max: 50_000 });
  /**
   * Accounts at an address with a failure this process counted: a remembered credential clears
   * their count as a verified success does (typos do not add up), at the cost of one round trip
   * only after a failure. A failure counted by another replica is not known here, and stays
   * counted until its window ends.
   */
  private readonly failedHere = new LRUCache<string, true>({ max: 50_000 });

  private readonly now: () => number;

  constructor(private readonly options: LoginLimiterOptions) {
    this.now = options.now ?? Date.now;
    this.ip = this.limiter('ip', options.perIp);
    this.account = this.limiter('acct', options.perAccount);
  }

  /**
   * A credential proven earlier was presented (nothing is verified): throws TooManyRequestsError
   * when this process knows a budget of the address or of the account at that address to be
   * spent, and otherwise treats it as a success. No shared-store round trip unless this process
   * counted a failure for that account at that address.
   */
  async recalled(clientIp: string, account: string): Promise<void> {
    const now = this.now();
    const accountMark = `${clientIp}\0${account}`;
    for (const mark of [clientIp, accountMark]) {
      const spent = this.spent.get(mark);
      if (spent === undefined) continue;
      if (spent.until <= now) {
        this.spent.delete(mark);
        continue;
      }
      this.refuse(spent.limit, spent.until - now);
    }
    if (this.failedHere.delete(accountMark)) await this.account.delete(this.key(clientIp, account)).catch(() => undefined);
  }

  /**
   * Takes one point from the address's budget and, when `account` is given, one from the
   * account's budget at that address. Throws TooManyRequestsError (nothing is verified) when
   * either is spent.
   */
  async reserve(clientIp: string, account?: string): Promise<LoginReservation> {
    const ipKey = this.key(clientIp);
    const accountKey = account ? this.key(clientIp, account) : undefined;
    const claims: [Limit, RateLimiterAbstract, string][] = [];
    // The account first, and the address only once the account's budget allows: a burst at one
    // account is then refused before it touches the address's budget, which the other users
    // behind that address share.
    if (accountKey !== undefined) claims.push(['account', this.account, accountKey]);
    claims.push(['ip', this.ip, ipKey]);
    const taken: { limit: Limit; res: RateLimiterRes }[] = [];
    for (const [limit, limiter, key] of claims) {
      try {
        taken.push({ limit, res: await limiter.consume(key, 1) });
      } catch (reason) {
        // The point already taken is given back, as nothing gets verified. The refused counter is
        // left over its limit, which only holds the refusal until the window ends.
        await Promise.all(taken.map((t) => this.giveBack(t.limit === 'ip' ? this.ip : this.account, t.limit === 'ip' ? ipKey : accountKey!)));
        // Not a refusal but a store failure the in-process stand-in could not absorb: no decision.
        if (!(reason instanceof RateLimiterRes)) throw reason;
        this.markSpent(limit, clientIp, account, reason.msBeforeNext);
        this.refuse(limit, reason.msBeforeNext);
      }
    }
    // The claims that used the last point of a budget: a failure marks them spent at once.
    const lastPoints = taken.filter((t) => t.res.remainingPoints === 0).map((t) => ({ limit: t.limit, ms: t.res.msBeforeNext }));
    let settled = false;
    const settle = () => {
      if (settled) throw new Error('login reservation settled twice');
      settled = true;
    };
    return {
      succeeded: async () => {
        settle();
        if (account) {
          this.spent.delete(`${clientIp}\0${account}`);
          this.failedHere.delete(`${clientIp}\0${account}`);
        }
        // A success clears the account's count from that address (its other failures were typos).
        await Promise.all([this.giveBack(this.ip, ipKey), accountKey === undefined ? undefined : this.account.delete(accountKey)]);
      },
      failed: () => {
        settle();
        if (account) this.failedHere.set(`${clientIp}\0${account}`, true);
        for (const last of lastPoints) this.markSpent(last.limit, clientIp, account, last.ms);
      },
      cancelled: async () => {
        settle();
        await Promise.all(claims.map(([, limiter, key]) => this.giveBack(limiter, key)));
      },
    };
  }

  private markSpent(limit: Limit, clientIp: string, account: string | undefined, msBeforeNext: number): void {
    const mark = limit === 'ip' ? clientIp : `${clientIp}\0${account ?? ''}`;
    this.spent.set(mark, { until: this.now() + msBeforeNext, limit });
  }

  private refuse(limit: Limit, msBeforeNext: number): never {
    this.options.onLimited?.(limit);
    const message = limit === 'ip' ? 'too many failed logins from this address' : 'too many failed logins for this account';
    throw new TooManyRequestsError(`${message}; try again later`, Math.max(1, Math.ceil(msBeforeNext / 1000)));
  }

  private async giveBack(limiter: RateLimiterAbstract, key: string): Promise<void> {
    // Giving back is best effort: a store that fails here leaves the point spent (fail closed).
    await limiter.reward(key, 1).catch(() => undefined);
  }

  private limiter(name: string, limit: FailureLimit): RateLimiterAbstract {
    const common = { points: limit.failures, duration: limit.windowSeconds, keyPrefix: `${this.options.keyPrefix ?? 'wharf:'}rl:${name}` };
    const memory = new RateLimiterMemory(common);
    // While Redis is down the in-process counters stand in (insurance), so limits still hold per replica.
    return this.options.redis ? new RateLimiterRedis({ ...common, storeClient: this.options.redis, insuranceLimiter: memory, useRedisPackage: false }) : memory;
  }

  // Addresses and account names are hashed: the counters' keys reveal no one.
  private key(...parts: string[]): string {
    return keyedHash(this.options.hashKey, 'login-limit', ...parts).slice(0, 32);
  }
}
