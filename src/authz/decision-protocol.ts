import { z } from 'zod';
import type { Scope } from '../domain/scope.js';
import type { AuthorizationRequest } from './authorizer.js';
import type { CachedDecision } from './decision-cache.js';
import type { Verdict } from './decider.js';

/*
 * The decision contract, version 1, shared by the authorization webhook (over HTTP) and the
 * authorization command (over stdin/stdout): docs/authz-webhook.md describes it for platforms.
 */

/** One requested resource. `class` is null when the scope has none. */
export const decisionScopeSchema = z.strictObject({
  type: z.string().min(1),
  class: z.string().min(1).nullable(),
  name: z.string().min(1),
  actions: z.array(z.string().min(1)).min(1),
});

/** What Wharf sends. `account` is "" and `identity` null for anonymous requests. */
export const decisionRequestSchema = z.strictObject({
  version: z.literal(1),
  account: z.string(),
  identity: z
    .strictObject({
      provider: z.string().min(1),
      subject: z.string(),
      attributes: z.record(z.string(), z.unknown()),
    })
    .nullable(),
  service: z.string().min(1),
  client_ip: z.string(),
  scopes: z.array(decisionScopeSchema).min(1),
});
export type DecisionRequest = z.infer<typeof decisionRequestSchema>;

/** Longest `reason` kept from an answer; longer ones are cut, not rejected. */
const MAX_REASON_LENGTH = 200;

/**
 * The decision on one resource. Unknown fields are ignored so the platform can add its own;
 * `class` may be omitted or null for scopes without a class.
 */
export const decisionSchema = z.object({
  type: z.string().min(1),
  class: z.string().nullish(),
  name: z.string().min(1),
  /** Actions allowed; `*` allows whatever was requested. Only requested actions are granted. */
  allowed: z.array(z.string()),
  /** Optional few words for Wharf's audit log (cut at 200 characters). */
  reason: z
    .string()
    .optional()
    .transform((r) => r?.slice(0, MAX_REASON_LENGTH)),
});
export type Decision = z.infer<typeof decisionSchema>;

/** An answer. A requested resource missing from `decisions` is denied. */
export const decisionAnswerSchema = z.object({
  decisions: z.array(decisionSchema).max(1000),
  /** Seconds the decisions may be cached; 0 = do not cache. Fractions are rounded down. */
  ttl: z.number().min(0).max(1e9).optional(),
});
export type DecisionAnswer = z.infer<typeof decisionAnswerSchema>;

/** An answer's text read against the contract: the answer, or what is wrong with it (at most five schema issues, each with its path). */
export type ReadAnswer = { readonly kind: 'answer'; readonly answer: DecisionAnswer } | { readonly kind: 'not_json' } | { readonly kind: 'off_contract'; readonly issues: string[] };

/** Reads a decider's answer (a webhook's body, a command's stdout), whichever way it came. */
export function readDecisionAnswer(text: string): ReadAnswer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'not_json' };
  }
  const parsed = decisionAnswerSchema.safeParse(json);
  if (parsed.success) return { kind: 'answer', answer: parsed.data };
  return { kind: 'off_contract', issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
}

/** The request for `scopes` of one token request. */
export function decisionRequest(request: AuthorizationRequest, account: string, scopes: readonly Scope[]): DecisionRequest {
  const identity = request.identity;
  return {
    version: 1,
    account,
    identity: identity ? { provider: identity.provider, subject: identity.subject, attributes: { ...identity.attributes } } : null,
    service: request.service,
    client_ip: request.clientIp,
    scopes: scopes.map((s) => ({ type: s.type, class: s.class ?? null, name: s.name, actions: [...s.actions] })),
  };
}

/** An answer's decisions by resource; the first decision on a resource wins. */
function indexDecisions(answer: DecisionAnswer): Map<string, Decision> {
  const decisions = new Map<string, Decision>();
  for (const d of answer.decisions) {
    const id = resourceId(d.type, d.class ?? undefined, d.name);
    if (!decisions.has(id)) decisions.set(id, d);
  }
  return decisions;
}

/**
 * The decision on one requested scope: an omitted scope is denied. Unlike the static ACL, `push`
 * does not imply `pull`: the platform said exactly what it allows; `*` allows everything asked.
 */
function decisionFor(scope: Scope, decisions: ReadonlyMap<string, Decision>, decider: string): CachedDecision {
  const decision = decisions.get(resourceId(scope.type, scope.class, scope.name));
  if (!decision) return { granted: [], reason: `not in the ${decider} answer` };
  const granted = decision.allowed.includes('*') ? [...scope.actions] : scope.actions.filter((a) => decision.allowed.includes(a));
  return { granted, reason: decision.reason ?? (granted.length > 0 ? `allowed by the ${decider}` : `denied by the ${decider}`) };
}

/**
 * The verdicts an answer gives `scopes`, cached for the answer's `ttl` (rounded down), else
 * `cacheSeconds`, and never longer than `maxCacheSeconds`.
 */
export function answerVerdicts(answer: DecisionAnswer, scopes: readonly Scope[], decider: string, cache: { cacheSeconds: number; maxCacheSeconds: number }): Verdict[] {
  const decisions = indexDecisions(answer);
  const ttlSeconds = Math.min(answer.ttl === undefined ? cache.cacheSeconds : Math.floor(answer.ttl), cache.maxCacheSeconds);
  return scopes.map((scope) => ({ kind: 'decided', ...decisionFor(scope, decisions, decider), ttlSeconds }));
}

function resourceId(type: string, cls: string | undefined, name: string): string {
  return `${type}\0${cls ?? ''}\0${name}`;
}
