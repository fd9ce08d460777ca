import { addressGroup } from '../domain/client-address.js';

/** Options of the anonymous call budget. */
export interface AnonymousCallBudgetOptions {
  /** Points (scopes sent to the decider) one address group may spend per minute. */
  perAddress: number;
  /** Points all addresses together may spend per minute. */
  total: number;
  /** Prefix by which IPv6 addresses are grouped (`server.ipv6PrefixLength`). Default 64. */
  ipv6PrefixLength?: number | undefined;
  /** Most address groups counted one by one. Default 10,000 (about 1 MB). */
  maxAddresses?: number | undefined;
  /** Clock in ms (tests move it instead of waiting). */
  now?: (() => number) | undefined;
}

/** Whether a call may be made; when not, which bound refused it and when it allows one again. */
export type CallBudgetAnswer = { readonly ok: true } | { readonly ok: false; readonly bound: 'address' | 'total'; readonly retryAfterSeconds: number };

/** Calls counted in the minute that ends at `resetAt`. */
interface Window {
  count: number;
  resetAt: number;
}

const WINDOW_MS = 60_000;
/** How often a full table is searched for windows that ended (each search goes over all of it). */
const SWEEP_EVERY_MS = 1000;

/**
 * How many calls to the platform's decider anonymous requests may cause, per client address group
 * and in all, per minute (fixed windows, in process). The table of addresses is bounded: while it
 * is full of addresses whose minute has not ended, every address not in it shares one further
 * window of the per-address size. A newcomer is thus limited at least as tightly as a known
 * address, and no one can clear another address's count by bringing many addresses.
 */
export class AnonymousCallBudget {
  private readonly windows = new Map<string, Window>();
  private readonly overflow: Window = { count: 0, resetAt: 0 };
  private readonly all: Window = { count: 0, resetAt: 0 };
  private readonly now: () => number;
  private readonly maxAddresses: number;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: AnonymousCallBudgetOptions) {
    this.now = options.now ?? Date.now;
    this.maxAddresses = options.maxAddresses ?? 10_000;
  }

  /** Counts a call costing `points` (default 1) for `clientIp` if both bounds allow all of it; counts nothing when refused. */
  take(clientIp: string, points = 1): CallBudgetAnswer {
    const now = this.now();
    const own = this.windowOf(addressGroup(clientIp, this.options.ipv6PrefixLength), now);
    const retryAfter = (w: Window) => Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    if (own.count + points > this.options.perAddress) return { ok: false, bound: 'address', retryAfterSeconds: retryAfter(own) };
    const all = fresh(this.all, now);
    if (all.count + points > this.options.total) return { ok: false, bound: 'total', retryAfterSeconds: retryAfter(all) };
    own.count += points;
    all.count += points;
    return { ok: true };
  }

  /** Address groups counted one by one now (for tests). */
  size(): number {
    return this.windows.size;
  }

  private windowOf(group: string, now: number): Window {
    const known = this.windows.get(group);
    if (known) return fresh(known, now);
    if (this.windows.size >= this.maxAddresses) this.sweep(now);
    if (this.windows.size >= this.maxAddresses) return fresh(this.overflow, now);
    const created = { count: 0, resetAt: now + WINDOW_MS };
    this.windows.set(group, created);
    return created;
  }

  /** Forgets addresses whose minute has ended (their count is 0 again anyway). */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [group, window] of this.windows) if (window.resetAt <= now) this.windows.delete(group);
  }
}

/** `window`, started anew when its minute has ended. */
function fresh(window: Window, now: number): Window {
  if (window.resetAt <= now) {
    window.count = 0;
    window.resetAt = now + WINDOW_MS;
  }
  return window;
}
