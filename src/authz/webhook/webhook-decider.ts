import type { Logger } from 'pino';
import type { Scope } from '../../domain/scope.js';
import { UpstreamClient, UpstreamError, type UpstreamResponse } from '../../upstream/upstream-client.js';
import type { AuthorizationRequest } from '../authorizer.js';
import type { Decider, Verdict } from '../decider.js';
import { answerVerdicts, decisionRequest, readDecisionAnswer } from '../decision-protocol.js';
import type { WebhookAuthzConfig } from './webhook-config.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhookRequest } from './webhook-signature.js';

/** What the webhook decider needs besides its config. */
export interface WebhookDeciderDeps {
  /** The HTTP client to the webhook (upstreamClient() from the config; tests inject fetch/sleep/clock through it). */
  upstream: UpstreamClient;
  logger: Logger;
  /** Clock in ms for the signature timestamp. Default Date.now. */
  now?: (() => number) | undefined;
}

/**
 * Asks the platform's webhook (docs/authz-webhook.md): one signed JSON POST for all the scopes it
 * is given. 401/403 mean the platform refuses Wharf's credentials (an operator error, logged as
 * such), not a deny: every scope is then `unavailable`, like any unusable answer.
 */
export class WebhookDecider implements Decider {
  readonly source = 'webhook';
  readonly label = 'authorization webhook';
  readonly endpoint: string;
  readonly logger: Logger;
  private readonly upstream: UpstreamClient;
  private readonly now: () => number;

  constructor(
    private readonly config: WebhookAuthzConfig & { secret: string },
    deps: WebhookDeciderDeps,
  ) {
    this.endpoint = config.url;
    this.upstream = deps.upstream;
    this.now = deps.now ?? Date.now;
    const url = new URL(config.url);
    // The URL without userinfo or query, safe to log.
    this.logger = deps.logger.child({ authorizer: 'webhook', webhook: `${url.origin}${url.pathname}` });
  }

  async decide(request: AuthorizationRequest, scopes: readonly Scope[]): Promise<Verdict[]> {
    const outcome = await this.call(JSON.stringify(decisionRequest(request, request.identity?.account ?? '', scopes)));
    return outcome.kind === 'unavailable' ? scopes.map(() => outcome) : answerVerdicts(outcome.answer, scopes, this.source, this.config);
  }

  private async call(body: string) {
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
      if (err instanceof UpstreamError) return unavailable(err.why);
      throw err;
    }

    if (response.status === 401 || response.status === 403) {
      this.logger.error(
        { event: 'authz_webhook_credentials_refused', status: response.status },
        `authorization webhook refused Wharf's credentials (${response.status}): the shared secret differs between Wharf and the platform, or the platform rejects the signature or clock; every uncached request is denied until this is fixed`,
      );
      return unavailable(`webhook refused Wharf's credentials (${response.status})`);
    }
    const garbage = (why: string, detail?: Record<string, unknown>) => {
      this.logger.warn({ event: 'authz_webhook_bad_answer', status: response.status, contentType: response.contentType, why, ...detail }, `authorization webhook answer unusable: ${why}`);
      return unavailable(why);
    };
    if (response.status !== 200) return garbage(`unexpected status ${response.status}`);
    if (!isJsonMediaType(response.contentType)) return garbage('answer is not application/json');
    const read = readDecisionAnswer(response.body);
    if (read.kind === 'not_json') return garbage('answer is not valid JSON');
    if (read.kind === 'off_contract') return garbage('answer does not follow the contract', { issues: read.issues });
    return { kind: 'answered' as const, answer: read.answer };
  }
}

function unavailable(why: string) {
  return { kind: 'unavailable' as const, why };
}

/** `application/json` or any `+json` type, parameters ignored. */
function isJsonMediaType(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
