import type { Logger } from 'pino';
import type { Scope } from '../domain/scope.js';
import type { AuthorizationRequest } from './authorizer.js';

/**
 * A decider's word on one scope: `decided` (`granted` the allowed actions among those asked, its
 * own wildcards resolved, possibly none; cached for `ttlSeconds`, 0 = not cached), or
 * `unavailable` when no decision could be had (nothing granted, nothing cached).
 */
export type Verdict =
  | { readonly kind: 'decided'; readonly granted: readonly string[]; readonly reason: string; readonly ttlSeconds: number }
  | { readonly kind: 'unavailable'; readonly why: string };

/**
 * A remote party that decides which actions are allowed (the platform's webhook, SAGE, a local
 * command), as RemoteAuthorizer calls it. It only asks and reads the answer: caching, sharing
 * calls and failing closed are the authorizer's.
 */
export interface Decider {
  /** `webhook`, `sage`, `command`: the decisions' source in the audit log, and the cache's namespace. */
  readonly source: string;
  /** How reasons and log lines name it: `authorization webhook`, `SAGE authorization`. */
  readonly label: string;
  /** Where its decisions come from (URL, argv): deciders with different endpoints never share cache entries or calls. */
  readonly endpoint: string;
  /** Scoped to this decider (type, endpoint); the authorizer logs through it too, so every line names the decider. */
  readonly logger: Logger;
  /**
   * The verdict on each of `scopes`, in order, for `request` (whose own scopes may be more: only
   * `scopes` are still undecided). Should not throw; a throw is failing closed on every scope.
   */
  decide(request: AuthorizationRequest, scopes: readonly Scope[]): Promise<Verdict[]>;
}
