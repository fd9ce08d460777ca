import type { Identity } from '../domain/identity.js';
import type { Scope } from '../domain/scope.js';

/** What is being asked, by whom. `identity` is undefined for anonymous requests. */
export interface AuthorizationRequest {
  readonly identity: Identity | undefined;
  readonly service: string;
  readonly clientIp: string;
  readonly scopes: readonly Scope[];
  /**
   * Groups to match ACL `group` rules against instead of those the identity's backend reads from
   * its attributes: set only by `wharf access explain`, which has no sign-in to read them from.
   */
  readonly groups?: readonly string[];
}

/** The decision on one requested scope. */
export interface ScopeDecision {
  readonly scope: Scope;
  /** Granted actions: a subset of `scope.actions`, possibly empty. */
  readonly granted: readonly string[];
  /**
   * Which mechanism decided (`acl`, `webhook`, `cache`...), for the audit log; `unavailable` when
   * the decider could not be reached and had nothing cached, `limited` when an anonymous request
   * was over its budget of calls to the decider (both: `granted` empty, unmatched).
   */
  readonly source: string;
  /**
   * Whether the decider had an opinion: an ACL rule matched, or the webhook answered (an omitted
   * scope is an opinion: deny). False lets a combined authorizer ask the next decider.
   */
  readonly matched: boolean;
  /** Why, in a few words (matching rule, denial reason). */
  readonly reason: string;
  /**
   * The ACL rule that decided, as configured (`rule 3 {account: "*", name: "${account}/*", actions: [push, pull]}`),
   * for `wharf access explain`; the audit line names it by `reason`.
   */
  readonly rule?: string;
  /** On a `limited` decision: seconds until the budget allows a call again. */
  readonly retryAfterSeconds?: number;
}

/** Decides, per requested scope, which actions are allowed. Deny by default. */
export interface Authorizer {
  /**
   * The decisions, one per requested scope in their order. As they are when the authorizer had
   * them at hand (decisions held in process: every busy client's request), else a promise;
   * callers await either.
   */
  authorize(request: AuthorizationRequest): ScopeDecision[] | Promise<ScopeDecision[]>;
  /**
   * True when it can decide nothing for anyone (an ACL without rules or anonymous lists): every
   * answer would be unmatched, so a chain need not ask it while another decider is there.
   */
  readonly decidesNothing?: boolean;
}
