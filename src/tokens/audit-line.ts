import type { Logger } from 'pino';
import type { ScopeDecision } from '../authz/authorizer.js';
import { formatScope } from '../domain/scope.js';
import { logSerialized } from '../logging.js';

/** What the token_issued audit line says about one decided request. */
export interface IssuedLine {
  account: string;
  provider: string;
  grantType: string;
  clientId: string | undefined;
  clientIp: string;
  /** Every scope's decision, in the order requested. */
  decisions: readonly ScopeDecision[];
  /** Proved nothing: the line lists only what was granted (see below). */
  anonymous: boolean;
  refreshTokenIssued: boolean;
  jti: string;
  kid: string;
  reused: boolean;
}

/** Requested scopes an anonymous audit line names; a registry client asks for one or two. */
const ANONYMOUS_NAMED = 8;

/**
 * Writes the token_issued line (at info) and returns the granted scopes as text, in the order of
 * the token's `access` (what the answer's audit carries for its reuses). Each scope is formatted
 * once: the requested text serves `requested`, the decision's `scope` and, when every requested
 * action was granted, the grant.
 *
 * The decisions are listed in full. An anonymous request proves nothing and anyone can send 32
 * fresh names in it: its line lists in full only what was granted, counts the refusals by source
 * and reason, and names the first 8 requested scopes with their number. Listing each of 32
 * refusals with its reason made 5.5 KB of log per such request.
 */
export function logTokenIssued(logger: Logger, line: IssuedLine): string[] {
  const { decisions } = line;
  // Arrays of their exact length, and no closure per call: this runs once per token request.
  const requested = decisions.map(requestedText);
  const granted = grantedScopes(decisions, requested);
  if (!logger.isLevelEnabled('info')) return granted;
  let listedDecisions: object[];
  let denied: Map<string, { source: string; reason: string; count: number }> | undefined;
  if (!line.anonymous) listedDecisions = decisions.map(listedAt, requested);
  else {
    listedDecisions = [];
    denied = new Map();
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      if (d.granted.length > 0) {
        listedDecisions.push(listed(d, requested[i]!));
        continue;
      }
      const key = JSON.stringify([d.source, d.reason]);
      const group = denied.get(key);
      if (group) group.count++;
      else denied.set(key, { source: d.source, reason: d.reason, count: 1 });
    }
  }
  const cut = line.anonymous && requested.length > ANONYMOUS_NAMED;
  // One object in the line's order; an undefined field is left out of the line.
  logSerialized(logger, 'info', {
    event: 'token_issued',
    account: line.account,
    provider: line.provider,
    grantType: line.grantType,
    clientId: line.clientId,
    clientIp: line.clientIp,
    requested: cut ? requested.slice(0, ANONYMOUS_NAMED) : requested,
    requestedCount: cut ? requested.length : undefined,
    decisions: listedDecisions,
    denied: denied ? [...denied.values()] : undefined,
    refreshTokenIssued: line.refreshTokenIssued,
    jti: line.jti,
    kid: line.kid,
    reused: line.reused,
    msg: 'token issued',
  });
  return granted;
}

function requestedText(d: ScopeDecision): string {
  return formatScope(d.scope);
}

/**
 * The granted scopes as text: `requested` itself when every requested action of every scope was
 * granted (what almost every request gets; the caller keeps the list as long as the answer is
 * remembered, and neither list is changed afterwards).
 */
function grantedScopes(decisions: readonly ScopeDecision[], requested: string[]): string[] {
  let count = 0;
  let whole = true;
  for (const d of decisions) {
    if (d.granted.length === 0) whole = false;
    else {
      count++;
      if (!sameActions(d.granted, d.scope.actions)) whole = false;
    }
  }
  if (whole) return requested;
  const granted = new Array<string>(count);
  let at = 0;
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i]!;
    if (d.granted.length > 0) granted[at++] = sameActions(d.granted, d.scope.actions) ? requested[i]! : formatScope({ ...d.scope, actions: d.granted });
  }
  return granted;
}

/** `decisions.map(listedAt, requested)`: the decision at `i` as the line lists it. */
function listedAt(this: readonly string[], d: ScopeDecision, i: number): object {
  return listed(d, this[i]!);
}

/** A decision as the line lists it. */
function listed(d: ScopeDecision, scope: string): object {
  return { scope, granted: d.granted, source: d.source, reason: d.reason };
}

function sameActions(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
