import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import { formatScope, type Scope } from '../domain/scope.js';
import type { CircuitState } from '../upstream/circuit-breaker.js';
import { SingleFlight } from '../upstream/single-flight.js';
import type { AuthorizationRequest, ScopeDecision } from './authorizer.js';
import { DecisionCache, decidedIdentity } from './decision-cache.js';
import { decisionFor, decisionRequest, type Decision } from './decision-protocol.js';

/** The result of one call to the decider, shared by every caller waiting on it. */
export type CallOutcome = { kind: 'answered'; decisions: ReadonlyMap<string, Decision>; ttlSeconds: number } | { kind: 'unavailable'; why: string };

/** What differs between the deciders that speak the decision contract (webhook, command). */
export interface OneCallDecider {
  /** The decision source in audit lines and the cache's namespace: `webhook`, `command`. */
  readonly source: 'webhook' | 'command';
  /** For reasons and log lines: `authorization webhook`. */
  readonly label: string;
  /** Where decisions come from (URL, argv): two deciders never share cache entries or flights. */
  readonly endpoint: string;
  /** One call with the JSON body of the decision contract; never throws. */
  call(body: string): Promise<CallOutcome>;
  circuitState(): CircuitState;
}

/** Where decisions are cached, and the decider's own logger. */
export interface OneCallAuthorizerDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** Per-account generation in every cache key, so invalidation orphans cached decisions. Default `0`. */
  generation?: ((account: string) => Promise<string>) | undefined;
}

/**
 * The decision contract's flow (docs/authz-webhook.md), whatever carries it: cached decisions
 * first, then one call for all uncached scopes of a token request (concurrent identical
 * requests share it), answers cached for the TTL the decider gave. Fails closed: with no usable
 * answer every pending scope is `unavailable` (granted nothing, unmatched, so a combined
 * authorizer may still ask the ACL).
 */
export class OneCallAuthorizer {
  private readonly flights = new SingleFlight<CallOutcome>();
  private readonly decisions: DecisionCache;

  constructor(
    private readonly decider: OneCallDecider,
    private readonly deps: OneCallAuthorizerDeps,
  ) {
    this.decisions = new DecisionCache(deps, `authz-${decider.source}`, decider.endpoint, decider.source);
  }

  async authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    const account = request.identity?.account ?? '';
    const generation = await this.decisions.generationOf(account);
    const identity = decidedIdentity(request.identity);
    const keys = generation === undefined || identity === undefined ? undefined : request.scopes.map((scope) => this.decisions.key(request, account, generation, identity, scope));

    const decisions: (ScopeDecision | undefined)[] = await Promise.all(
      request.scopes.map(async (scope, i) => {
        const hit = keys ? await this.decisions.read(keys[i]!) : undefined;
        return hit && { scope, granted: scope.actions.filter((a) => hit.granted.includes(a)), source: 'cache', matched: true, reason: hit.reason };
      }),
    );
    const pending = decisions.flatMap((d, i) => (d === undefined ? [i] : []));
    if (pending.length === 0) return decisions as ScopeDecision[];

    const scopes = pending.map((i) => request.scopes[i]!);
    const body = this.requestBody(request, account, scopes);
    // The body holds everything the answer can depend on; the generation decides where it is cached.
    const flightKey = keyedHash(this.deps.hashKey, `authz-${this.decider.source}-flight`, this.decider.endpoint, generation ?? '', body ?? '');
    const outcome = await this.flights.run(flightKey, () => this.decide(body, scopes, keys && pending.map((i) => keys[i]!)));
    const source = this.decider.source;
    pending.forEach((index, j) => {
      const scope = scopes[j]!;
      decisions[index] =
        outcome.kind === 'answered'
          ? { scope, ...decisionFor(scope, outcome.decisions, source), source, matched: true }
          : { scope, granted: [], source: 'unavailable', matched: false, reason: `${this.decider.label} unavailable: ${outcome.why}` };
    });
    return decisions as ScopeDecision[];
  }

  /** One call for `scopes`, answers cached; never throws. */
  private async decide(body: string | undefined, scopes: readonly Scope[], keys: readonly string[] | undefined): Promise<CallOutcome> {
    const outcome = body === undefined ? { kind: 'unavailable' as const, why: 'identity attributes cannot be sent as JSON' } : await this.decider.call(body);
    if (outcome.kind === 'unavailable') {
      this.deps.logger.warn(
        { event: 'authz_failed_closed', why: outcome.why, scopes: scopes.map(formatScope), circuit: this.decider.circuitState() },
        `${this.decider.label} gave no decision; failing closed (only cached decisions grant access)`,
      );
      return outcome;
    }
    if (keys) {
      await Promise.all(scopes.map((scope, i) => this.decisions.write(keys[i]!, decisionFor(scope, outcome.decisions, this.decider.source), outcome.ttlSeconds)));
    }
    return outcome;
  }

  /** The JSON body, or undefined when the identity's attributes do not serialise (e.g. a BigInt). */
  private requestBody(request: AuthorizationRequest, account: string, scopes: readonly Scope[]): string | undefined {
    try {
      return JSON.stringify(decisionRequest(request, account, scopes));
    } catch (err) {
      this.deps.logger.error({ event: `authz_${this.decider.source}_error`, account, err: (err as Error).message }, `identity attributes cannot be serialised for the ${this.decider.label}`);
      return undefined;
    }
  }
}
