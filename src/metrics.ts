import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CircuitState } from './domain/backend.js';
import type { UpstreamObserver } from './upstream/upstream-client.js';
import { TalliedHistogram, type HistogramSeries } from './metrics/tallied-histogram.js';
import { Tallies, type Tally } from './metrics/tallies.js';

/** The service's Prometheus metrics, in a registry of its own (no global state). */
export interface Metrics {
  registry: Registry;
  /** Token requests by outcome (issued, unauthorized, invalid, rate_limited, unavailable, error) and grant type. */
  tokenRequests: Counter<'outcome' | 'grant_type'>;
  /** Token request latency by grant type. */
  tokenDuration: TalliedHistogram;
  /** Cache lookups by kind (the key's prefix: intro, authz, rt, static, cred...) and result. */
  cacheLookups: Counter<'kind' | 'result'>;
  /** A new tally of `cacheLookups` for one kind and result: made at its first lookup, then kept. */
  lookupTally(kind: string, result: 'hit' | 'miss' | 'error'): Tally;
  /** Lookups of the first tier over Redis: answered in process (`local`) or with a round trip (`shared`). */
  firstTier: Counter<'result'>;
  /** Counts one first-tier lookup. */
  countFirstTier(result: 'local' | 'shared'): void;
  upstreamDuration: Histogram<'upstream' | 'outcome'>;
  /**
   * Requests refused by a limit, by which: `ip`, `account`, `account_total` (login budgets),
   * `address_concurrency` (429), `busy` (503 at the process's bound on logins under way),
   * `device_starts`, `login_starts` (per address), their `_total` (overall) and `_table` (the table of addresses full),
   * `anonymous_webhook` (anonymous scopes past their budget of webhook decisions).
   */
  rateLimited: Counter<'limit'>;
  /** Credential verifications run (past every cache), by the backend that decided (`none`: no backend knew the credential). */
  credentialVerifications: Counter<'backend'>;
  /** Token exchanges (`/api/v1/exchange`) answered, by outcome: `issued`, `refused` (401), `denied` (403), `invalid` (400, 415), `limited` (429), `unavailable` (5xx). */
  exchanges: Counter<'outcome'>;
  /** Counts one answered token request and its latency (the two token metrics above). */
  observeTokenRequest(outcome: string, grantType: string, seconds: number): void;
  observeUpstream: UpstreamObserver;
  /** Where the circuit gauge reads states from at scrape time. */
  setCircuitSource(source: () => Record<string, CircuitState>): void;
  /** Where the store gauge asks, at scrape time, whether the store accepts writes. */
  setStoreSource(source: () => Promise<boolean>): void;
  /** Live registry credentials ending within 7 days, of every account (set by each replica's sweep every 10 minutes). */
  credentialsExpiring: Gauge;
  /** Counts one connection closed at once past a bound (`per_address`, `total`). */
  countRefusedConnection(bound: 'per_address' | 'total'): void;
  /** Where the open-connections gauge reads its count at scrape time. */
  setOpenConnectionsSource(source: () => number): void;
}

