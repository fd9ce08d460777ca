import { ADMIN_MAKER, type AccountBinding, type AccountBindings } from '../accounts/account-bindings.js';
import type { Authorizer, ScopeDecision } from '../authz/authorizer.js';
import type { CredentialStore } from '../credentials/registry/credential-store.js';
import { describeScopeFor, type CredentialScope } from '../domain/credential-scope.js';
import { InvalidRequestError, NotFoundError } from '../domain/errors.js';
import type { Identity } from '../domain/identity.js';
import { formatScope, parseScopes, type Scope } from '../domain/scope.js';
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
  /**
   * For a robot a person made: that person, whose rights decide for it (its scope cutting them), and
   * the groups they were decided with. Null for any other account (an administrator's robot too).
   */
  readonly maker: {
    readonly account: string;
    /** False when the maker no longer holds their account: the robot gets nothing. */
    readonly holdsAccount: boolean;
    /** When their sign-in method proved these groups (rewritten only when they change); null: none recorded, the identity from when the robot was made (or none) stands in. */
    readonly provenSince: string | null;
  } | null;
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
    let madeAs: Identity | undefined;
    if (request.credentialId !== undefined) {
      const found = await this.deps.credentials.record(account, request.credentialId);
      if (!found) throw new NotFoundError(`no live credential ${JSON.stringify(request.credentialId.slice(0, 40))} for ${account}`);
      cut = found.scope;
      madeAs = found.maker;
      credential = { id: found.id, label: found.label, scope: found.scope ?? null, expiresAt: new Date(found.expiresAt).toISOString() };
    }
    const base = { account, owner: binding ? { source: binding.source, subject: binding.subject ?? null, boundAt: new Date(binding.boundAt).toISOString() } : null, credential };
    const makerAccount = binding?.robot && binding.robot.maker !== ADMIN_MAKER ? binding.robot.maker : undefined;
    if (makerAccount !== undefined) return { ...base, ...(await this.asMaker(request, makerAccount, madeAs, scopes, cut)) };
    // Without a sign-in there are no attributes: the identity is the name and its owner, and the
    // deciders see `provider: explain` with no attributes.
    const identity = bareIdentity(account, binding);
    const groups = request.groups ?? [];
    const decisions = await this.deps.authorizer.authorize({ identity, service: this.deps.service, clientIp: request.clientIp, scopes, groups });
    return {
      ...base,
      groups: {
        names: groups,
        note:
          groups.length > 0
            ? 'as given; the deciders are shown no attributes'
            : "none given: a sign-in's groups are not known without it, so group rules matched nothing (give groups to try them); the deciders are shown no attributes",
      },
      maker: null,
      scopes: decisions.map((decision) => ({ scope: formatScope(decision.scope), actions: explainActions(decision, cut) })),
    };
  }

  /**
   * A person's robot: decided as its maker, as the token path decides it (AuthenticatorChain: the
   * maker as their sign-in method last proved them, else as recorded in the credential when the
   * robot was made; nothing when they no longer hold their account).
   */
  private async asMaker(request: ExplainRequest, makerAccount: string, madeAs: Identity | undefined, scopes: Scope[], cut: CredentialScope | undefined): Promise<Pick<Explanation, 'groups' | 'maker' | 'scopes'>> {
    // Without a credential, the maker is whoever holds the name now (each credential of the robot
    // also checks it is the same person).
    const makerBinding = madeAs ? undefined : await this.deps.bindings.get(makerAccount);
    const current = await this.deps.bindings.currentMaker(madeAs ?? bareIdentity(makerAccount, makerBinding));
    if (!current) {
      const why = `the account that made this robot (${makerAccount}) no longer belongs to that person; the robot gets nothing`;
      return {
        groups: { names: [], note: `its maker ${makerAccount}'s: not known` },
        maker: { account: makerAccount, holdsAccount: false, provenSince: null },
        scopes: scopes.map((scope) => ({ scope: formatScope(scope), actions: scope.actions.map((action) => ({ action, granted: false, source: 'account', why })) })),
      };
    }
    const names = request.groups ?? this.deps.bindings.groupsIn(current.identity);
    const since = current.since === undefined ? null : new Date(current.since).toISOString();
    const note =
      request.groups !== undefined
        ? `its maker ${makerAccount}'s, as given`
        : since !== null
          ? `its maker ${makerAccount}'s, as their sign-in method proved them (unchanged since ${since})`
          : madeAs
            ? `its maker ${makerAccount}'s when they made the robot (no sign-in of theirs recorded since)`
            : `its maker ${makerAccount}'s are not known (no sign-in of theirs recorded; give groups to try them)`;
    const decisions = await this.deps.authorizer.authorize({ identity: current.identity, service: this.deps.service, clientIp: request.clientIp, scopes, ...(request.groups ? { groups: request.groups } : {}) });
    return {
      groups: { names, note },
      maker: { account: makerAccount, holdsAccount: true, provenSince: since },
      scopes: decisions.map((decision) => ({ scope: formatScope(decision.scope), actions: explainActions(decision, cut, makerAccount) })),
    };
  }
}

/** An account with no sign-in at hand: its name and owner, no attributes (`provider: explain`). */
function bareIdentity(account: string, binding: AccountBinding | undefined): Identity {
  const owner = binding && (binding.subject === undefined ? { source: binding.source } : { source: binding.source, subject: binding.subject });
  return { account, provider: 'explain', subject: binding?.subject ?? account, attributes: {}, ...(owner ? { owner } : {}) };
}

/**
 * Each asked action of one decision, after the credential's scope (when there is one) cut it as the
 * token path does; `maker`: the decision was the robot's maker's, and each reason says so.
 */
function explainActions(account: ScopeDecision, scope: CredentialScope | undefined, maker?: string): ActionExplanation[] {
  const final = scope ? withinCredentialScope(account, scope) : account;
  const as = maker === undefined ? '' : `as its maker ${maker}: `;
  return account.scope.actions.map((action) => {
    if (final.granted.includes(action)) {
      return { action, granted: true, source: account.source, why: `${as}by ${decidedBy(account)}${scope ? ", inside the credential's scope" : ''}` };
    }
    if (scope && account.granted.includes(action)) {
      return { action, granted: false, source: 'credential', why: `by the credential's scope (${describeScopeFor(scope, { ...account.scope, actions: [action] })})${maker === undefined ? '' : `; its maker ${maker} may, by ${decidedBy(account)}`}` };
    }
    return { action, granted: false, source: account.source, why: as + (account.matched ? `by ${decidedBy(account)}` : undecided(account)) };
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
