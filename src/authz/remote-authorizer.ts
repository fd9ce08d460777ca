import { NOT_HELD, type Cache } from '../cache/cache.js';
import { MemoryCache } from '../cache/memory-cache.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import { formatScope, type Scope } from '../domain/scope.js';
import type { CircuitBreaker, CircuitState } from '../upstream/circuit-breaker.js';
import { SingleFlight } from '../upstream/single-flight.js';
import { AnonymousCallBudget } from './anonymous-call-budget.js';
import { DEFAULT_ANONYMOUS_DECISIONS, type AnonymousDecisionsConfig } from './anonymous-config.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from './authorizer.js';
import { DecisionCache, decidedIdentity, type CachedDecision } from './decision-cache.js';
import type { Decider, Verdict } from './decider.js';

/** Where a remote authorizer keeps decisions, and the circuit in front of its decider. */
export interface RemoteAuthorizerOptions {
  /** Where decisions are remembered (keys are keyed hashes, values JSON). */
  cache: Cache;
  /** Key of the keyed hashes that name cache entries and calls. */
  hashKey: Buffer;
  /**
   * A per-account generation that is part of every cache key: changing it orphans the account's
   * cached decisions at once (invalidation without scanning the cache). Default always `0`.
   */
  generation?: ((account: string) => string | Promise<string>) | undefined;
  /**
   * The breaker in front of the decider. The decider's transport consults and feeds it on every
   * call (it alone knows what a failed call is: one HTTP exchange, one command run); this
   * authorizer reports it for readiness and metrics, and names its state when failing closed.
   */
  circuit: CircuitBreaker;
  /** Bounds on what anonymous requests cost (their own cache, calls per address). Default `DEFAULT_ANONYMOUS_DECISIONS`. */
  anonymous?: AnonymousDecisionsConfig | undefined;
  /** Prefix by which IPv6 client addresses are grouped for the anonymous call budget. Default 64. */
  ipv6PrefixLength?: number | undefined;
  /** Clock in ms (the anonymous cache and call budget). */
  now?: (() => number) | undefined;
}

/** Bytes the anonymous cache counts per decision (its key, value and bookkeeping, as MemoryCache sizes them), for its entry bound. */
const ANONYMOUS_ENTRY_BYTES = 280;

/**
 * An authorizer whose decisions come from a remote decider (docs/authz-webhook.md): cached
 * decisions first, then one call to the decider for all still undecided scopes of a token request
 * (concurrent identical requests share it), decisions cached for the TTL the decider gave. Fails
 * closed: a scope with no decision is `unavailable` (nothing granted, unmatched, so a combined
 * authorizer may still ask the ACL), and the log says so; only what the cache already proved is
 * granted while the decider is down.
 *
 * Anonymous requests prove nothing, and anyone can send them with fresh names: their decisions
 * live in an in-process cache of their own, bounded by bytes (they never reach Redis, nor push
 * a proven user's decision out of the first tier), and the calls they cause are budgeted per
 * address: past it their undecided scopes are `limited` (no call, nothing logged here).
 */
export class RemoteAuthorizer implements Authorizer {
  private readonly flights = new SingleFlight<Verdict[]>();
  private readonly decisions: DecisionCache;
  private readonly anonymousDecisions: DecisionCache;
  private readonly anonymousCache: MemoryCache;
  private readonly budget: AnonymousCallBudget;
  private readonly anonymousLimits: AnonymousDecisionsConfig;

  constructor(
    private readonly decider: Decider,
    private readonly options: RemoteAuthorizerOptions,
  ) {
    const namespace = `authz-${decider.source}`;
    this.decisions = new DecisionCache({ ...options, logger: decider.logger }, namespace, decider.endpoint, decider.label);
    const limits = (this.anonymousLimits = options.anonymous ?? DEFAULT_ANONYMOUS_DECISIONS);
    const bytes = limits.cacheMegabytes * 1024 * 1024;
    // lru-cache allocates its index for `max` up front: sized from the byte bound, not beyond it.
    this.anonymousCache = new MemoryCache({ maxBytes: bytes, maxEntries: Math.ceil(bytes / ANONYMOUS_ENTRY_BYTES), ...(options.now ? { now: options.now } : {}) });
    this.anonymousDecisions = new DecisionCache({ ...options, cache: this.anonymousCache, logger: decider.logger }, namespace, decider.endpoint, decider.label);
    this.budget = new AnonymousCallBudget({
      perAddress: limits.webhookScopesPerMinute,
      total: limits.webhookScopesPerMinuteTotal,
      ipv6PrefixLength: options.ipv6PrefixLength,
      now: options.now,
    });
  }

  /** State of the circuit in front of the decider, for readiness and metrics. */
  circuitState(): CircuitState {
    return this.options.circuit.state();
  }