/** Creates the metrics; `defaults` adds Node's process metrics (off in tests that build many apps). */
export function createMetrics(defaults = true): Metrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'wharf_' });
  let circuits: () => Record<string, CircuitState> = () => ({});
  let storeWritable: (() => Promise<boolean>) | undefined;
  new Gauge({
    name: 'wharf_store_writable',
    help: '1 while the store records writes, 0 while it refuses them (Redis out of memory, a read-only replica, a failing disk, unreachable: /readyz names the cause)',
    registers: [registry],
    async collect() {
      if (storeWritable) this.set((await storeWritable()) ? 1 : 0);
    },
  });
  const upstreamDuration = new Histogram({
    name: 'wharf_upstream_request_duration_seconds',
    help: 'Upstream (introspection, authz webhook, identity provider) request time, retries included',
    labelNames: ['upstream', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'wharf_upstream_circuit_open',
    help: '1 when the upstream circuit breaker is open (calls refused), 0.5 half-open, 0 closed',
    labelNames: ['upstream'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [upstream, state] of Object.entries(circuits())) this.set({ upstream }, state === 'open' ? 1 : state === 'half_open' ? 0.5 : 0);
    },
  });
  // The counts every token request and cache lookup adds to are plain numbers (metrics/tallies.ts),
  // read into the counters at each scrape: prom-client hashes the labels of every inc.
  const tokenTallies = new Tallies<'outcome' | 'grant_type'>();
  const tokenRequests = new Counter({
    name: 'wharf_token_requests_total',
    help: 'Token requests by outcome and grant type',
    labelNames: ['outcome', 'grant_type'] as const,
    registers: [registry],
    collect() {
      tokenTallies.fold(this);
    },
  });
  // Its series count in plain numbers too (metrics/tallied-histogram.ts): prom-client's observe
  // hashes the labels and indexes its buckets by text, ~0.5 us per token request, more under load.
  const tokenDuration = new TalliedHistogram({
    name: 'wharf_token_request_duration_seconds',
    help: 'Token endpoint latency',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  }).registerIn(registry);
  // Per grant type its latency series and its counts by outcome; both sets are small and fixed
  // (app.ts names the grant types, routes/metrics.ts the outcomes).
  const tokenGrants = new Map<string, { time: HistogramSeries; counts: Map<string, Tally> }>();
  const lookupTallies = new Tallies<'kind' | 'result'>();
  const firstTierTallies = new Tallies<'result'>();
  const firstTier = new Counter({
    name: 'wharf_cache_first_tier_total',
    help: 'Lookups of the in-process first tier over Redis: local (no round trip) or shared (read from Redis)',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      firstTierTallies.fold(this);
    },
  });
  // Made at the first lookup of each, so a process that never has a first tier shows neither series.
  let firstTierLocal: Tally | undefined;
  let firstTierShared: Tally | undefined;
  let openConnections: () => number = () => 0;
  new Gauge({
    name: 'wharf_connections_open',
    help: 'Client connections open in this process (admitted past the connection bounds, not yet closed)',
    registers: [registry],
    collect() {
      this.set(openConnections());
    },
  });
  const refusedConnections = new Counter({ name: 'wharf_connections_refused_total', help: 'Connections closed at once, unread, past a bound (per_address, total)', labelNames: ['bound'] as const, registers: [registry] });
  // Bound once: under a flood this runs for every connection.
  const refusedBy = { per_address: refusedConnections.labels({ bound: 'per_address' }), total: refusedConnections.labels({ bound: 'total' }) };
  return {
    registry,
    tokenRequests,
    tokenDuration,
    observeTokenRequest(outcome, grantType, seconds) {
      let grant = tokenGrants.get(grantType);
      if (!grant) tokenGrants.set(grantType, (grant = { time: tokenDuration.series({ grant_type: grantType }), counts: new Map<string, Tally>() }));
      let count = grant.counts.get(outcome);
      if (!count) grant.counts.set(outcome, (count = tokenTallies.add({ outcome, grant_type: grantType })));
      count.count++;
      grant.time.observe(seconds);
    },
    cacheLookups: new Counter({
      name: 'wharf_cache_lookups_total',
      help: 'Cache lookups by kind and result (hit, miss, error)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
      collect() {
        lookupTallies.fold(this);
      },
    }),
    lookupTally: (kind, result) => lookupTallies.add({ kind, result }),
    firstTier,
    countFirstTier(result) {
      if (result === 'local') (firstTierLocal ??= firstTierTallies.add({ result: 'local' })).count++;
      else (firstTierShared ??= firstTierTallies.add({ result: 'shared' })).count++;
    },
    upstreamDuration,
    rateLimited: new Counter({ name: 'wharf_rate_limited_total', help: 'Requests refused by a limit (login budgets, logins under way, login and device starts), by limit', labelNames: ['limit'] as const, registers: [registry] }),
    credentialVerifications: new Counter({
      name: 'wharf_credential_verifications_total',
      help: 'Password and token logins verified by a backend (not answered from what it remembered), by the deciding backend',
      labelNames: ['backend'] as const,
      registers: [registry],
    }),
    exchanges: new Counter({ name: 'wharf_exchanges_total', help: 'Token exchanges answered (a workload ID token for a pull credential), by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    observeUpstream: (upstream, outcome, seconds) => upstreamDuration.observe({ upstream, outcome }, seconds),
    setCircuitSource(source) {
      circuits = source;
    },
    setStoreSource(source) {
      storeWritable = source;
    },
    credentialsExpiring: new Gauge({ name: 'wharf_credentials_expiring', help: 'Live registry credentials ending within 7 days, of every account (counted every 10 minutes)', registers: [registry] }),
    countRefusedConnection: (bound) => refusedBy[bound].inc(),
    setOpenConnectionsSource(source) {
      openConnections = source;
    },
  };
}
