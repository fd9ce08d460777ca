import { z } from 'zod';
import { loginLogoUrl } from '../login-logo.js';
import { openSignupShape, requireRestriction } from '../../accounts/open-signup.js';

const common = {
  /** URL slug of this provider (`/login/<name>`). Default: the type. */
  name: z.string().regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes').optional(),
  /** What the login page shows after "Sign in with" (e.g. `Keycloak`). Default: `Google` for Google, else the name. */
  displayName: z.string().min(1).max(80).optional(),
  /** An image shown beside the display name on the login page (https, or http on loopback). Default none. */
  logoUrl: loginLogoUrl.optional(),
  /** OAuth client id registered with the provider. */
  clientId: z.string().min(1),
  /**
   * How Wharf authenticates at the token endpoint; it must be the method registered for the
   * client. Default `client_secret_basic` (the OpenID Connect default; some providers accept only
   * it). `client_secret_post` sends the secret in the form body; `private_key_jwt` signs an
   * assertion with `clientPrivateKeyFile` and needs no secret.
   */
  clientAuthentication: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).default('client_secret_basic'),
  /** `private_key_jwt` only: PEM file of the client's private key (EC P-256/P-384, RSA or Ed25519); the provider holds its public key. */
  clientPrivateKeyFile: z.string().optional(),
  /** File holding the client secret; wins over `clientSecretEnv`. */
  clientSecretFile: z.string().optional(),
  /** Environment variable holding the client secret. Default `WHARF_<NAME>_CLIENT_SECRET` (NAME upper-cased, dashes as underscores). */
  clientSecretEnv: z.string().optional(),
};

/** A private key method needs its key file; a secret method has no use for one. */
function checkClientAuthentication(config: { clientAuthentication: string; clientPrivateKeyFile?: string | undefined }, ctx: z.core.$RefinementCtx): void {
  if (config.clientAuthentication === 'private_key_jwt' && !config.clientPrivateKeyFile) {
    ctx.addIssue({ code: 'custom', path: ['clientPrivateKeyFile'], message: 'required with clientAuthentication private_key_jwt' });
  }
  if (config.clientAuthentication !== 'private_key_jwt' && config.clientPrivateKeyFile) {
    ctx.addIssue({ code: 'custom', path: ['clientPrivateKeyFile'], message: 'used only with clientAuthentication private_key_jwt' });
  }
}

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
  .superRefine((config, ctx) => {
    checkClientAuthentication(config, ctx);
    requireRestriction(config, config.allowedDomains.length > 0, 'every Google account on the internet', 'allowedDomains', ctx);
  });

/** `type: oidc`: any OpenID Connect issuer (Keycloak, Entra ID, GitLab, Dex...). */
export const oidcLoginSchema = z.strictObject({
  type: z.literal('oidc'),
  ...common,
  /** Issuer URL; its `/.well-known/openid-configuration` is discovered. */
  issuer: z.url(),
  /** Scopes requested. Default `openid profile email`. */
  scopes: z.array(z.string()).default(['openid', 'profile', 'email']),
  /**
   * Claim naming the account. Default `preferred_username`. Read from the ID token, or from the
   * UserInfo endpoint when the ID token lacks it (OIDC Core §5.4). `email` is used only when
   * `email_verified` is true.
   */
  accountClaim: z.string().default('preferred_username'),
  /** How the claim becomes an account name. Default `lowercase`. */
  accountTransform: z.enum(['email-local-part', 'lowercase']).default('lowercase'),
  /** Claim holding group names (ID token, else UserInfo), copied to the identity's `groups` attribute. Default `groups`. */
  groupsClaim: z.string().default('groups'),
  /**
   * Only users with at least one of these groups (in `groupsClaim`) may sign in; credentials from
   * their logins are revoked at the first re-check that finds none. Default none: everyone the
   * issuer signs in.
   */
  allowedGroups: z.array(z.string().min(1)).default([]),
  /**
   * How to ask for the refresh token that lets credentials be re-checked for their whole life
   * (without one they last at most `federation.credentials.maxDaysWithoutRecheck`):
   * `consent` (default) asks for the `offline_access` scope, when the discovery document lists it,
   * with `prompt=consent`, as OIDC Core §11 asks and node-oidc-provider requires; `scope` asks for
   * the scope alone, for providers that grant refresh tokens without a consent screen at every
   * login (Entra ID, Okta, Auth0); `off` asks for neither (a provider may still give one, as GitLab does).
   */
  offlineAccess: z.enum(['consent', 'scope', 'off']).default('consent'),
}).superRefine(checkClientAuthentication);

export type GoogleLoginConfig = z.infer<typeof googleLoginSchema>;
export type OidcLoginConfig = z.infer<typeof oidcLoginSchema>;
