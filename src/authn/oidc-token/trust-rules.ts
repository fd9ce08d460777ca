import type { JWTPayload } from 'jose';
import { compileGlob } from '../../domain/glob.js';
import { parseAccountTemplate, type AccountTemplate } from './account-template.js';
import { claimAt } from './claim-path.js';
import type { OidcTokenRuleConfig } from './oidc-token-config.js';
import { parsePullTemplate, type PullTemplate } from './pull-template.js';

/** What the first matching rule made of a verified token. */
export type RuleOutcome =
  | {
      readonly kind: 'match';
      /** Index of the rule in `rules`, for the audit log. */
      readonly rule: number;
      readonly account: string;
      /** The claims the rule looked at (conditions and template), as the token had them. */
      readonly claims: Readonly<Record<string, unknown>>;
      readonly namespace: string | undefined;
      /** The repository globs the rule lets the token pull at most (its `pull`, rendered); undefined when the rule sets no ceiling. */
      readonly pull: readonly string[] | undefined;
      /** The value of the rule's `owner` claim: the account's owner within the issuer; undefined when the issuer as a whole owns it. */
      readonly owner: string | undefined;
    }
  | { readonly kind: 'no_rule'; readonly reason: string };

interface CompiledRule {
  readonly index: number;
  readonly issuer: string;
  readonly audience: string | undefined;
  readonly conditions: ReadonlyArray<{ readonly claim: string; readonly patterns: readonly string[]; readonly globs: readonly RegExp[] }>;
  readonly template: AccountTemplate;
  readonly namespace: string | undefined;
  readonly pull: readonly PullTemplate[] | undefined;
  readonly owner: string | undefined;
}

/** Longest owner value bound to an account (a uid is 36 bytes, a namespace at most 63). */
const MAX_OWNER_BYTES = 255;

/** Most rule failures spelled out in a denial reason; the rest are counted. */
const MAX_EXPLAINED = 4;

/**
 * The trust rules, compiled once. A rule matches when its issuer is the token's `iss`, its
 * audience (if any) is in `aud`, and every claim condition holds; the first match decides.
 */
export class TrustRules {
  private readonly rules: readonly CompiledRule[];

  /** `rules` must have passed oidcTokenAuthnSchema (templates parse). */
  constructor(rules: readonly OidcTokenRuleConfig[]) {
    this.rules = rules.map((rule, index) => ({
      index,
      issuer: rule.issuer,
      audience: rule.audience,
      conditions: Object.entries(rule.claims).map(([claim, pattern]) => {
        const patterns = typeof pattern === 'string' ? [pattern] : pattern;
        return { claim, patterns, globs: patterns.map((p) => compileGlob(p)) };
      }),
      template: parseAccountTemplate(rule.account),
      namespace: rule.namespace,
      pull: rule.pull?.map((p) => parsePullTemplate(p)),
      owner: rule.owner,
    }));
  }

  /** Applies the rules to a token whose signature, issuer, audience and times are verified. */
  evaluate(payload: JWTPayload): RuleOutcome {
    const iss = String(payload.iss);
    const forIssuer = this.rules.filter((r) => r.issuer === iss);
    if (forIssuer.length === 0) return { kind: 'no_rule', reason: `no trust rule names issuer ${iss}` };
    const audiences = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
    const failures: string[] = [];
    for (const rule of forIssuer) {
      const failure = this.failure(rule, payload, audiences);
      if (failure) {
        failures.push(`rule ${rule.index}: ${failure}`);
        continue;
      }
      const used: Record<string, unknown> = {};
      const read = [...rule.conditions.map((c) => c.claim), ...rule.template.claims, ...(rule.pull ?? []).flatMap((p) => p.claims), ...(rule.owner ? [rule.owner] : [])];
      for (const claim of read) used[claim] = claimAt(payload, claim);
      // An issuer may sign any address a user typed into a profile; only a verified one names them.
      if (rule.template.claims.includes('email') && payload.email_verified !== true && payload.email_verified !== 'true') {
        return { kind: 'no_rule', reason: `rule ${rule.index} matched but its account template uses "email" and the token's email_verified is not true` };
      }
      const rendered = rule.template.render(payload);
      // The rule matched, so this token is meant for it; a bad account is a denial, not a reason
      // to fall through to a later, perhaps broader, rule.
      if ('error' in rendered) return { kind: 'no_rule', reason: `rule ${rule.index} matched but ${rendered.error}` };
      // The same holds for what it grants and who owns the account: never a broader rule instead.
      const pull = this.pull(rule, payload);
      if (pull && 'error' in pull) return { kind: 'no_rule', reason: `rule ${rule.index} matched but ${pull.error}` };
      const owner = this.owner(rule, payload);
      if (owner && 'error' in owner) return { kind: 'no_rule', reason: `rule ${rule.index} matched but ${owner.error}` };
      return { kind: 'match', rule: rule.index, account: rendered.account, claims: used, namespace: rule.namespace, pull: pull?.globs, owner: owner?.value };
    }
    const shown = failures.slice(0, MAX_EXPLAINED).join('; ');
    const more = failures.length > MAX_EXPLAINED ? `; and ${failures.length - MAX_EXPLAINED} more` : '';
    return { kind: 'no_rule', reason: `no trust rule matches the token: ${shown}${more}` };
  }

  private failure(rule: CompiledRule, payload: JWTPayload, audiences: readonly string[]): string | undefined {
    if (rule.audience !== undefined && !audiences.includes(rule.audience)) return `audience is not ${JSON.stringify(rule.audience)}`;
    for (const { claim, patterns, globs } of rule.conditions) {
      const value = claimAt(payload, claim);
      if (value === undefined || value === null) return `claim "${claim}" is missing`;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return `claim "${claim}" is not a string`;
      const text = String(value);
      if (!globs.some((glob) => glob.test(text))) {
        return `claim "${claim}" is ${JSON.stringify(text.slice(0, 200))}, not ${patterns.map((p) => JSON.stringify(p)).join(' or ')}`;
      }
    }
    return undefined;
  }

  private pull(rule: CompiledRule, payload: JWTPayload): { globs: string[] } | { error: string } | undefined {
    if (!rule.pull) return undefined;
    const globs: string[] = [];
    for (const template of rule.pull) {
      const rendered = template.render(payload);
      if ('error' in rendered) return rendered;
      if (!globs.includes(rendered.glob)) globs.push(rendered.glob);
    }
    return { globs };
  }

  private owner(rule: CompiledRule, payload: JWTPayload): { value: string } | { error: string } | undefined {
    if (rule.owner === undefined) return undefined;
    const value = claimAt(payload, rule.owner);
    if ((typeof value !== 'string' && typeof value !== 'number') || value === '') return { error: `its owner claim "${rule.owner}" is missing or not a string` };
    const text = String(value);
    if (Buffer.byteLength(text) > MAX_OWNER_BYTES) return { error: `its owner claim "${rule.owner}" is longer than ${MAX_OWNER_BYTES} bytes` };
    return { value: text };
  }
}
