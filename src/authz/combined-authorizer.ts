import type { AuthorizationRequest, Authorizer, ScopeDecision } from './authorizer.js';

/** Sources of decisions that say why nothing was decided (a bare ACL no-match says less). */
const UNDECIDED = new Set(['unavailable', 'limited']);

/**
 * Asks `first`; the scopes it has no opinion on (no ACL rule matched, webhook unavailable) go to
 * `second` in one call. E.g. ACL first: anonymous public pulls never reach the webhook.
 */
export class CombinedAuthorizer implements Authorizer {
  constructor(
    private readonly first: Authorizer,
    private readonly second: Authorizer,
  ) {}

  async authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    const firstDecisions = await this.first.authorize(request);
    const open = firstDecisions.filter((d) => !d.matched);
    if (open.length === 0) return firstDecisions;
    const secondDecisions = await this.second.authorize({ ...request, scopes: open.map((d) => d.scope) });
    const bySecond = new Map(open.map((d, i) => [d, secondDecisions[i]!]));
    // A scope neither decider matched keeps the more telling "unavailable" or "limited" decision, if any.
    return firstDecisions.map((d) => {
      const other = bySecond.get(d);
      if (!other) return d;
      return other.matched || !UNDECIDED.has(d.source) ? other : d;
    });
  }
}
