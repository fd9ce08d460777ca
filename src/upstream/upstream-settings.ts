import { z } from 'zod';
import { CircuitBreaker } from './circuit-breaker.js';
import { UpstreamClient, type UpstreamClientOptions } from './upstream-client.js';

/** Defaults a backend may choose for its upstream settings (the timeout, mostly: what its upstream is known to need). */
export interface UpstreamDefaults {
  timeoutMs: number;
  retries: number;
  failureThreshold: number;
  openSeconds: number;
}

const DEFAULTS: UpstreamDefaults = { timeoutMs: 2000, retries: 1, failureThreshold: 5, openSeconds: 10 };

/**
 * How Wharf calls an upstream (an HTTP endpoint or a local command), as a zod object whose
 * `.shape` a backend's config schema spreads in, so every backend has the same field names and
 * bounds. A backend whose upstream needs another default passes it, e.g.
 * `upstreamSettings({ timeoutMs: 5000 })`, and says so in its own doc comment; a command, which
 * is never retried, picks the fields that apply with `.pick()`.
 */
export function upstreamSettings(defaults: Partial<UpstreamDefaults> = {}) {
  const d = { ...DEFAULTS, ...defaults };
  return z.object({
    /**
     * Per-attempt timeout in ms: an HTTP call with no answer by then is abandoned and not retried;
     * a command still running is killed with everything it started. 50 to 60000. Default 2000
     * unless the backend documents another.
     */
    timeoutMs: z.number().int().min(50).max(60_000).default(d.timeoutMs),
    /** Extra attempts after a connection error or a 502/503/504, with jittered backoff. 0 to 5. Default 1. */
    retries: z.number().int().min(0).max(5).default(d.retries),
    /** Consecutive failed calls that open the circuit: no calls while it is open, the backend fails closed. 1 to 1000. Default 5. */
    failureThreshold: z.number().int().min(1).max(1000).default(d.failureThreshold),
    /** How long an open circuit makes no calls before one trial call, in seconds. 1 to 3600. Default 10. */
    openSeconds: z.number().int().min(1).max(3600).default(d.openSeconds),
  });
}

/** The validated upstream settings. */
export type UpstreamSettings = z.infer<ReturnType<typeof upstreamSettings>>;

/** The settings that shape a circuit breaker (all a command has besides its timeout). */
export type CircuitSettings = Pick<UpstreamSettings, 'failureThreshold' | 'openSeconds'>;

/** The circuit breaker in front of one upstream, from its settings. */
export function upstreamCircuit(settings: CircuitSettings, now?: () => number): CircuitBreaker {
  return new CircuitBreaker({ failureThreshold: settings.failureThreshold, openMs: settings.openSeconds * 1000, now });
}

/** What an upstream client takes besides its settings: clock, metrics, body cap, a shared circuit. */
export type UpstreamClientExtras = Omit<UpstreamClientOptions, 'name' | 'timeoutMs' | 'retries' | 'failureThreshold' | 'openMs'>;

/**
 * The HTTP client of one upstream, from its settings: the one place the settings become client
 * options. Pass `circuit` when someone else reports the circuit (an authorizer's readiness);
 * otherwise the client builds its own from the settings.
 */
export function upstreamClient(name: string, settings: UpstreamSettings, extras: UpstreamClientExtras = {}): UpstreamClient {
  return new UpstreamClient({
    name,
    timeoutMs: settings.timeoutMs,
    retries: settings.retries,
    failureThreshold: settings.failureThreshold,
    openMs: settings.openSeconds * 1000,
    ...extras,
  });
}
