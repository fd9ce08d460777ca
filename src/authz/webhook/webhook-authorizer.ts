import type { Logger } from 'pino';
import type { Cache } from '../../cache/cache.js';
import type { CircuitState } from '../../upstream/circuit-breaker.js';
import { type UpstreamObserver, UpstreamClient, UpstreamError, type UpstreamResponse } from '../../upstream/upstream-client.js';
import { indexDecisions } from '../decision-protocol.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../authorizer.js';
import { OneCallAuthorizer, type CallOutcome } from '../one-call-authorizer.js';
import type { WebhookAuthzConfig } from './webhook-config.js';
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhookRequest,
  webhookResponseSchema,
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

/** Upstream name, in errors, logs and metrics. */
const UPSTREAM_NAME = 'authz-webhook';

/**
 * Asks the platform's webhook (docs/authz-webhook.md): one signed call per token request for all
 * scopes not already cached, decisions cached under keyed hashes with a bounded TTL. Fails closed:
 * when no answer can be had, only still-valid cached decisions grant anything.
 */
export class WebhookAuthorizer implements Authorizer {
  private readonly upstream: UpstreamClient;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly flow: OneCallAuthorizer;

  constructor(
    private readonly config: WebhookAuthzConfig & { secret: string },
    deps: WebhookAuthorizerDeps,
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
    // The URL without userinfo or query, safe to log.
    this.logger = deps.logger.child({ authorizer: 'webhook', webhook: `${url.origin}${url.pathname}` });
    this.flow = new OneCallAuthorizer(
      { source: 'webhook', label: 'authorization webhook', endpoint: config.url, call: (body) => this.call(body), circuitState: () => this.circuitState() },
      { cache: deps.cache, hashKey: deps.hashKey, logger: this.logger, generation: deps.generation },
    );
  }

  /** State of the circuit in front of the webhook, for readiness and metrics. */
  circuitState(): CircuitState {
    return this.upstream.circuitState();
  }

  authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    return this.flow.authorize(request);
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