  /**
   * Decisions held in process (every busy client's case) are answered as they are, with no
   * promise: the generation, the keys and the cached decisions are all at hand. Anything else
   * (a decision only Redis holds, a call to the decider) is a promise.
   */
  authorize(request: AuthorizationRequest): ScopeDecision[] | Promise<ScopeDecision[]> {
    const cache = request.identity === undefined ? this.anonymousDecisions : this.decisions;
    const account = request.identity?.account ?? '';
    const known = cache.generationOf(account);
    // The promise's case apart, in a method of its own: a closure here would cost every request its context.
    if (known === undefined || typeof known === 'string') return this.authorizeAt(request, cache, account, known);
    return this.authorizeLater(request, cache, account, known);
  }

  /** authorize() once a generation the process did not hold has been read. */
  private async authorizeLater(request: AuthorizationRequest, cache: DecisionCache, account: string, generation: Promise<string | undefined>): Promise<ScopeDecision[]> {
    return this.authorizeAt(request, cache, account, await generation);
  }

  /** authorize() once the account's generation is known (undefined: the cache is bypassed). */
  private authorizeAt(request: AuthorizationRequest, cache: DecisionCache, account: string, generation: string | undefined): ScopeDecision[] | Promise<ScopeDecision[]> {
    const identity = decidedIdentity(request.identity);
    const requested = request.scopes;
    const count = requested.length;
    if (generation === undefined || identity === undefined) return this.undecided(request, cache, account, generation, identity, new Array<ScopeDecision | undefined>(count), undefined);

    // One scope, what a registry client asks for almost every pull: read without the arrays of several.
    if (count === 1) {
      const only = cache.key(request, account, generation, identity, requested[0]!);
      const held = cache.held(only);
      if (held === NOT_HELD) return this.readThenDecide(request, cache, account, generation, identity, [undefined], [only], [0]);
      if (held) return [cachedDecision(requested[0]!, held)];
      return this.undecided(request, cache, account, generation, identity, [undefined], [only]);
    }

    // Every decision the process holds is answered at once; the others are read together (plain loops: this runs for every token request).
    const decisions: (ScopeDecision | undefined)[] = new Array<ScopeDecision | undefined>(count);
    const keys = new Array<string>(count);
    let unheld: number[] | undefined;
    let undecided = false;
    for (let i = 0; i < count; i++) {
      const key = (keys[i] = cache.key(request, account, generation, identity, requested[i]!));
      const held = cache.held(key);
      if (held === NOT_HELD) (unheld ??= []).push(i);
      else if (held) decisions[i] = cachedDecision(requested[i]!, held);
      else undecided = true;
    }
    if (unheld !== undefined) return this.readThenDecide(request, cache, account, generation, identity, decisions, keys, unheld);
    return undecided ? this.undecided(request, cache, account, generation, identity, decisions, keys) : (decisions as ScopeDecision[]);
  }

  /** Reads the decisions at `unheld` (none was held in process), then decides what is still undecided. */
  private async readThenDecide(
    request: AuthorizationRequest,
    cache: DecisionCache,
    account: string,
    generation: string,
    identity: string,
    decisions: (ScopeDecision | undefined)[],
    keys: string[],
    unheld: readonly number[],
  ): Promise<ScopeDecision[]> {
    const reads = new Array<Promise<CachedDecision | undefined>>(unheld.length);
    for (let j = 0; j < unheld.length; j++) reads[j] = cache.read(keys[unheld[j]!]!);
    let undecided = false;
    for (let j = 0; j < unheld.length; j++) {
      const hit = await reads[j]!;
      if (hit) decisions[unheld[j]!] = cachedDecision(request.scopes[unheld[j]!]!, hit);
      else undecided = true;
    }
    return undecided ? this.undecided(request, cache, account, generation, identity, decisions, keys) : (decisions as ScopeDecision[]);
  }

