import type { CredentialScope } from '../domain/credential-scope.js';
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
  | {
      readonly kind: 'ok';
      readonly identity: Identity;
      readonly provenance?: Provenance;
      /** Set when the credential itself is narrowed (a scoped registry credential): its tokens get at most this. */
      readonly scope?: CredentialScope | undefined;
      /**
       * Set for a robot made by a person: that person as they were when they made it. Their rights
       * now bound the robot's (decided at each token request), and they must still hold their account.
       */
      readonly maker?: Identity | undefined;
      /** Set by a backend that keeps copies of identities (`keepsCopies`) when it just asked the identity's source again: the identity is that source's word. */
      readonly rechecked?: true;
    };

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
  /**
   * True for Wharf's own credentials: the identities they answer are copies kept when they were made
   * (older than the source's word, so never recorded as a proof), unless the result says `rechecked`.
   */
  readonly keepsCopies?: true;
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
   * The identity as the provider sees it now, for credentials made from a login long ago, given
   * the tokens of that login (kept sealed) and the identity it gave: `invalid` when the provider
   * no longer vouches for it (refresh refused, token revoked, user gone or outside the allowed
   * domains, groups or organisations), `unknown` when the provider cannot be asked or its tokens
   * cannot tell (an access token that expired without a refresh token). Never throws.
   */
  revalidate?(tokens: UpstreamTokens, identity: Identity): Promise<Recheck>;
}

/** A login's outcome, with the provider's tokens when the provider can re-check the identity later. */
export type CallbackResult = AuthnResult & { readonly upstream?: UpstreamTokens };

/** What a login provider gave that lets it be asked about the identity again; never logged, stored only sealed. */
export interface UpstreamTokens {
  readonly accessToken: string;
  /** Present when the provider gave one and the provider's `revalidate` uses it: re-checks then last as long as it does. */
  readonly refreshToken?: string | undefined;
  /** When the access token ends (ms since the epoch); undefined for tokens that do not expire (GitHub OAuth apps). */
  readonly expiresAt?: number | undefined;
}

/** What a re-check with the provider found. */
export type Recheck =
  /** The provider still vouches: the identity as it stands now, and the tokens to keep when they changed (refreshed, rotated). */
  | { readonly kind: 'valid'; readonly identity: Identity; readonly tokens?: UpstreamTokens | undefined }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };
