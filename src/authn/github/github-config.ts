import { z } from 'zod';
import { loginLogoUrl } from '../login-logo.js';
import { openSignupShape, requireRestriction } from '../../accounts/open-signup.js';

/** `type: github`: GitHub (or GitHub Enterprise) OAuth apps; GitHub is OAuth 2.0, not OIDC. */
export const githubLoginSchema = z
  .strictObject({
  type: z.literal('github'),
  /** URL slug (`/login/<name>`). Default `github`. */
  name: z.string().regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes').optional(),
  /** What the login page shows after "Sign in with". Default `GitHub`. */
  displayName: z.string().min(1).max(80).optional(),
  /** An image shown beside the display name on the login page (https, or http on loopback). Default none. */
  logoUrl: loginLogoUrl.optional(),
  /** OAuth app client id. */
  clientId: z.string().min(1),
  /** File holding the client secret; wins over `clientSecretEnv`. */
  clientSecretFile: z.string().optional(),
  /** Environment variable holding the client secret. Default `WHARF_GITHUB_CLIENT_SECRET`. */
  clientSecretEnv: z.string().optional(),
  /** Web base URL (authorize and token endpoints live under it). Default https://github.com. */
  webUrl: z.url().default('https://github.com'),
  /** REST API base URL. Default https://api.github.com (GitHub Enterprise: https://HOST/api/v3). */
  apiUrl: z.url().default('https://api.github.com'),
  /** Only members of these organisations may log in (case-insensitive; every page of `/user/orgs` is read, up to 1,000 organisations). Required unless `allowedUsers` or `allowAnyAccount`. */
  allowedOrgs: z.array(z.string()).default([]),
  /** Only these GitHub logins (case-insensitive) may log in, besides members of `allowedOrgs`. Default: none. */
  allowedUsers: z.array(z.string().min(1)).default([]),
  ...openSignupShape,
  /** Fetch the user's teams (`org/team` slugs) into the identity's `teams` attribute. Default false. */
  fetchTeams: z.boolean().default(false),
  })
  .superRefine((config, ctx) =>
    requireRestriction(config, config.allowedOrgs.length + config.allowedUsers.length > 0, 'every GitHub user', 'allowedOrgs or allowedUsers', ctx),
  );

export type GithubLoginConfig = z.infer<typeof githubLoginSchema>;
