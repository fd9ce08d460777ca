import { z } from 'zod';
import { openSignupShape, requireRestriction } from '../../accounts/open-signup.js';
import { providerTokenCommonShape } from './provider-token-config.js';

/**
 * `type: github-token`: a GitHub token as password (personal access token, classic `ghp_` or
 * fine-grained `github_pat_`, OAuth `gho_`, GitHub App user `ghu_`), checked with `GET /user`.
 * The account is the GitHub login, lower-cased.
 */
export const githubTokenAuthnSchema = z
  .strictObject({
  type: z.literal('github-token'),
  /** REST API base URL; for GitHub Enterprise Server `https://HOST/api/v3`. Default `https://api.github.com`. */
  apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('https://api.github.com'),
  /** `match`: the docker username must be the token's GitHub login, case-insensitively (default). `any`: any username; the login is used. */
  usernamePolicy: z.enum(['match', 'any']).default('match'),
  /** Fetch the user's organisations (`GET /user/orgs`, every page up to 1,000 organisations; needs `read:org` for private memberships) into the `orgs` attribute. Default false; implied by `allowedOrgs`. */
  fetchOrgs: z.boolean().default(false),
  /** Only members of at least one of these organisations may log in (case-insensitive). Required unless `allowedUsers` or `allowAnyAccount`. */
  allowedOrgs: z.array(z.string().min(1)).default([]),
  /** Only these GitHub logins (case-insensitive) may log in, besides members of `allowedOrgs`. Default: none. */
  allowedUsers: z.array(z.string().min(1)).default([]),
  ...openSignupShape,
  ...providerTokenCommonShape,
  })
  .superRefine((config, ctx) =>
    requireRestriction(config, config.allowedOrgs.length + config.allowedUsers.length > 0, 'every GitHub user with a token', 'allowedOrgs or allowedUsers', ctx),
  );

/** The validated `type: github-token` config. */
export type GithubTokenAuthnConfig = z.infer<typeof githubTokenAuthnSchema>;
