import { z } from 'zod';

/** `{type: acl}` in `authz.deciders`: where the ACL (`authz.acl`) is asked among the deciders. */
export const aclLinkSchema = z.strictObject({
  type: z.literal('acl'),
});

/** What the chain check reads of `authz`. */
interface AuthzChainInput {
  readonly deciders?: readonly { readonly type: string }[] | undefined;
  readonly webhook?: { readonly type: string } | undefined;
  readonly order: string;
  readonly acl: { readonly rules?: readonly unknown[] | undefined; readonly anonymous: { readonly pull: readonly string[] } };
}

/**
 * Refuses chains that would not do what they seem to: `deciders` beside the older `webhook` and
 * `order` (one place says the order), the ACL listed twice, or ACL rules that are configured but
 * never asked because `deciders` leaves the ACL out.
 */
export function checkDeciderChain(authz: AuthzChainInput, ctx: z.RefinementCtx): void {
  if (authz.deciders === undefined) return;
  if (authz.webhook !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'give either authz.webhook (with order) or authz.deciders, not both: list the webhook in authz.deciders' });
  }
  if (authz.order !== 'acl-first') {
    ctx.addIssue({ code: 'custom', path: ['order'], message: 'order applies to authz.webhook; with authz.deciders the list is the order' });
  }
  const acl = authz.deciders.flatMap((d, i) => (d.type === 'acl' ? [i] : []));
  for (const i of acl.slice(1)) ctx.addIssue({ code: 'custom', path: ['deciders', i], message: 'the ACL is listed once' });
  if (acl.length === 0 && (authz.acl.rules !== undefined || authz.acl.anonymous.pull.length > 0)) {
    ctx.addIssue({ code: 'custom', path: ['deciders'], message: 'authz.acl has rules or anonymous pulls, but authz.deciders does not list {type: acl}: they would never be asked' });
  }
}
