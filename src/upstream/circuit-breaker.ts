import type { CircuitState } from '../domain/backend.js';

/** Circuit states, as reported on /readyz and in metrics. */
export type { CircuitState };

/** Options of a breaker. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold: number;
  /** How long the circuit stays open before one trial call is let through, in ms. Default 10000. */
  openMs: number;
  now?: () => number;
}

/**
 * Stops hammering a dead upstream: after `failureThreshold` consecutive failures every call is
 * refused for `openMs`, then one trial call decides. Hand-written rather than opossum because it
 * runs on an injected clock (tests never sleep) and has no timers of its own.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  state(): CircuitState {
    if (this.openedAt === undefined) return 'closed';
    return this.now() - this.openedAt >= this.options.openMs ? 'half_open' : 'open';
  }

  /** Whether a call may go out now; in half-open state only one trial at a time. */
  allow(): boolean {
    const state = this.state();
    if (state === 'closed') return true;
    if (state === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  /**
   * The outcome of an allowed call that never reached the upstream (no free slot here): it says
   * nothing about the upstream, so the state stays as it is, but a half-open trial is given back.
   * Every allow() must end in success(), failure() or this, or a half-open circuit waits forever
   * for a trial that will never report.
   */
  release(): void {
    this.trialInFlight = false;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.trialInFlight = false;
  }

  failure(): void {
    this.trialInFlight = false;
    this.failures += 1;
    if (this.openedAt !== undefined || this.failures >= this.options.failureThreshold) this.openedAt = this.now();
  }
}
