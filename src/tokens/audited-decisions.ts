import type { ScopeDecision } from '../authz/authorizer.js';
import { formatScope } from '../domain/scope.js';

/** Requested scopes an anonymous audit line names; a registry client asks for one or two. */
const ANONYMOUS_NAMED = 8;

/** The audit line's account of what was asked and decided. */
export interface AuditedDecisions {
  /** The requested scopes (an anonymous line: the first 8). */
  requested: string[];
  /** An anonymous line that names only some: how many were asked. */
  requestedCount?: number;
  /** Each decision in full (an anonymous line: those that granted something). */
  decisions: object[];
  /** An anonymous line: the refusals, counted by source and reason. */
  denied?: object[];
}

/**
 * The decisions as the audit line lists them: every one in full. An anonymous request proves
 * nothing and anyone can send 32 fresh names in it: its line lists in full only what was granted,
 * counts the refusals by source and reason, and names the first 8 requested scopes with their
 * number. Listing each of 32 refusals with its reason made 5.5 KB of log per such request.
 */
export function auditedDecisions(decisions: readonly ScopeDecision[], anonymous: boolean): AuditedDecisions {
  const full = (d: ScopeDecision) => ({ scope: formatScope(d.scope), granted: d.granted, source: d.source, reason: d.reason });
  const requested = decisions.map((d) => formatScope(d.scope));
  if (!anonymous) return { requested, decisions: decisions.map(full) };
  const denied = new Map<string, { source: string; reason: string; count: number }>();
  for (const d of decisions) {
    if (d.granted.length > 0) continue;
    const key = JSON.stringify([d.source, d.reason]);
    const group = denied.get(key);
    if (group) group.count++;
    else denied.set(key, { source: d.source, reason: d.reason, count: 1 });
  }
  return {
    requested: requested.slice(0, ANONYMOUS_NAMED),
    ...(requested.length > ANONYMOUS_NAMED ? { requestedCount: requested.length } : {}),
    decisions: decisions.filter((d) => d.granted.length > 0).map(full),
    denied: [...denied.values()],
  };
}
