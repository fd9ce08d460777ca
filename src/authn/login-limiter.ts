import type { RedisClient } from '../cache/redis-connection.js';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { keyedHash } from '../cache/keyed-hash.js';
import { TooManyRequestsError } from '../domain/errors.js';

const CLEAN_MS = 1000;

/** Failure budget of one limit. */
export interface FailureLimit {
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
}

/**
 * Brute-force protection: failed logins are counted per client address and per account from
 * that address. The per-account count is scoped by address on purpose: an attacker elsewhere
 * can then never lock a user out, so a successful login is not slowed by other people's
 * failures, while guessing from one address stops quickly. Only failures count.
 */
export class LoginLimiter {
  private readonly ip: RateLimiterAbstract;
  private readonly account: RateLimiterAbstract;
  /**
   * Keys found under their limits in the last second. A busy client would otherwise cost two
   * Redis reads per token request; any failure drops the mark, so guesses are always checked.
   */
  private readonly clean = new LRUCache<string, true>({ max: 5_000, ttl: CLEAN_MS });

  constructor(private readonly options: LoginLimiterOptions) {
    this.ip = this.limiter('ip', options.perIp);
    this.account = this.limiter('acct', options.perAccount);
  }

  /** Throws TooManyRequestsError when either budget is spent. */
  async check(clientIp: string, account: string): Promise<void> {
    // The local marks are keyed by the plain values (they never leave the process); only what goes
    // to Redis is hashed.
    const ipMark = clientIp;
    const accountMark = `${clientIp}\0${account}`;
    const ipClean = this.clean.has(ipMark);
    const acctClean = this.clean.has(accountMark);
    if (ipClean && acctClean) return;
    const [ip, acct] = await Promise.all([ipClean ? null : this.ip.get(this.key(clientIp)), acctClean ? null : this.account.get(this.key(clientIp, account))]);
    const blocked = (res: RateLimiterRes | null, limit: FailureLimit) => res !== null && res.consumedPoints >= limit.failures;
    if (blocked(ip, this.options.perIp)) this.refuse('ip', ip!, 'too many failed logins from this address');
    if (blocked(acct, this.options.perAccount)) this.refuse('account', acct!, 'too many failed logins for this account');
    // Only keys with no failures at all are marked: one short of the limit must be checked every time.
    if (!ip && !ipClean) this.clean.set(ipMark, true);
    if (!acct) this.clean.set(accountMark, true);
  }

  async failed(clientIp: string, account: string): Promise<void> {
    this.clean.delete(clientIp);
    this.clean.delete(`${clientIp}\0${account}`);
    await Promise.all([
      this.ip.penalty(this.key(clientIp), 1),
      account ? this.account.penalty(this.key(clientIp, account), 1) : Promise.resolve(),
    ]);
  }

  /** A success clears the account's count from that address (its other failures were typos). */
  async succeeded(clientIp: string, account: string): Promise<void> {
    // Seen clean just now: nothing to clear, and no Redis round trip on the hot path.
    if (this.clean.has(`${clientIp}\0${account}`)) return;
    await this.account.delete(this.key(clientIp, account));
  }

  private refuse(limit: 'ip' | 'account', res: RateLimiterRes, message: string): never {
    this.options.onLimited?.(limit);
    throw new TooManyRequestsError(`${message}; try again later`, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
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
