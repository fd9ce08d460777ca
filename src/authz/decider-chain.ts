import type { Scope } from '../domain/scope.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from './authorizer.js';

/** Sources of decisions that say why nothing was decided (a bare ACL no-match says less). */
const UNDECIDED = new Set(['unavailable', 'limited']);

/**
 * The deciders in their configured order, as docker_auth chains its authorizers: each scope goes
 * to the first decider, and only the scopes it gave no definite answer (no ACL rule matched, the
 * webhook unavailable or over its anonymous budget) go on to the next, in one call per decider.
 * The first definite answer on a scope wins, a grant or a denial alike. A scope nobody decides
 * keeps the most telling undecided answer (`unavailable` or `limited` over a bare no-match) and
 * is granted nothing: failing closed.
 */
export class DeciderChain implements Authorizer {
  private readonly links: readonly Authorizer[];

  constructor(links: readonly Authorizer[]) {
    if (links.length === 0) throw new Error('a decider chain needs at least one decider');
    // A link that decides nothing (an ACL without rules beside a webhook) is not asked: its
    // unmatched answers would only be replaced by the next link's, or lose to its `unavailable`.
    const deciding = links.filter((link) => link.decidesNothing !== true);
    this.links = deciding.length > 0 ? deciding : links;
  }

  authorize(request: AuthorizationRequest): ScopeDecision[] | Promise<ScopeDecision[]> {
    // One link decides alone, with no frame of this chain's around it: every token request passes here.
    return this.links.length === 1 ? this.links[0]!.authorize(request) : this.chained(request);
  }

  private async chained(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    // Plain loops: every token request passes here, and most are decided by the first link.
    const decisions = [...(await this.links[0]!.authorize(request))];
    for (let l = 1; l < this.links.length; l++) {
      const open: number[] = [];
      const scopes: Scope[] = [];
      for (let i = 0; i < decisions.length; i++) {
        if (decisions[i]!.matched) continue;
        open.push(i);
        scopes.push(decisions[i]!.scope);
      }
      if (open.length === 0) break;
      const next = await this.links[l]!.authorize({ ...request, scopes });
      for (let j = 0; j < open.length; j++) {
        const index = open[j]!;
        const later = next[j]!;
        if (later.matched || !UNDECIDED.has(decisions[index]!.source)) decisions[index] = later;
      }
    }
    return decisions;
  }
}

/** One link as the config places it: the ACL, or a decider entry's config with its /readyz name. */
export type ChainLink<D> = { readonly kind: 'acl' } | { readonly kind: 'decider'; readonly config: D; readonly name: string };

/** What the config says about the chain (`authz`). */
export interface ChainConfig<D extends { type: string }> {
  readonly deciders?: readonly (D | { readonly type: 'acl' })[] | undefined;
  readonly webhook?: D | undefined;
  readonly order: 'acl-first' | 'webhook-first';
}

/**
 * The links in the order they are asked: `authz.deciders` as listed, or else the ACL and the one
 * `authz.webhook` in `order`. A decider is named `authz.<type>` (on /readyz and in metrics),
 * numbered `authz.<type>.<n>` when the type is listed more than once.
 */
export function chainLinks<D extends { type: string }>(authz: ChainConfig<D>): ChainLink<D>[] {
  if (authz.deciders === undefined) {
    if (authz.webhook === undefined) return [{ kind: 'acl' }];
    const webhook: ChainLink<D> = { kind: 'decider', config: authz.webhook, name: `authz.${authz.webhook.type}` };
    return authz.order === 'acl-first' ? [{ kind: 'acl' }, webhook] : [webhook, { kind: 'acl' }];
  }
  const listed = authz.deciders;
  return listed.map((config): ChainLink<D> => {
    if (isAcl(config)) return { kind: 'acl' };
    const sameType = listed.filter((o) => o.type === config.type);
    return { kind: 'decider', config, name: sameType.length > 1 ? `authz.${config.type}.${sameType.indexOf(config)}` : `authz.${config.type}` };
  });
}

function isAcl(link: { readonly type: string }): link is { readonly type: 'acl' } {
  return link.type === 'acl';
}
