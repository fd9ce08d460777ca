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
      /**
       * Set by a backend that knows the account exists (a wrong password for a configured user, a
       * directory entry whose bind failed): only such a failure counts against the account's
       * brute-force budgets, so random usernames create no per-account record. Absent where the
       * username proves nothing (tokens as passwords) or the account is unknown.
       */
      readonly knownAccount?: true;
    }
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
   * Throws TemporarilyUnavailableError when the record itself cannot be read (a store that is down).
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
  /** The account-name prefix this backend reserved (it admits anyone on the internet); see `allowAnyAccount`. */
  readonly accountPrefix?: ReservedPrefix | undefined;
  /** Identities the config itself defines (static users): their account names are bound at start-up, before anyone else can claim them. */
  configuredIdentities?(): Identity[];
}

/** Server-side state of one browser login, kept between the redirect and the callback. */
export interface LoginTransaction {
  /** Random; travels through the browser and must come back with the callback, to the browser that started the login. */
  readonly state: string;
  /** What the provider keeps server-side for this login, made by its `prepare()` (OAuth: the nonce and the PKCE verifier). */
  readonly secrets: Readonly<Record<string, string>>;
}

/**
 * What the browser brought back to `/login/<name>/callback`: the URL (a redirect's query), and the
 * form fields when the provider posts the browser back (a SAML-style POST binding).
 */
export interface CallbackRequest {
  readonly url: URL;
  readonly form?: Readonly<Record<string, string>> | undefined;
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
  /** Fresh secrets for one login, kept server-side with it until the callback (never sent as they are). */
  prepare(): Record<string, string>;
  /** The callback parameter (query or form field) carrying the state back. Default `state` (OAuth); a POST binding names its own (SAML: `RelayState`). */
  readonly stateParameter?: string;
  /**
   * How the browser comes back: `redirect` (default; a GET) or `form-post` (the provider's page
   * posts a form to the callback from its own site, so the login cookie must be sent cross-site).
   */
  readonly callback?: 'redirect' | 'form-post';
  /** Where to send the browser; throws TemporarilyUnavailableError when the provider cannot be used. */
  loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string>;
  /** Finishes the login from what the browser brought back. */
  handleCallback(callback: CallbackRequest, transaction: LoginTransaction): Promise<CallbackResult>;
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