  /**
   * Decides the scopes the cache had no decision on (those left undefined in `decisions`, in the
   * order asked): one call to the decider, or none past an anonymous budget. `keys` are every
   * scope's cache key; undefined when nothing is cached (no generation, or no identity to send).
   */
  private async undecided(
    request: AuthorizationRequest,
    cache: DecisionCache,
    account: string,
    generation: string | undefined,
    identity: string | undefined,
    decisions: (ScopeDecision | undefined)[],
    keys: string[] | undefined,
  ): Promise<ScopeDecision[]> {
    const pending: number[] = [];
    for (let i = 0; i < decisions.length; i++) if (decisions[i] === undefined) pending.push(i);
    if (pending.length === 0) return decisions as ScopeDecision[];

    const scopes = pending.map((i) => request.scopes[i]!);
    if (request.identity === undefined) {
      const budget = this.budget.take(request.clientIp, scopes.length);
      if (!budget.ok) {
        const reason = budget.bound === 'address' ? `over ${this.anonymousLimits.webhookScopesPerMinute} anonymous scopes per minute for the ${this.decider.label} from this address` : `over ${this.anonymousLimits.webhookScopesPerMinuteTotal} anonymous scopes per minute for the ${this.decider.label} in all`;
        const limited = (scope: Scope): ScopeDecision => ({ scope, granted: [], source: 'limited', matched: false, reason, retryAfterSeconds: budget.retryAfterSeconds });
        pending.forEach((index, j) => (decisions[index] = limited(scopes[j]!)));
        return decisions as ScopeDecision[];
      }
    }
    const pendingKeys = keys && pending.map((i) => keys[i]!);
    let verdicts: Verdict[];
    if (identity === undefined) {
      // Attributes that do not serialise (a BigInt, a cycle) can be neither sent nor cached.
      this.decider.logger.error({ event: `authz_${this.decider.source}_error`, account }, `identity attributes cannot be serialised for the ${this.decider.label}`);
      verdicts = this.failClosed(account, scopes, scopes.map(() => ({ kind: 'unavailable', why: 'identity attributes cannot be sent as JSON' })));
    } else {
      verdicts = await this.flights.run(this.flightKey(request, account, generation, identity, scopes), () => this.ask(request, cache, account, scopes, pendingKeys));
    }
    pending.forEach((index, j) => (decisions[index] = this.decision(scopes[j]!, verdicts[j]!)));
    return decisions as ScopeDecision[];
  }

  /** One call to the decider for `scopes`, its decisions cached; never throws. */
  private async ask(request: AuthorizationRequest, cache: DecisionCache, account: string, scopes: readonly Scope[], keys: readonly string[] | undefined): Promise<Verdict[]> {
    let verdicts: Verdict[];
    try {
      const answered = await this.decider.decide(request, scopes);
      verdicts = scopes.map((_, i) => answered[i] ?? { kind: 'unavailable', why: 'no verdict on this scope' });
    } catch (err) {
      this.decider.logger.error({ event: `authz_${this.decider.source}_error`, err }, `unexpected error asking the ${this.decider.label}`);
      verdicts = scopes.map(() => ({ kind: 'unavailable', why: 'unexpected error' }));
    }
    if (keys) {
      await Promise.all(
        verdicts.map((v, i) => (v.kind === 'decided' ? cache.write(keys[i]!, { granted: [...asked(scopes[i]!, v.granted)], reason: v.reason }, v.ttlSeconds) : undefined)),
      );
    }
    return this.failClosed(account, scopes, verdicts);
  }

  /** Logs the scopes that got no decision, once per call; returns `verdicts`. */
  private failClosed(account: string, scopes: readonly Scope[], verdicts: Verdict[]): Verdict[] {
    const failed = verdicts.flatMap((v, i) => (v.kind === 'unavailable' ? [{ scope: formatScope(scopes[i]!), why: v.why }] : []));
    if (failed.length > 0) {
      this.decider.logger.warn(
        { event: 'authz_failed_closed', account, why: [...new Set(failed.map((f) => f.why))].join('; '), scopes: failed.map((f) => f.scope), circuit: this.circuitState() },
        `${this.decider.label} gave no decision; failing closed (only cached decisions grant access)`,
      );
    }
    return verdicts;
  }

  private decision(scope: Scope, verdict: Verdict): ScopeDecision {
    return verdict.kind === 'decided'
      ? { scope, granted: asked(scope, verdict.granted), source: this.decider.source, matched: true, reason: verdict.reason }
      : { scope, granted: [], source: 'unavailable', matched: false, reason: `${this.decider.label} unavailable: ${verdict.why}` };
  }

  /**
   * Names one call: everything the decider is shown (the client IP too, which the cache key
   * leaves out) and the generation, which decides where the answer is cached.
   */
  private flightKey(request: AuthorizationRequest, account: string, generation: string | undefined, identity: string, scopes: readonly Scope[]): string {
    const shown = JSON.stringify(scopes.map((s) => [s.type, s.class ?? null, s.name, s.actions]));
    return keyedHash(this.options.hashKey, `authz-${this.decider.source}-flight`, this.decider.endpoint, generation ?? '', request.service, request.clientIp, account, identity, shown);
  }
}

/** A decision read from the cache, on the scope as asked. */
function cachedDecision(scope: Scope, hit: CachedDecision): ScopeDecision {
  return { scope, granted: asked(scope, hit.granted), source: 'cache', matched: true, reason: hit.reason };
}

/**
 * The granted actions among those `scope` asks for, in its order: a decider never grants more
 * than was asked. When every asked action is granted (a fleet's pulls, mostly) it is the scope's
 * own list, shared and never written to, not a copy per request.
 */
function asked(scope: Scope, granted: readonly string[]): readonly string[] {
  const actions = scope.actions;
  for (let i = 0; i < actions.length; i++) if (!granted.includes(actions[i]!)) return actions.filter((a) => granted.includes(a));
  return actions;
}
