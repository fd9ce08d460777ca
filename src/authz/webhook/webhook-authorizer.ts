import type { Logger } from 'pino';
import type { Cache } from '../../cache/cache.js';
import { keyedHash } from '../../cache/keyed-hash.js';
import { formatScope, type Scope } from '../../domain/scope.js';
import type { CircuitState } from '../../upstream/circuit-breaker.js';
import { SingleFlight } from '../../upstream/single-flight.js';
import { type UpstreamObserver, UpstreamClient, UpstreamError, type UpstreamResponse } from '../../upstream/upstream-client.js';
import { DecisionCache } from '../decision-cache.js';
import { decisionFor, decisionRequest, indexDecisions } from '../decision-protocol.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../authorizer.js';
import type { WebhookAuthzConfig } from './webhook-config.js';
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhookRequest,
  webhookResponseSchema,
  type WebhookResponse,
} from './webhook-protocol.js';

/** What the webhook authorizer needs besides its config. */
export interface WebhookAuthorizerDeps {
  /** Where decisions are remembered (keys are keyed hashes, values JSON). */
  cache: Cache;
  /** Key of the keyed hashes that name cache entries. */
  hashKey: Buffer;
  logger: Logger;
  /** HTTP client to use instead of one built from the config (tests inject fetch/sleep/clock through it). */
  upstream?: UpstreamClient;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  /** Clock in ms for the signature timestamp. Default Date.now. */
  now?: () => number;
  /**
   * A per-account generation that is part of every cache key: changing it orphans the account's
   * cached decisions at once (invalidation without scanning the cache). Default always `0`.
   */
  generation?: (account: string) => Promise<string>;
}

/** What a cache entry holds: the decision on exactly the requested action set. */

/** The webhook's decisions by resource (see resourceId). */
type Answers = ReadonlyMap<string, WebhookResponse['decisions'][number]>;

/** The result of one webhook call, shared by every caller waiting on it. */
type CallOutcome = { kind: 'answered'; decisions: Answers; ttlSeconds: number } | { kind: 'unavailable'; why: string };

/** Upstream name, in errors, logs and metrics. */
const UPSTREAM_NAME = 'authz-webhook';

/**
 * Asks the platform's webhook (docs/authz-webhook.md): one signed call per token request for all
 * scopes not already cached, decisions cached under keyed hashes with a bounded TTL. Fails closed:
 * when no answer can be had, only still-valid cached decisions grant anything.
 */
export class WebhookAuthorizer implements Authorizer {
  private readonly upstream: UpstreamClient;
  private readonly flights = new SingleFlight<CallOutcome>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly decisions: DecisionCache;
  /** The URL without userinfo or query, safe to log. */
  private readonly endpoint: string;

  constructor(
    private readonly config: WebhookAuthzConfig & { secret: string },
    private readonly deps: WebhookAuthorizerDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.upstream =
      deps.upstream ??
      new UpstreamClient({
        name: UPSTREAM_NAME,
        timeoutMs: config.timeoutMs,
        retries: config.retries,
        failureThreshold: config.failureThreshold,
        openMs: config.openSeconds * 1000,
        now: this.now,
        ...(deps.upstreamObserver ? { observer: deps.upstreamObserver } : {}),
      });
    const url = new URL(config.url);
    this.endpoint = `${url.origin}${url.pathname}`;
    this.logger = deps.logger.child({ authorizer: 'webhook', webhook: this.endpoint });
    this.decisions = new DecisionCache(deps.generation ? { cache: deps.cache, hashKey: deps.hashKey, logger: this.logger, generation: deps.generation } : { cache: deps.cache, hashKey: deps.hashKey, logger: this.logger }, 'authz-webhook', this.config.url, 'webhook');
  }

  /** State of the circuit in front of the webhook, for readiness and metrics. */
  circuitState(): CircuitState {
    return this.upstream.circuitState();
  }

  async authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    const account = request.identity?.account ?? '';
    const generation = await this.decisions.generationOf(account);
    const keys = generation === undefined ? undefined : request.scopes.map((scope) => this.decisions.key(request, account, generation, scope));

    const decisions: (ScopeDecision | undefined)[] = await Promise.all(
      request.scopes.map(async (scope, i) => {
        const key = keys?.[i];
        const hit = key === undefined ? undefined : await this.decisions.read(key);
        return hit && { scope, granted: scope.actions.filter((a) => hit.granted.includes(a)), source: 'cache', matched: true, reason: hit.reason };
      }),
    );
    const pending = decisions.flatMap((d, i) => (d === undefined ? [i] : []));
    if (pending.length === 0) return decisions as ScopeDecision[];

