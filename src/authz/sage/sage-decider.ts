import type { Logger } from 'pino';
import type { Scope } from '../../domain/scope.js';
import { UpstreamClient, UpstreamError, type UpstreamResponse } from '../../upstream/upstream-client.js';
import type { AuthorizationRequest } from '../authorizer.js';
import type { Decider, Verdict } from '../decider.js';
import type { SageAuthzConfig } from './sage-config.js';

/** What the SAGE decider needs besides its config. */
export interface SageDeciderDeps {
  /** The HTTP client to SAGE (upstreamClient() from the config, with SageDecider.maxAnswerBytes as its body cap; tests inject fetch/sleep/clock through it). */
  upstream: UpstreamClient;
  logger: Logger;
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

const ACTION = /^(?:\*|[a-z]+)$/;

/**
 * The SAGE platform's authorization dialect: one `POST` per scope (in parallel) with
 * `Authorization: sage <token>`, answered by a plain-text comma list of granted actions; 401 and
 * 403 mean nothing granted (a decision, cached like any other).
 */
export class SageDecider implements Decider {
  /** The answer is a short comma list; anything bigger is not an answer. */
  static readonly maxAnswerBytes = 64 * 1024;
  readonly source = 'sage';
  readonly label = 'SAGE authorization';
  readonly endpoint: string;
  readonly logger: Logger;
  private readonly upstream: UpstreamClient;

  constructor(
    private readonly config: SageAuthzConfig & { token: string },
    deps: SageDeciderDeps,
  ) {
    this.endpoint = config.url;
    this.upstream = deps.upstream;
    const url = new URL(config.url);
    this.logger = deps.logger.child({ authorizer: 'sage', endpoint: `${url.origin}${url.pathname}` });
  }

  decide(request: AuthorizationRequest, scopes: readonly Scope[]): Promise<Verdict[]> {
    return Promise.all(scopes.map((scope) => this.ask(request, scope)));
  }

  private async ask(request: AuthorizationRequest, scope: Scope): Promise<Verdict> {
    const payload: SageRequest = {
      account: request.identity?.account ?? '',
      type: scope.type,
      name: scope.name,
      service: request.service,
      ip: request.clientIp,
      actions: [...scope.actions],
      labels: { ...(request.identity?.attributes ?? {}) },
    };
    let response: UpstreamResponse;
    try {
      response = await this.upstream.request(this.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `sage ${this.config.token}` },
        body: JSON.stringify(payload),
      });
    } catch (err) {
      if (err instanceof UpstreamError) return { kind: 'unavailable', why: err.why };
      throw err;
    }
    const ttlSeconds = this.config.cacheSeconds;
    // SAGE answers a refusal with 401 or 403 (its plugin treated 403 as "no match"): a deny, not an outage.
    if (response.status === 401 || response.status === 403) {
      return { kind: 'decided', granted: [], reason: `SAGE answered ${response.status}: nothing granted`, ttlSeconds };
    }
    if (response.status !== 200) return this.garbage(`unexpected status ${response.status}`, response);
    const listed = response.body
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    if (listed.some((a) => !ACTION.test(a))) return this.garbage('answer is not a comma list of actions', response);
    const granted = grantExactly(scope.actions, listed);
    return { kind: 'decided', granted, reason: granted.length > 0 ? 'allowed by SAGE' : 'SAGE granted none of the requested actions', ttlSeconds };
  }

  private garbage(why: string, response: UpstreamResponse): Verdict {
    this.logger.warn({ event: 'authz_sage_bad_answer', status: response.status, contentType: response.contentType, why }, `SAGE authorization answer unusable: ${why}`);
    return { kind: 'unavailable', why };
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
