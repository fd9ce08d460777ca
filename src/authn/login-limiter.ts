import type { RedisClient } from '../cache/redis-connection.js';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { keyedHash } from '../crypto/keyed-hash.js';
import { addressGroup, DEFAULT_IPV6_PREFIX_LENGTH } from '../domain/client-address.js';
import { TooManyRequestsError } from '../domain/errors.js';

/** Attempt budget of one limit. */
export interface FailureLimit {
  /** Verifications that may fail (or be under way) within the window. */
  failures: number;
  windowSeconds: number;
}

/** Options of the limiter. */
export interface LoginLimiterOptions {
  /** Failures (and verifications under way) from one address group. */
  perIp: FailureLimit;
  /** Failures for one known account from one address group. */
  perAccount: FailureLimit;
  /** Failures for one known account from every address together. */
  perAccountTotal: FailureLimit;
  hashKey: Buffer;
  /** Shared counters across replicas; in-process counters without it (and while it is down). */
  redis?: RedisClient | undefined;
  keyPrefix?: string;
  /** IPv6 addresses are counted by this prefix (`server.ipv6PrefixLength`). Default 64. */
  ipv6PrefixLength?: number;
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
  /**
   * The credential was wrong: the address's point stays spent until the window ends. Only with
   * `knownAccount` (the backend knows the account: a wrong password for a real user) is the
   * failure counted against the account: a username nobody knows gets no counter anywhere.
   */
  failed(knownAccount: boolean): Promise<void>;
  /** No verdict (the backend was unavailable): the address's point is given back. */
  cancelled(): Promise<void>;
}

/** The limits, as named in `TooManyRequestsError.limit` and the metric. */
type Limit = 'ip' | 'account' | 'account_total';

const REFUSALS: Record<Limit, string> = {
  ip: 'too many failed logins from this address; try again later',
  account: 'too many failed logins for this account; try again later',
  account_total: 'too many failed logins for this account from many addresses; try again later',
};

/** A per-account budget as one verification claims it. */
interface AccountClaim {
  limit: Exclude<Limit, 'ip'>;
  limiter: RateLimiterAbstract;
  key: string;
  mark: string;
  points: number;
}

/**
 * Brute-force protection. Every per-address count is by address group (an IPv6 client by its
 * prefix: one subscriber can take a new address from a /64 for every request).
 *
 * - Per address: a verification is counted before it runs (an atomic increment in the shared
 *   store) and a success gives its point back, so failures plus verifications under way never
 *   exceed the budget, however many requests arrive at once, on however many replicas.
 * - Per account from one address, and per account from every address: counted only after a
 *   failure against an account the backend knows, so a random username creates no record
 *   anywhere. They are read before verifying (a spent one refuses), and this process admits no
 *   more verifications of one account at once than the budget has points left (InFlightTally);
 *   across N replicas a simultaneous burst may reach N times that.
 *
 * A refusal creates nothing: the in-process marks of spent budgets are checked before any
 * counter, the account's counters are only read, and the address's counter already exists.
 */
export class LoginLimiter {
  private readonly ip: RateLimiterAbstract;
  private readonly account: RateLimiterAbstract;
  private readonly total: RateLimiterAbstract;
  /**
   * Budgets this process saw spent, until their windows end (by address group, by group and
   * account, and by account). Checked before any counter, so a flood from a spent address costs
   * no shared-store round trip; and a remembered credential skips the shared counters, so without
   * these an address over its budget could go on testing guesses against recently used passwords.
   */
  private readonly spent = new LRUCache<string, { until: number; limit: Limit }>({ max: 50_000 });
  /**
   * Accounts at an address group with a failure this process counted: a remembered credential
   * clears their count as a verified success does (typos do not add up), at the cost of one round
   * trip only after a failure. A failure counted by another replica stays until its window ends.
   */
  private readonly failedHere = new LRUCache<string, true>({ max: 50_000 });
  private readonly inFlight = new InFlightTally();
  private readonly now: () => number;

  constructor(private readonly options: LoginLimiterOptions) {
    this.now = options.now ?? Date.now;
    this.ip = this.limiter('ip', options.perIp);
    this.account = this.limiter('acct', options.perAccount);
    this.total = this.limiter('acctall', options.perAccountTotal);
  }

