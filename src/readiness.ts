import type { CallbackAuthenticator } from './authn/authenticator.js';
import type { Cache } from './cache/cache.js';
import type { Coherence } from './cache/coherence.js';
import type { CircuitState } from './domain/backend.js';
import type { Readiness } from './domain/readiness.js';
import type { Store, StoreHealth } from './store/store.js';

/** An upstream circuit, by the name /readyz and the circuit metric give it. */
export interface NamedCircuit {
  readonly name: string;
  state(): CircuitState;
}

/** What /readyz looks at. */
export interface ReadinessSources {
  cache: Cache;
  store: Store;
  coherence: Coherence;
  /** Whether invalidations arrive over Redis (then the subscription is reported). */
  sharedCache: boolean;
  circuits: readonly NamedCircuit[];
  loginProviders: readonly CallbackAuthenticator[];
}

/** What /readyz says is wrong with a store that answers: the writes it refuses first, then what risks records. */
function storeProblems(health: StoreHealth): string[] {
  return [...(health.refusesWrites ? [`refuses writes: ${health.refusesWrites}`] : []), ...health.warnings];
}

/**
 * Readiness: keys, cache, store, upstream circuits, sign-in providers. `degraded` still answers
 * 200: the service works, with less cache or fewer upstreams.
 */
export async function readiness(sources: ReadinessSources): Promise<Readiness> {
  const { cache, store, coherence } = sources;
  const storeHealth = await store.health();
  const checks: Record<string, string> = {
    keys: 'ok',
    cache: (await cache.healthy()) ? 'ok' : 'unreachable (using in-process fallback)',
    store: !storeHealth.ok ? 'unreachable' : storeProblems(storeHealth).join('; ') || 'ok',
  };
  // Informative, not degraded: without the subscription copies are trusted for a second only.
  if (sources.sharedCache) checks.invalidations = coherence.subscribed ? 'listening' : 'not subscribed (in-process copies trusted for 1 s)';
  for (const circuit of sources.circuits) checks[circuit.name] = `circuit ${circuit.state()}`;
  // A sign-in provider whose discovery fails leaves tokens working but logins broken.
  const logins = await Promise.all(sources.loginProviders.map(async (p) => [p.name, p.check ? await p.check() : 'ok'] as const));
  for (const [name, state] of logins) checks[`login.${name}`] = state;
  const degraded = checks.cache !== 'ok' || checks.store !== 'ok' || Object.values(checks).some((c) => c.endsWith('open')) || logins.some(([, state]) => state !== 'ok');
  return { status: degraded ? 'degraded' : 'ready', checks };
}
