import { z } from 'zod';

/** A prefix that keeps a path component valid: lower-case alphanumerics ending in a separator (`g-`, `gh.`, `ext_`). */
const PREFIX = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:[._]|__|-+)$/;

/**
 * Settings of a provider that, unrestricted, admits anyone on the internet (Google, GitHub):
 * such a provider is refused unless the config says so and its accounts carry a prefix, so an
 * internet user can never take a name (`admin`, `ci-bot`, `demo`) another backend's users have.
 */
export const openSignupShape = {
  /** Accept any account of the provider, not only the allowed domains/organisations/users. Default false; needs `accountPrefix`. */
  allowAnyAccount: z.boolean().default(false),
  /**
   * Put before every account name this provider makes (`g-` makes `g-alice`); accounts with it
   * are then refused from every other backend. Lower-case letters and digits ending in `-`, `.`
   * or `_`. Default: none. Required with `allowAnyAccount`.
   */
  accountPrefix: z.string().regex(PREFIX, 'lower-case letters and digits ending in "-", "." or "_" (e.g. "g-")').optional(),
};

/**
 * Refuses a config that admits anyone without saying so: `restricted` tells whether any
 * allow-list is set, `what` names who would be admitted otherwise, `lists` the allow-lists.
 */
export function requireRestriction(
  config: { allowAnyAccount: boolean; accountPrefix?: string | undefined },
  restricted: boolean,
  what: string,
  lists: string,
  ctx: z.RefinementCtx,
): void {
  if (config.allowAnyAccount && config.accountPrefix === undefined) {
    ctx.addIssue({ code: 'custom', path: ['accountPrefix'], message: `allowAnyAccount admits ${what}: give an accountPrefix (e.g. "g-") that no other backend's account names start with` });
  }
  if (!restricted && !config.allowAnyAccount) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: `this admits ${what} and lets them take account names other backends' users have: set ${lists}, or allowAnyAccount: true with an accountPrefix`,
    });
  }
}