  /**
   * A credential proven earlier was presented (nothing is verified): throws TooManyRequestsError
   * when this process knows the address's budget or the account's budget at that address to be
   * spent, and otherwise treats it as a success. The account's budget across addresses does not
   * apply: an owner with a remembered credential is never refused for other people's guesses.
   */
  recalled(clientIp: string, username: string): void | Promise<void> {
    // Not async: this runs for every busy client's request, and mostly finds nothing to do.
    const group = this.group(clientIp);
    const account = budgetName(username);
    const pair = `${group}\0${account}`;
    this.refuseIfMarked(group);
    this.refuseIfMarked(pair);
    if (this.failedHere.delete(pair)) return this.account.delete(this.key(group, account)).then(noop, noop);
  }

  /**
   * Claims one verification: refuses (TooManyRequestsError, nothing verified, nothing recorded)
   * when a budget of the address or, with `account`, of the account is spent; otherwise takes one
   * point of the address's budget and counts the verification as under way for the account.
   */
  async reserve(clientIp: string, username?: string): Promise<LoginReservation> {
    const group = this.group(clientIp);
    const account = username === undefined ? undefined : budgetName(username);
    const claims: AccountClaim[] =
      account === undefined
        ? []
        : [
            { limit: 'account', limiter: this.account, key: this.key(group, account), mark: `${group}\0${account}`, points: this.options.perAccount.failures },
            { limit: 'account_total', limiter: this.total, key: this.key(account), mark: `*\0${account}`, points: this.options.perAccountTotal.failures },
          ];
    this.refuseIfMarked(group);
    for (const claim of claims) this.refuseIfMarked(claim.mark);
    const counted = await this.claimAccounts(claims);
    const ipKey = this.key(group);
    let ipClaim: RateLimiterRes;
    try {
      ipClaim = await this.ip.consume(ipKey, 1);
    } catch (reason) {
      for (const claim of claims) this.inFlight.settle(claim.key, false);
      // Not a refusal but a store failure the in-process stand-in could not absorb: no decision.
      if (!(reason instanceof RateLimiterRes)) throw reason;
      // The refused counter is left over its limit, which holds the refusal until the window ends.
      this.mark(group, 'ip', reason.msBeforeNext);
      this.refuse('ip', reason.msBeforeNext);
    }
    let settled = false;
    const settle = (failed: boolean) => {
      if (settled) throw new Error('login reservation settled twice');
      settled = true;
      for (const claim of claims) this.inFlight.settle(claim.key, failed);
    };
    return {
      succeeded: async () => {
        settle(false);
        let hadFailedHere = false;
        if (account !== undefined) {
          this.spent.delete(`${group}\0${account}`);
          hadFailedHere = this.failedHere.delete(`${group}\0${account}`);
        }
        // A success clears the account's count from that address (its other failures were typos);
        // the count across addresses stays: the owner's success says nothing of the others' guesses.
        // Only a count that exists is cleared: most successes follow no failure, and owe no round trip.
        const clear = claims[0] !== undefined && (counted || hadFailedHere);
        await Promise.all([this.giveBack(this.ip, ipKey), clear && this.account.delete(claims[0]!.key).catch(() => undefined)]);
      },
      failed: async (knownAccount) => {
        settle(knownAccount);
        if (ipClaim.remainingPoints === 0) this.mark(group, 'ip', ipClaim.msBeforeNext);
        if (!knownAccount || account === undefined) return;
        this.failedHere.set(`${group}\0${account}`, true);
        await Promise.all(claims.map((claim) => this.count(claim)));
      },
      cancelled: async () => {
        settle(false);
        await this.giveBack(this.ip, ipKey);
      },
    };
  }

  /**
   * Reads the account's counters and admits one more verification of it, or refuses. True when
   * the account's counter at this address holds failures (a success then clears it).
   */
  private async claimAccounts(claims: readonly AccountClaim[]): Promise<boolean> {
    if (claims.length === 0) return false;
    const marks = claims.map((claim) => this.inFlight.reading(claim.key));
    let reads: (RateLimiterRes | null)[];
    try {
      reads = await Promise.all(claims.map((claim) => claim.limiter.get(claim.key)));
    } catch (err) {
      claims.forEach((claim, i) => this.inFlight.held(claim.key, marks[i]!));
      throw err;
    }
    // Every read is settled before any verdict, in one turn: no other request can interleave.
    const held = claims.map((claim, i) => this.inFlight.held(claim.key, marks[i]!));
    for (const [i, claim] of claims.entries()) {
      const spent = reads[i]?.consumedPoints ?? 0;
      if (spent + held[i]! < claim.points) continue;
      const ms = reads[i]?.msBeforeNext ?? 1000;
      // Spent by counted failures: refused until the window ends. Held by guesses under way here:
      // refused for a moment, as they may yet succeed.
      if (spent >= claim.points) this.mark(claim.mark, claim.limit, ms);
      this.refuse(claim.limit, spent >= claim.points ? ms : 1000);
    }
    for (const claim of claims) this.inFlight.start(claim.key);
    return (reads[0]?.consumedPoints ?? 0) > 0;
  }

  /** Counts a failure against one account budget, marking it spent when this used its last point. */
  private async count(claim: AccountClaim): Promise<void> {
    try {
      const res = await claim.limiter.consume(claim.key, 1);
      if (res.remainingPoints === 0) this.mark(claim.mark, claim.limit, res.msBeforeNext);
    } catch (reason) {
      // Over the budget already (counted meanwhile elsewhere): spent. A store failure loses this count.
      if (reason instanceof RateLimiterRes) this.mark(claim.mark, claim.limit, reason.msBeforeNext);
    }
  }

  private refuseIfMarked(mark: string): void {
    const spent = this.spent.get(mark);
    if (spent === undefined) return;
    const left = spent.until - this.now();
    if (left <= 0) this.spent.delete(mark);
    else this.refuse(spent.limit, left);
  }

  private mark(mark: string, limit: Limit, msBeforeNext: number): void {
    this.spent.set(mark, { until: this.now() + msBeforeNext, limit });
  }

  private refuse(limit: Limit, msBeforeNext: number): never {
    throw new TooManyRequestsError(REFUSALS[limit], Math.max(1, Math.ceil(msBeforeNext / 1000)), limit);
  }

  private async giveBack(limiter: RateLimiterAbstract, key: string): Promise<void> {
    // Giving back is best effort: a store that fails here leaves the point spent (fail closed).
    await limiter.reward(key, 1).catch(() => undefined);
  }

  private group(clientIp: string): string {
    return addressGroup(clientIp, this.options.ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH);
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

/**
 * The name an account's budgets count under: lower-cased, since directories and most backends
 * match names without regard to case (slapd finds `kevin` for `Kevin`, `KEVIN` and even
 * `\u212Aevin`), and a budget per spelling would multiply the guesses one account may take.
 */
function noop(): void {}

function budgetName(username: string): string {
  return username.toLowerCase();
}

/** One counter's verifications in this process. */
interface Tally {
  /** Reads of the counter under way. */
  reading: number;
  /** Verifications admitted and not settled yet. */
  underWay: number;
  /** Failures settled since the tally was made: a read that began before one may not show it. */
  failed: number;
}

/**
 * Verifications under way in this process per budget counter that is only counted after the
 * verdict (the per-account budgets): a counter read before verifying does not show the guesses
 * under way, so a burst of 200 concurrent guesses would all read "0 spent". Admitting a
 * verification only while `spent + under way + failed since the read began < budget` bounds what
 * this process verifies at once by the budget's remaining points; a failure that lands during a
 * read may be counted twice, which only refuses early (fail closed). Entries exist while a read
 * or a verification is under way, so the table is bounded by the verifications in flight.
 */
class InFlightTally {
  private readonly tallies = new Map<string, Tally>();

  /** Marks a read of `key` as begun; pass the returned mark to `admit` once it answered. */
  reading(key: string): number {
    let tally = this.tallies.get(key);
    if (!tally) this.tallies.set(key, (tally = { reading: 0, underWay: 0, failed: 0 }));
    tally.reading++;
    return tally.failed;
  }

  /** Ends the read begun with `mark`; how many of the budget this process holds beyond what the read showed. */
  held(key: string, mark: number): number {
    const tally = this.tallies.get(key)!;
    tally.reading--;
    const held = tally.underWay + (tally.failed - mark);
    this.tidy(key, tally);
    return held;
  }

  /** Counts a verification of `key` as under way (call right after `held`, in the same turn). */
  start(key: string): void {
    let tally = this.tallies.get(key);
    if (!tally) this.tallies.set(key, (tally = { reading: 0, underWay: 0, failed: 0 }));
    tally.underWay++;
  }

  /** Settles one verification started with `start`; `failed` when it is about to be counted. */
  settle(key: string, failed: boolean): void {
    const tally = this.tallies.get(key);
    if (!tally) return;
    tally.underWay--;
    if (failed) tally.failed++;
    this.tidy(key, tally);
  }

  private tidy(key: string, tally: Tally): void {
    if (tally.reading === 0 && tally.underWay === 0) this.tallies.delete(key);
  }
}
