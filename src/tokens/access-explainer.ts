import type { AccountBindings } from '../accounts/account-bindings.js';
import type { Authorizer, ScopeDecision } from '../authz/authorizer.js';
import type { CredentialStore } from '../credentials/registry/credential-store.js';
import { describeScopeFor, type CredentialScope } from '../domain/credential-scope.js';
import { InvalidRequestError, NotFoundError } from '../domain/errors.js';
import type { Identity } from '../domain/identity.js';
import { formatScope, parseScopes } from '../domain/scope.js';
import { withinCredentialScope } from './token-service.js';

/** What to explain: an account (and one of its credentials) asking for some scopes. */
export interface ExplainRequest {
  readonly account: string;
  /** A live credential of the account: its scope cuts the account's rights as on a token request. */
  readonly credentialId?: string | undefined;
  /** Registry scopes as a token request names them (`repository:team/app:push,pull`). */
  readonly scopes: readonly string[];
  /** Groups for ACL `group` rules; a sign-in's groups are not known here (undefined: none). */
  readonly groups?: readonly string[] | undefined;
  /** The address the deciders are shown (a webhook receives it as `client_ip`). */
  readonly clientIp: string;
}

/** The verdict on one requested action, and what decided it. */
export interface ActionExplanation {
  readonly action: string;
  readonly granted: boolean;
  /** What decided: `acl`, `webhook`, `cache`, `credential` (its scope removed it), `unavailable`... */
  readonly source: string;
  /** In words: `by acl rule 0 {…}`, `by the credential's scope (…)`, `no rule matched (deny by default)`. */
  readonly why: string;
}

/** Why a token request would get what it gets, per requested action. */
export interface Explanation {
  readonly account: string;
  /** The sign-in method that owns the account name; null when none has used it yet. */
  readonly owner: { readonly source: string; readonly subject: string | null; readonly boundAt: string } | null;
  /** The groups group rules were matched against, and where they came from. */
  readonly groups: { readonly names: readonly string[]; readonly note: string };
  readonly credential: { readonly id: string; readonly label: string; readonly scope: CredentialScope | null; readonly expiresAt: string } | null;
  readonly scopes: ReadonlyArray<{ readonly scope: string; readonly actions: readonly ActionExplanation[] }>;
}

/** Dependencies of the explainer: the token path's own authorizer, and where accounts and credentials live. */
export interface AccessExplainerDeps {
  authorizer: Authorizer;
  bindings: AccountBindings;
  credentials: CredentialStore;
  /** The registry service decisions are for (`token.service`). */
  service: string;
}

/**
 * `wharf access explain`: asks the token path's authorizer (the decider chain: ACL, webhook…) and
 * cuts its decisions with the token service's own credential-scope cut, then says per action which
 * rule, answer or scope entry decided. No second implementation of either, so it cannot drift.
 * Asking is real: a webhook is called (or its cached answer used) as for a token request.
 */
export class AccessExplainer {
  constructor(private readonly deps: AccessExplainerDeps) {}

  async explain(request: ExplainRequest): Promise<Explanation> {
    if (request.scopes.length === 0) throw new InvalidRequestError('name at least one scope to explain (repository:NAME:ACTIONS)');
    const scopes = parseScopes(request.scopes);
    const { account } = request;
    const binding = await this.deps.bindings.get(account);
    let credential: Explanation['credential'] = null;
    let cut: CredentialScope | undefined;
    if (request.credentialId !== undefined) {
      const found = (await this.deps.credentials.list(account)).find((c) => c.id === request.credentialId);
      if (!found) throw new NotFoundError(`no live credential ${JSON.stringify(request.credentialId.slice(0, 40))} for ${account}`);
      cut = found.scope;
      credential = { id: found.id, label: found.label, scope: found.scope ?? null, expiresAt: new Date(found.expiresAt).toISOString() };
    }
    // Without a sign-in there are no attributes: the identity is the name and its owner, and the
    // deciders see `provider: explain` with no attributes.
    const owner = binding && (binding.subject === undefined ? { source: binding.source } : { source: binding.source, subject: binding.subject });
    const identity: Identity = { account, provider: 'explain', subject: binding?.subject ?? account, attributes: {}, ...(owner ? { owner } : {}) };
    const groups = request.groups ?? [];
    const decisions = await this.deps.authorizer.authorize({ identity, service: this.deps.service, clientIp: request.clientIp, scopes, groups });
    return {
      account,
      owner: binding ? { source: binding.source, subject: binding.subject ?? null, boundAt: new Date(binding.boundAt).toISOString() } : null,
      groups: {
        names: groups,
        note:
          groups.length > 0
            ? 'as given; the deciders are shown no attributes'
            : "none given: a sign-in's groups are not known without it, so group rules matched nothing (give groups to try them); the deciders are shown no attributes",
      },
      credential,
      scopes: decisions.map((decision) => ({ scope: formatScope(decision.scope), actions: explainActions(decision, cut) })),
    };
  }
}

/** Each asked action of one decision, after the credential's scope (when there is one) cut it as the token path does. */
function explainActions(account: ScopeDecision, scope: CredentialScope | undefined): ActionExplanation[] {
  const final = scope ? withinCredentialScope(account, scope) : account;
  return account.scope.actions.map((action) => {
    if (final.granted.includes(action)) {
      return { action, granted: true, source: account.source, why: `by ${decidedBy(account)}${scope ? ", inside the credential's scope" : ''}` };
    }
    if (scope && account.granted.includes(action)) {
      return { action, granted: false, source: 'credential', why: `by the credential's scope (${describeScopeFor(scope, { ...account.scope, actions: [action] })})` };
    }
    return { action, granted: false, source: account.source, why: account.matched ? `by ${decidedBy(account)}` : undecided(account) };
  });
}

/** The decider that answered, in words. */
function decidedBy(d: ScopeDecision): string {
  if (d.source === 'acl') return `acl ${d.rule ?? d.reason}`;
  if (d.source === 'cache') return `a decider's cached answer: ${d.reason}`;
  return `the ${d.source}: ${d.reason}`;
}

/** A scope no decider answered: granted nothing. */
function undecided(d: ScopeDecision): string {
  if (d.source === 'acl') return 'no rule matched (deny by default)';
  return `${d.reason} (failing closed)`;
}
