import type { Logger } from 'pino';
import type { Cache } from '../../cache/cache.js';
import { keyedHash } from '../../crypto/keyed-hash.js';
import { formatScope, type Scope } from '../../domain/scope.js';
import type { CircuitState } from '../../upstream/circuit-breaker.js';
import { SingleFlight } from '../../upstream/single-flight.js';
import { type UpstreamObserver, UpstreamClient, UpstreamError, type UpstreamResponse } from '../../upstream/upstream-client.js';
import { DecisionCache, decidedIdentity, type CachedDecision } from '../decision-cache.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../authorizer.js';
import type { SageAuthzConfig } from './sage-config.js';

/** What the SAGE authorizer needs besides its config. */
export interface SageAuthorizerDeps {
  /** Where decisions are remembered (keys are keyed hashes, values JSON). */
  cache: Cache;
  /** Key of the keyed hashes that name cache entries. */
  hashKey: Buffer;
  logger: Logger;
  /** HTTP client to use instead of one built from the config (tests inject fetch/sleep/clock through it). */
  upstream?: UpstreamClient;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  /** Clock in ms for the circuit breaker of a client built here. Default Date.now. */
  now?: () => number;
  /** A per-account generation that is part of every cache key (invalidation without a scan). Default `0`. */
  generation?: (account: string) => Promise<string>;
}

/** The body SAGE's endpoint expects: docker_auth's AuthRequestInfo with lower-case keys. */
interface SageRequest {
  account: string;
  type: string;
  name: string;
  service: string;
  ip: string;
  actions: string[];
  labels: Record<string, unknown>;
}

/** The result of one call, shared by concurrent identical requests. */
type CallOutcome = { kind: 'decided'; decision: CachedDecision } | { kind: 'unavailable'; why: string };

const UPSTREAM_NAME = 'authz-sage';
/** The answer is a short comma list; anything bigger is not an answer. */
const MAX_ANSWER_BYTES = 64 * 1024;
const ACTION = /^(?:\*|[a-z]+)$/;

/**
 * The SAGE platform's authorization dialect: one `POST` per scope (in parallel) with
 * `Authorization: sage <token>`, answered by a plain-text comma list of granted actions; 401 and
 * 403 mean nothing granted. Decisions are cached under keyed hashes; when SAGE cannot be reached
 * only still-valid cached decisions grant anything (fail closed).
 */
export class SageAuthorizer implements Authorizer {
  private readonly upstream: UpstreamClient;
  private readonly flights = new SingleFlight<CallOutcome>();
  private readonly logger: Logger;
  private readonly decisions: DecisionCache;

  constructor(
    private readonly config: SageAuthzConfig & { token: string },
    private readonly deps: SageAuthorizerDeps,
  ) {
    this.upstream =
      deps.upstream ??
      new UpstreamClient({
        name: UPSTREAM_NAME,
        timeoutMs: config.timeoutMs,
        retries: config.retries,
        maxBodyBytes: MAX_ANSWER_BYTES,
        failureThreshold: config.failureThreshold,
        openMs: config.openSeconds * 1000,
        ...(deps.now ? { now: deps.now } : {}),
        ...(deps.upstreamObserver ? { observer: deps.upstreamObserver } : {}),
      });
    const url = new URL(config.url);
    this.logger = deps.logger.child({ authorizer: 'sage', endpoint: `${url.origin}${url.pathname}` });
    this.decisions = new DecisionCache({ cache: deps.cache, hashKey: deps.hashKey, logger: this.logger, generation: deps.generation }, 'authz-sage', this.config.url, 'SAGE');
  }

  /** State of the circuit in front of SAGE, for readiness and metrics. */
  circuitState(): CircuitState {
    return this.upstream.circuitState();
  }

