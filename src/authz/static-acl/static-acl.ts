import { intersectActions } from '../../domain/access.js';
import type { Identity } from '../../domain/identity.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../authorizer.js';
import { compileGlob } from '../../domain/glob.js';
import { DEFAULT_ACL_RULES, type AclRule, type StaticAclConfig } from './static-acl-config.js';

interface CompiledRule {
  rule: AclRule;
  index: number;
  account: RegExp;
  type: RegExp;
  service: RegExp;
  /** The name glob depends on the account when it holds `${account}`, so it is compiled per request. */
  name: RegExp | undefined;
  group: RegExp | undefined;
  /** The rule as configured, written once: explanations name it. */
  text: string;
}

/**
 * The groups a rule's `group` is matched against: each backend's registry entry says how its
 * identities' attributes hold them (services.ts passes the registries' readers), so the ACL
 * knows no backend.
 */
export type GroupsOf = (identity: Identity) => readonly string[];

/**
 * Static ACL rules: for authenticated accounts the first matching rule wins; anonymous clients
 * may only pull what the anonymous allow list names and the deny list does not. Deny by default.
 */
export class StaticAclAuthorizer implements Authorizer {
  private readonly rules: CompiledRule[];
  private readonly anonymousPull: RegExp[];
  private readonly anonymousDeny: RegExp[];

  /** `defaultRules` apply when the config names none; `groupsOf` reads an identity's groups (default: none). */
  constructor(
    config: StaticAclConfig,
    defaultRules: readonly AclRule[] = DEFAULT_ACL_RULES,
    private readonly groupsOf: GroupsOf = () => [],
  ) {
    this.rules = (config.rules ?? defaultRules).map((rule, index) => ({
      rule,
      index,
      account: compileGlob(rule.account),
      type: compileGlob(rule.type),
      service: compileGlob(rule.service),
      name: rule.name.includes('${account}') ? undefined : compileGlob(rule.name),
      group: rule.group === undefined ? undefined : compileGlob(rule.group),
      text: describeRule(rule, index),
    }));
    this.anonymousPull = config.anonymous.pull.map((g) => compileGlob(g));
    this.anonymousDeny = config.anonymous.deny.map((g) => compileGlob(g));
  }

  /** No rule and no anonymous pull list (a webhook decides alone): every scope would be unmatched. */
  get decidesNothing(): boolean {
    return this.rules.length === 0 && this.anonymousPull.length === 0;
  }

  async authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    let groups: readonly string[] | undefined = request.groups;
    return request.scopes.map((scope) => {
      const identity = request.identity;
      if (!identity) return this.anonymous(scope);
      const account = identity.account;
      for (const c of this.rules) {
        if (!c.account.test(account) || !c.type.test(scope.type) || !c.service.test(request.service)) continue;
        if (c.group && !(groups ??= this.groupsOf(identity)).some((g) => c.group!.test(g))) continue;
        const name = c.name ?? compileGlob(c.rule.name, account);
        if (!name.test(scope.name)) continue;
        const label = c.rule.comment ?? `rule ${c.index}`;
        return { scope, granted: intersectActions(scope.actions, c.rule.actions), source: 'acl', reason: label, matched: true, rule: c.text };
      }
      return { scope, granted: [], source: 'acl', reason: 'no rule matched', matched: false };
    });
  }

  private anonymous(scope: AuthorizationRequest['scopes'][number]): ScopeDecision {
    const listed =
      scope.type === 'repository' &&
      this.anonymousPull.some((g) => g.test(scope.name)) &&
      !this.anonymousDeny.some((g) => g.test(scope.name));
    return listed
      ? { scope, granted: intersectActions(scope.actions, ['pull']), source: 'acl', reason: 'anonymous pull list', matched: true }
      : { scope, granted: [], source: 'acl', reason: 'anonymous access not allowed', matched: false };
  }
}

/** A rule as an explanation shows it: its number, its comment, and the fields it was given beyond their defaults. */
function describeRule(rule: AclRule, index: number): string {
  const fields: string[] = [`account: ${JSON.stringify(rule.account)}`, `name: ${JSON.stringify(rule.name)}`];
  if (rule.type !== 'repository') fields.push(`type: ${JSON.stringify(rule.type)}`);
  if (rule.service !== '*') fields.push(`service: ${JSON.stringify(rule.service)}`);
  if (rule.group !== undefined) fields.push(`group: ${JSON.stringify(rule.group)}`);
  fields.push(`actions: [${rule.actions.join(', ')}]`);
  return `rule ${index}${rule.comment === undefined ? '' : ` (${rule.comment})`} {${fields.join(', ')}}`;
}
