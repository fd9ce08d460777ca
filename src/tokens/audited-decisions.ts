import type { ScopeDecision } from '../authz/authorizer.js';
import { formatScope } from '../domain/scope.js';

/**
 * The decisions as the audit line lists them: each one in full; for an anonymous request, those
 * that granted something in full and the refusals counted by source and reason (`denied`). The
 * requested scopes are on the line anyway, and an anonymous request of 32 fresh names listed
 * each refusal with its reason: 5 KB of log per request anyone could send.
 */
export function auditedDecisions(decisions: readonly ScopeDecision[], anonymous: boolean): { decisions: object[]; denied?: object[] } {
  const full = (d: ScopeDecision) => ({ scope: formatScope(d.scope), granted: d.granted, source: d.source, reason: d.reason });
  if (!anonymous) return { decisions: decisions.map(full) };
  const denied = new Map<string, { source: string; reason: string; count: number }>();
  for (const d of decisions) {
    if (d.granted.length > 0) continue;
    const key = JSON.stringify([d.source, d.reason]);
    const group = denied.get(key);
    if (group) group.count++;
    else denied.set(key, { source: d.source, reason: d.reason, count: 1 });
  }
  return { decisions: decisions.filter((d) => d.granted.length > 0).map(full), denied: [...denied.values()] };
}