  async authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    const account = request.identity?.account ?? '';
    const generation = await this.decisions.generationOf(account);
    const identity = decidedIdentity(request.identity);
    const failed: { scope: string; why: string }[] = [];
    const decisions = await Promise.all(
      request.scopes.map(async (scope): Promise<ScopeDecision> => {
        const key = generation === undefined || identity === undefined ? undefined : this.decisions.key(request, account, generation, identity, scope);
        const hit = key === undefined ? undefined : await this.decisions.read(key);
        if (hit) return { scope, granted: grantExactly(scope.actions, hit.granted), source: 'cache', matched: true, reason: hit.reason };

        const body = this.requestBody(request, account, scope);
        const flightKey = keyedHash(this.deps.hashKey, 'authz-sage-flight', this.config.url, generation ?? '', body ?? formatScope(scope));
        const outcome = await this.flights.run(flightKey, () => this.decide(body, scope, key));
        if (outcome.kind === 'unavailable') {
          failed.push({ scope: formatScope(scope), why: outcome.why });
          return { scope, granted: [], source: 'unavailable', matched: false, reason: `SAGE authorization unavailable: ${outcome.why}` };
        }
        return { scope, granted: grantExactly(scope.actions, outcome.decision.granted), source: 'sage', matched: true, reason: outcome.decision.reason };
      }),
    );
    if (failed.length > 0) {
      this.logger.warn({ event: 'authz_failed_closed', account, failed, circuit: this.upstream.circuitState() }, 'SAGE authorization gave no decision; failing closed (only cached decisions grant access)');
    }
    return decisions;
  }

  /** One call, then the decision cached; never throws. */
  private async decide(body: string | undefined, scope: Scope, key: string | undefined): Promise<CallOutcome> {
    if (body === undefined) return { kind: 'unavailable', why: 'identity attributes cannot be sent as JSON' };
    const outcome = await this.call(body, scope);
    if (outcome.kind === 'decided' && key !== undefined) await this.decisions.write(key, outcome.decision, this.config.cacheSeconds);
    return outcome;
  }

  private async call(body: string, scope: Scope): Promise<CallOutcome> {
    let response: UpstreamResponse;
    try {
      response = await this.upstream.request(this.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `sage ${this.config.token}` },
        body,
      });
    } catch (err) {
      if (err instanceof UpstreamError) return { kind: 'unavailable', why: shortWhy(err) };
      this.logger.error({ event: 'authz_sage_error', err }, 'unexpected error calling SAGE authorization');
      return { kind: 'unavailable', why: 'unexpected error' };
    }
    // SAGE answers a refusal with 401 or 403 (its plugin treated 403 as "no match"): a deny, not an outage.
    if (response.status === 401 || response.status === 403) {
      return { kind: 'decided', decision: { granted: [], reason: `SAGE answered ${response.status}: nothing granted` } };
    }
    if (response.status !== 200) return this.garbage(`unexpected status ${response.status}`, response);
    const listed = response.body
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    const bad = listed.find((a) => !ACTION.test(a));
    if (bad !== undefined) return this.garbage('answer is not a comma list of actions', response);
    const granted = grantExactly(scope.actions, listed);
    return { kind: 'decided', decision: { granted, reason: granted.length > 0 ? 'allowed by SAGE' : 'SAGE granted none of the requested actions' } };
  }

  private garbage(why: string, response: UpstreamResponse): CallOutcome {
    this.logger.warn({ event: 'authz_sage_bad_answer', status: response.status, contentType: response.contentType, why }, `SAGE authorization answer unusable: ${why}`);
    return { kind: 'unavailable', why };
  }

  /** The JSON body, or undefined when the identity's attributes do not serialise. */
  private requestBody(request: AuthorizationRequest, account: string, scope: Scope): string | undefined {
    const payload: SageRequest = {
      account,
      type: scope.type,
      name: scope.name,
      service: request.service,
      ip: request.clientIp,
      actions: [...scope.actions],
      labels: { ...(request.identity?.attributes ?? {}) },
    };
    try {
      return JSON.stringify(payload);
    } catch (err) {
      this.logger.error({ event: 'authz_sage_error', account, err: (err as Error).message }, 'identity attributes cannot be serialised for SAGE authorization');
      return undefined;
    }
  }
}

/**
 * The requested actions SAGE listed, in requested order. `push` does not imply `pull`: SAGE lists
 * exactly what it allows. `*` allows everything asked.
 */
function grantExactly(requested: readonly string[], listed: readonly string[]): string[] {
  if (listed.includes('*')) return [...requested];
  const set = new Set(listed);
  return requested.filter((a) => set.has(a));
}

function shortWhy(err: UpstreamError): string {
  const prefix = `${err.upstream}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}
