import { z } from 'zod';

const action = z.string().regex(/^(\*|[a-z]+)$/, 'an action is lower-case letters or *');

/** One ACL rule; every given matcher must match. Globs: `*` any run of characters, `?` one. */
export const aclRuleSchema = z.strictObject({
  /** Account glob; matches authenticated accounts only. Default `*`. */
  account: z.string().default('*'),
  /** Resource name glob; `${account}` is replaced by the requesting account. Default `*`. */
  name: z.string().default('*'),
  /** Resource type glob (`repository`, `registry`...). Default `repository`. */
  type: z.string().default('repository'),
  /** Service glob. Default `*`. */
  service: z.string().default('*'),
  /**
   * Group glob: matches when any of the identity's groups does, as the registry entry of the
   * backend that proved it reads them from its attributes (README, "Globs", lists them per
   * backend). Default: no condition.
   */
  group: z.string().optional(),
  /** Actions this rule allows; `push` implies `pull`, `*` allows everything asked. Empty = deny. */
  actions: z.array(action),
  /** Free text shown in the audit log for the decision. */
  comment: z.string().optional(),
});

/** Static ACL: first matching rule wins, deny by default. */
export const staticAclSchema = z.strictObject({
  /**
   * Rules for authenticated accounts. Default: every account may push and pull `${account}/*`
   * (see DEFAULT_ACL_RULES), but none when an authorization webhook is configured, so the webhook decides.
   */
  rules: z.array(aclRuleSchema).optional(),
  /** Anonymous pull: repositories anyone may pull without credentials. */
  anonymous: z
    .strictObject({
      /** Name globs anonymous clients may pull. Default none. */
      pull: z.array(z.string()).default([]),
      /** Name globs excluded from `pull` even when they match it. */
      deny: z.array(z.string()).default([]),
    })
    .prefault({}),
});

export type AclRule = z.infer<typeof aclRuleSchema>;

/** The rules used when none are configured and no webhook decides: each account owns its namespace. */
export const DEFAULT_ACL_RULES: readonly AclRule[] = [{ account: '*', name: '${account}/*', type: 'repository', service: '*', actions: ['push', 'pull'] }];
export type StaticAclConfig = z.infer<typeof staticAclSchema>;
