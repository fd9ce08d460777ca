import type { ReservedPrefix } from '../accounts/account-gate.js';
import type { Identity } from '../domain/identity.js';

/** The outcome of one backend's look at a credential. Deny is explicit; no_match passes on. */
export type AuthnResult =
  | { readonly kind: 'no_match' }
  | {
      readonly kind: 'denied';
      readonly reason: string;
      /** What the user is told instead of a generic refusal, when that is safe and they can act on it (an account owned by another sign-in method). */
      readonly message?: string;
    }
  | { readonly kind: 'ok'; readonly identity: Identity };

/** Facts about the request a backend may use (never logged with the password). */
export interface LoginContext {
  readonly clientIp: string;
  readonly service: string;
}

/** A backend that checks a username and password (HTTP Basic on the token endpoint). */
export interface PasswordAuthenticator {
  /** The backend type, recorded as the identity's `provider`. */
  readonly type: string;
  /**
   * Returns `no_match` when the credential is not this backend's to judge (unknown user, foreign
   * token format), `denied` when it is and it is wrong, `ok` with the identity otherwise.
   * Throws TemporarilyUnavailableError only when no decision can be made.
   */
  login(username: string, password: string, context: LoginContext): Promise<AuthnResult>;
  /**
   * Whether an identity this backend proved earlier still stands (used when a refresh token is
   * redeemed). Backends without a way to tell omit it, and the identity stands.
   */
  stillValid?(identity: Identity): Promise<boolean>;
  /**
   * False when a login must not be turned into a refresh token: e.g. platform tokens, whose
   * revocation on the platform has to end access, which a Wharf refresh token would outlive.
   */
  readonly refreshable?: boolean;
  /** The account-name prefix this backend reserved (it admits anyone on the internet); see `allowAnyAccount`. */
  readonly accountPrefix?: ReservedPrefix | undefined;
  /** Identities the config itself defines (static users): their account names are bound at start-up, before anyone else can claim them. */
  configuredIdentities?(): Identity[];
}

/** Server-side state of one browser login, kept between the redirect and the callback. */
export interface LoginTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

/**
 * A backend that logs a browser in through a redirect to an identity provider and back
 * (Google, GitHub, any OIDC issuer).
 */
export interface CallbackAuthenticator {
  /** The URL slug (`/login/<name>`), unique per configured provider. */
  readonly name: string;
  /** The backend type, recorded as the identity's `provider`. */
  readonly type: string;
  /** What the login page shows. */
  readonly displayName: string;
  /** Where to send the browser. */
  loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string>;
  /** Finishes the login from the callback URL the provider redirected to. */
  handleCallback(callbackUrl: URL, transaction: LoginTransaction): Promise<CallbackResult>;
  /**
   * Re-checks an identity with the provider, given the access token of its login (kept sealed):
   * `invalid` when the provider no longer vouches for it (token revoked, user left the allowed
   * organisation), `unknown` when the provider cannot be asked. Providers whose access tokens
   * expire within hours (OIDC) do not implement it.
   */
  revalidate?(accessToken: string): Promise<'valid' | 'invalid' | 'unknown'>;
  /** The account-name prefix this provider reserved (it admits anyone on the internet); see `allowAnyAccount`. */
  readonly accountPrefix?: ReservedPrefix | undefined;
}

/** A login's outcome, with the provider's access token when the provider can re-check it later. */
export type CallbackResult = AuthnResult & { readonly upstreamToken?: string };
