import type { Logger } from 'pino';
import { addressGroup } from '../domain/client-address.js';

/** Options of the refusal log. */
export interface RefusalLogOptions {
  logger: Logger;
  /** IPv6 clients are counted by this prefix (`server.ipv6PrefixLength`), as every per-address limit does. */
  ipv6PrefixLength: number;
  now: () => number;
  /** Counts every refusal, written as a line or not (the `wharf_rate_limited_total` metric). */
  count?: (limit: string) => void;
  /** Refusals per address group and interval written as lines of their own. Default 3. */
  linesPerAddress?: number;
  /** Length of an interval in ms: at most one summary line each. Default 60 000. */
  intervalMs?: number;
  /** Address groups tracked per interval; once full, a group not tracked yet is only summarised. Default 10 000. */
  maxAddresses?: number;
}

/** Most groups named in a summary, by the number of their refusals. */
const TOP_ADDRESSES = 5;

/**
 * Decides which refusals (budgets, start limits, bounds on logins under way) are written one
 * line each: the first few per address group and interval; the rest are counted and written as
 * one `refusals_summarised` line per interval. A flood of 65,000 refused logins wrote 33 MB of
 * log one line each; an operator needs to know that it happened, from where and by which limit,
 * not each request. The table of groups is cleared every interval and never grows past its
 * bound: when it is full, a new group's refusals go to the summary only.
 */
export class RefusalLog {
  private readonly linesPerAddress: number;
  private readonly intervalMs: number;
  private readonly maxAddresses: number;
  private readonly perAddress = new Map<string, number>();
  private intervalStart: number;
  private refused = 0;
  private summarised = 0;
  private untracked = 0;
  private readonly byLimit = new Map<string, number>();

  constructor(private readonly options: RefusalLogOptions) {
    this.linesPerAddress = options.linesPerAddress ?? 3;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.intervalStart = options.now();
  }

  /** Counts one refusal of `clientIp` by `limit`; true when the caller should write it as a line of its own. */
  refuse(clientIp: string, limit: string): boolean {
    this.roll();
    this.options.count?.(limit);
    this.refused++;
    this.byLimit.set(limit, (this.byLimit.get(limit) ?? 0) + 1);
    const group = addressGroup(clientIp, this.options.ipv6PrefixLength);
    const seen = this.perAddress.get(group);
    if (seen === undefined && this.perAddress.size >= this.maxAddresses) {
      this.untracked++;
      this.summarised++;
      return false;
    }
    const count = (seen ?? 0) + 1;
    this.perAddress.set(group, count);
    if (count <= this.linesPerAddress) return true;
    this.summarised++;
    return false;
  }

  /** Counts one refusal and writes `fields` as a line of its own while the address is within its first few. */
  record(clientIp: string, limit: string, fields: Record<string, unknown>, message: string): void {
    if (this.refuse(clientIp, limit)) this.options.logger.info(fields, message);
  }

  /** Writes the summary once the interval has ended; called on every refusal and by the timer of `start`. */
  roll(): void {
    if (this.options.now() - this.intervalStart >= this.intervalMs) this.flush();
  }

  /**
   * Writes the summary of the interval so far, when any refusal of it was not written one by one,
   * and starts a new interval.
   */
  flush(): void {
    if (this.summarised > 0) {
      const top = [...this.perAddress]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP_ADDRESSES)
        .map(([address, refused]) => ({ address, refused }));
      this.options.logger.info(
        {
          event: 'refusals_summarised',
          refused: this.refused,
          summarised: this.summarised,
          addresses: this.perAddress.size,
          // Refusals of groups the full table could not track (how many groups is not known).
          ...(this.untracked > 0 ? { untrackedRefusals: this.untracked } : {}),
          byLimit: Object.fromEntries(this.byLimit),
          top,
          seconds: Math.round((this.options.now() - this.intervalStart) / 1000),
        },
        'requests refused by limits, summarised (the first few per address are logged one by one)',
      );
    }
    this.perAddress.clear();
    this.byLimit.clear();
    this.refused = this.summarised = this.untracked = 0;
    this.intervalStart = this.options.now();
  }

  /** Writes each interval's summary even when no further refusal comes; returns the stop. */
  start(): () => void {
    const timer = setInterval(() => this.roll(), Math.min(this.intervalMs, 10_000)).unref();
    return () => clearInterval(timer);
  }
}
