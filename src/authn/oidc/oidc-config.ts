import { z } from 'zod';
import { openSignupShape, requireRestriction } from '../../accounts/open-signup.js';

const common = {
  /** URL slug of this provider (`/login/<name>`). Default: the type. */
  name: z.string().regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes').optional(),
  /** What the login page shows. */
  displayName: z.string().optional(),
  /** OAuth client id registered with the provider. */
  clientId: z.string().min(1),
  /** File holding the client secret; wins over `clientSecretEnv`. */
  clientSecretFile: z.string().optional(),
  /** Environment variable holding the client secret. Default `WHARF_<NAME>_CLIENT_SECRET` (NAME upper-cased, dashes as underscores). */
  clientSecretEnv: z.string().optional(),
};

/**
 * `type: google`: Google accounts through OIDC discovery, limited to Workspace domains unless
 * `allowAnyAccount` (with an `accountPrefix`) says any Google account may sign in.
 */
export const googleLoginSchema = z
  .strictObject({
  type: z.literal('google'),
  ...common,
  /** Issuer for discovery. Default https://accounts.google.com (tests point it elsewhere). */
  issuer: z.url().default('https://accounts.google.com'),
  /** Only accounts of these Workspace domains (`hd` claim) may log in. Required unless `allowAnyAccount`. */
  allowedDomains: z.array(z.string()).default([]),
  /** How the account name is derived from the e-mail address. Default `email-local-part`. */
  accountTransform: z.enum(['email-local-part', 'lowercase']).default('email-local-part'),
  ...openSignupShape,
  })
  .superRefine((config, ctx) => requireRestriction(config, config.allowedDomains.length > 0, 'every Google account on the internet', 'allowedDomains', ctx));

/** `type: oidc`: any OpenID Connect issuer (Keycloak, Entra ID, GitLab, Dex...). */
export const oidcLoginSchema = z.strictObject({
  type: z.literal('oidc'),
  ...common,
  /** Issuer URL; its `/.well-known/openid-configuration` is discovered. */
  issuer: z.url(),
  /** Scopes requested. Default `openid profile email`. */
  scopes: z.array(z.string()).default(['openid', 'profile', 'email']),
  /** ID-token claim naming the account. Default `preferred_username`. */
  accountClaim: z.string().default('preferred_username'),
  /** How the claim becomes an account name. Default `lowercase`. */
  accountTransform: z.enum(['email-local-part', 'lowercase']).default('lowercase'),
  /** ID-token claim holding group names, copied to the identity's `groups` attribute. Default `groups`. */
  groupsClaim: z.string().default('groups'),
});

export type GoogleLoginConfig = z.infer<typeof googleLoginSchema>;
export type OidcLoginConfig = z.infer<typeof oidcLoginSchema>;