    const scopes = pending.map((i) => request.scopes[i]!);
    const pendingKeys = keys && pending.map((i) => keys[i]!);
    const body = this.requestBody(request, account, scopes);
    // The body holds everything the answer can depend on; the generation decides where it is cached.
    const flightKey = keyedHash(this.deps.hashKey, 'authz-webhook-flight', this.config.url, generation ?? '', body ?? '');
    const outcome = await this.flights.run(flightKey, () => this.decide(body, scopes, pendingKeys));

    pending.forEach((index, j) => {
      const scope = scopes[j]!;
      decisions[index] =
        outcome.kind === 'answered'
          ? { scope, ...decisionFor(scope, outcome.decisions, 'webhook'), source: 'webhook', matched: true }
          : { scope, granted: [], source: 'unavailable', matched: false, reason: `authorization webhook unavailable: ${outcome.why}` };
    });
    return decisions as ScopeDecision[];
  }

  /** One call for `scopes`, then the answers cached; never throws. */
  private async decide(body: string | undefined, scopes: readonly Scope[], keys: readonly string[] | undefined): Promise<CallOutcome> {
    const outcome = body === undefined ? { kind: 'unavailable' as const, why: 'identity attributes cannot be sent as JSON' } : await this.call(body);
    if (outcome.kind === 'unavailable') {
      this.logger.warn(
        { event: 'authz_failed_closed', why: outcome.why, scopes: scopes.map(formatScope), circuit: this.upstream.circuitState() },
        'authorization webhook gave no decision; failing closed (only cached decisions grant access)',
      );
      return outcome;
    }
    if (keys) {
      await Promise.all(
        scopes.map((scope, i) => this.decisions.write(keys[i]!, decisionFor(scope, outcome.decisions, 'webhook'), outcome.ttlSeconds)),
      );
    }
    return outcome;
  }

  private async call(body: string): Promise<CallOutcome> {
    const timestamp = Math.floor(this.now() / 1000);
    let response: UpstreamResponse;
    try {
      response = await this.upstream.request(this.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${this.config.secret}`,
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhookRequest(this.config.secret, timestamp, body),
        },
        body,
      });
    } catch (err) {
      if (err instanceof UpstreamError) return { kind: 'unavailable', why: shortWhy(err) };
      this.logger.error({ event: 'authz_webhook_error', err }, 'unexpected error calling the authorization webhook');
      return { kind: 'unavailable', why: 'unexpected error' };
    }

    if (response.status === 401 || response.status === 403) {
      this.logger.error(
        { event: 'authz_webhook_credentials_refused', status: response.status },
        `authorization webhook refused Wharf's credentials (${response.status}): the shared secret differs between Wharf and the platform, or the platform rejects the signature or clock; every uncached request is denied until this is fixed`,
      );
      return { kind: 'unavailable', why: `webhook refused Wharf's credentials (${response.status})` };
    }
    const garbage = (why: string, detail?: Record<string, unknown>) => {
      this.logger.warn({ event: 'authz_webhook_bad_answer', status: response.status, contentType: response.contentType, why, ...detail }, `authorization webhook answer unusable: ${why}`);
      return { kind: 'unavailable' as const, why };
    };
    if (response.status !== 200) return garbage(`unexpected status ${response.status}`);
    if (!isJsonMediaType(response.contentType)) return garbage('answer is not application/json');
    let json: unknown;
    try {
      json = JSON.parse(response.body);
    } catch {
      return garbage('answer is not valid JSON');
    }
    const parsed = webhookResponseSchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      return garbage('answer does not follow the contract', { issues });
    }

    const decisions = indexDecisions(parsed.data);
    const ttl = parsed.data.ttl === undefined ? this.config.cacheSeconds : Math.floor(parsed.data.ttl);
    return { kind: 'answered', decisions, ttlSeconds: Math.min(ttl, this.config.maxCacheSeconds) };
  }

  /** The JSON body, or undefined when the identity's attributes do not serialise (e.g. a BigInt). */
  private requestBody(request: AuthorizationRequest, account: string, scopes: readonly Scope[]): string | undefined {
    try {
      return JSON.stringify(decisionRequest(request, account, scopes));
    } catch (err) {
      this.logger.error({ event: 'authz_webhook_error', account, err: (err as Error).message }, 'identity attributes cannot be serialised for the authorization webhook');
      return undefined;
    }
  }
}

/** `application/json` or any `+json` type, parameters ignored. */
function isJsonMediaType(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** The upstream error's message without the upstream name it starts with. */
function shortWhy(err: UpstreamError): string {
  const prefix = `${err.upstream}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}
