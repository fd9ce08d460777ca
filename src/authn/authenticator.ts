import type { Identity } from '../domain/identity.js';

/** The outcome of one backend's look at a credential. Deny is explicit; no_match passes on. */
export type AuthnResult =
  | { readonly kind: 'no_match' }
  | { readonly kind: 'denied'; readonly reason: string }
  | { readonly kind: 'ok'; readonly identity: Identity; readonly provenance?: Provenance };

/**
 * What a refresh token made from a login must carry so that it ends when the login's own
 * credential would: never a secret.
 */
export interface Provenance {
  /**
   * What the backend needs to tell later whether the credential behind the login still stands
   * (e.g. a keyed fingerprint of a static user's password hash): passed back to `refresh`.
   */
  readonly binding?: string;
  /**
   * Set when the credential was itself a refresh token: a refresh token made from it joins its
   * family (revoked together) and ends when the family does, instead of starting a new life.
   */
  readonly family?: { readonly id: string; readonly expiresAt: number };
}

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
   * What `login` would answer, from this backend's own record of credentials it verified
   * earlier, without verifying anything (no bcrypt, no bind, no upstream call): `ok` for a
   * remembered credential, `no_match` when the credential is plainly not this backend's (so the
   * next backend may be asked), undefined when only a verification can tell. Never `denied`: a
   * refusal always goes through the brute-force limits. Backends without such a record omit it.
   */
  recall?(username: string, password: string, context: LoginContext): Promise<AuthnResult | undefined>;
  /**
   * The identity as it stands now for a login this backend proved earlier, given that login's
   * `provenance.binding`; undefined when the credential behind it is gone (user removed, password
   * changed, entry deleted or disabled). Used when a refresh token is redeemed, so current groups
   * apply. Throws TemporarilyUnavailableError when the backend cannot be asked.
   *
   * Only backends that implement it get refresh tokens: one that cannot re-check (platform
   * tokens, ID tokens, external commands) would be outlived by a Wharf refresh token.
   */
  refresh?(identity: Identity, binding: string | undefined): Promise<Identity | undefined>;
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
  /** A logo the login page shows beside the display name, when configured. */
  readonly logoUrl?: string | undefined;
  /**
   * `ok` when the provider can be used (its discovery document loaded and complete), else why
   * not; for /readyz. Providers configured without discovery do not implement it.
   */
  check?(): Promise<string>;
  /** Where to send the browser; throws TemporarilyUnavailableError when the provider cannot be used. */
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
}

/** A login's outcome, with the provider's access token when the provider can re-check it later. */
export type CallbackResult = AuthnResult & { readonly upstreamToken?: string };
