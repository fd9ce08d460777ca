import { importPKCS8 } from 'jose';
import * as client from 'openid-client';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { LoginTransaction } from '../authenticator.js';

/** How to reach one authorization server. */
export type ServerSource =
  | { readonly kind: 'discovery'; readonly issuer: string }
  | { readonly kind: 'static'; readonly issuer: string; readonly authorizationUrl: string; readonly tokenUrl: string };

/**
 * How the client proves itself at the token endpoint. `private_key_jwt` signs a short assertion
 * with `key` (PKCS#8 PEM) by `alg`; the provider holds only the public key.
 */
export type ClientCredentials =
  | { readonly method: 'client_secret_basic' | 'client_secret_post'; readonly secret: string }
  | { readonly method: 'private_key_jwt'; readonly key: string; readonly alg: string };

/** Options of the core. */
export interface OAuth2CoreOptions {
  server: ServerSource;
  clientId: string;
  credentials: ClientCredentials;
  scopes: readonly string[];
  /** OpenID Connect: send a nonce and require an ID token. */
  oidc: boolean;
  /** Extra authorization request parameters (e.g. Google's `hd`). */
  extraParams?: Record<string, string>;
  /**
   * Ask for a refresh token with the `offline_access` scope (OIDC Core §11), when the discovery
   * document lists it in `scopes_supported` (providers refuse scopes they do not know); with
   * `prompt`, also send `prompt=consent`, without which §11 lets providers ignore the scope.
   */
  offlineAccess?: { prompt: boolean };
}

/** What the code exchange or a refresh yields. */
export interface CodeExchange {
  accessToken: string;
  /** The refresh token, when the provider gave one (a refresh without a new one keeps the old). */
  refreshToken?: string | undefined;
  /** The access token's lifetime in seconds, when the provider said. */
  expiresIn?: number | undefined;
  /** Verified ID token claims (OIDC only; a refresh may come without an ID token). */
  claims: Record<string, unknown> | undefined;
}

/** How long discovery may take before the provider counts as unreachable (openid-client's default is 30 s). */
const DISCOVERY_TIMEOUT_SECONDS = 5;
/** The same for every later request (code exchange, refresh, UserInfo): a re-check holds up a token request. */
const REQUEST_TIMEOUT_SECONDS = 10;

/**
 * Whether the provider itself refused a token (a refresh answered `invalid_grant`, a resource
 * answered 401): the grant or the user behind it is gone. Anything else (an outage, a 5xx, a
 * rate limit, an answer that cannot be read) says nothing about the user.
 */
export function refusedByProvider(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof client.ResponseBodyError) return e.error === 'invalid_grant' || e.status === 401;
    if (e instanceof client.WWWAuthenticateChallengeError) return e.status === 401;
  }
  return false;
}

/**
 * What went wrong, for the log: the provider's OAuth error and description, or openid-client's
 * message with the check that failed (its generic messages alone name nothing). Never a response
 * body: those hold tokens and personal data.
 */
function describeClientError(err: unknown): string {
  if (err instanceof client.ResponseBodyError) return `${err.error}${err.error_description ? ` (${err.error_description})` : ''}, HTTP ${err.status}`;
  if (!(err instanceof Error)) return 'error';
  const cause = err.cause instanceof Error && err.cause.message !== err.message ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

/**
 * The one OAuth 2.0 / OIDC code-flow core over openid-client (PKCE, state, nonce); Google,
 * GitHub and generic OIDC logins are thin configurations of it. Plain http is allowed only for
 * loopback servers (tests, local IdPs).
 */
export class OAuth2Core {
  private configuration: Promise<client.Configuration> | undefined;

  constructor(private readonly options: OAuth2CoreOptions) {}

  /** A nonce (OIDC) and a PKCE verifier for one login. */
  prepare(): Record<string, string> {
    return { nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
  }

  async loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string> {
    const config = await this.config();
    const params: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: this.options.scopes.join(' '),
      state: transaction.state,
      code_challenge: await client.calculatePKCECodeChallenge(secret(transaction, 'codeVerifier')),
      code_challenge_method: 'S256',
      ...this.options.extraParams,
    };
    if (this.options.oidc) params.nonce = secret(transaction, 'nonce');
    const offline = this.options.offlineAccess;
    if (offline && config.serverMetadata().scopes_supported?.includes('offline_access')) {
      if (!this.options.scopes.includes('offline_access')) params.scope += ' offline_access';
      if (offline.prompt) params.prompt = 'consent';
    }
    return client.buildAuthorizationUrl(config, params).href;
  }

  /** Exchanges the code; throws client errors (bad state, bad ID token) as they are. */
  async exchange(callbackUrl: URL, transaction: LoginTransaction): Promise<CodeExchange> {
    const config = await this.config();
    const tokens = await client
      .authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: secret(transaction, 'codeVerifier'),
        expectedState: transaction.state,
        ...(this.options.oidc ? { expectedNonce: secret(transaction, 'nonce'), idTokenExpected: true } : {}),
      })
      .catch((err: unknown) => {
        throw new Error(`code exchange failed: ${describeClientError(err)}`, { cause: err });
      });
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresIn: tokens.expires_in, claims: this.options.oidc ? (tokens.claims() as Record<string, unknown> | undefined) : undefined };
  }

  /**
   * The refresh token grant (RFC 6749 §6): new tokens, and the ID token's claims when the provider
   * sent one (verified as at login). Throws with the provider's error as `cause` (see
   * `refusedByProvider`).
   */
  async refresh(refreshToken: string): Promise<CodeExchange> {
    const config = await this.config();
    const tokens = await client.refreshTokenGrant(config, refreshToken).catch((err: unknown) => {
      throw new Error(`refresh failed: ${describeClientError(err)}`, { cause: err });
    });
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresIn: tokens.expires_in, claims: tokens.claims() as Record<string, unknown> | undefined };
  }

  /** GETs a JSON resource with the user's access token (GitHub's REST API, userinfo...). */
  async fetchJson(accessToken: string, url: string): Promise<{ status: number; body: unknown; link: string | undefined }> {
    const config = await this.config();
    const headers = new Headers({ accept: 'application/json' });
    const response = await client.fetchProtectedResource(config, accessToken, new URL(url), 'GET', undefined, headers);
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body, link: response.headers.get('link') ?? undefined };
  }

  /**
   * The UserInfo claims (OIDC Core §5.3) for the access token, refused unless their `sub` is
   * `expectedSubject`: the ID token's, so claims of another user can never be merged in.
   * Undefined when the provider publishes no UserInfo endpoint. Throws with the provider's error
   * as `cause` (see `refusedByProvider`).
   */
  async userInfo(accessToken: string, expectedSubject: string): Promise<Record<string, unknown> | undefined> {
    const config = await this.config();
    if (!config.serverMetadata().userinfo_endpoint) return undefined;
    return (await client.fetchUserInfo(config, accessToken, expectedSubject).catch((err: unknown) => {
      throw new Error(`UserInfo refused: ${describeClientError(err)}`, { cause: err });
    })) as Record<string, unknown>;
  }

  /** `ok` when the provider's configuration could be loaded (discovering it now if needed), else why not. */
  async check(): Promise<string> {
    try {
      await this.config();
      return 'ok';
    } catch (err) {
      return err instanceof Error ? err.message : 'unavailable';
    }
  }

  private config(): Promise<client.Configuration> {
    this.configuration ??= this.load().catch((err: unknown) => {
      this.configuration = undefined; // try discovery again on the next login
      if (err instanceof TemporarilyUnavailableError) throw err;
      const why = err instanceof Error && err.message ? `: ${err.message}` : '';
      throw new TemporarilyUnavailableError(`discovery at ${this.options.server.issuer} failed${why}`, { cause: err });
    });
    return this.configuration;
  }

  private async clientAuth(): Promise<client.ClientAuth> {
    const credentials = this.options.credentials;
    switch (credentials.method) {
      case 'client_secret_basic':
        return client.ClientSecretBasic(credentials.secret);
      case 'client_secret_post':
        return client.ClientSecretPost(credentials.secret);
      case 'private_key_jwt':
        return client.PrivateKeyJwt(await importPKCS8(credentials.key, credentials.alg));
    }
  }

  private async load(): Promise<client.Configuration> {
    const { server, clientId } = this.options;
    const insecure = isLoopback(server.issuer) && server.issuer.startsWith('http:');
    const auth = await this.clientAuth();
    if (server.kind === 'discovery') {
      const config = await client.discovery(new URL(server.issuer), clientId, undefined, auth, {
        timeout: DISCOVERY_TIMEOUT_SECONDS,
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
      });
      config.timeout = REQUEST_TIMEOUT_SECONDS;
      // openid-client accepts a document without them and fails later, at the first login, with
      // an error that names nothing; a provider lacking them cannot be used at all.
      const metadata = config.serverMetadata();
      const missing = (['authorization_endpoint', 'token_endpoint'] as const).filter((field) => typeof metadata[field] !== 'string');
      if (missing.length > 0) {
        throw new TemporarilyUnavailableError(`the discovery document of ${server.issuer} lacks ${missing.map((f) => `"${f}"`).join(' and ')}`);
      }
      return config;
    }
    const config = new client.Configuration(
      { issuer: server.issuer, authorization_endpoint: server.authorizationUrl, token_endpoint: server.tokenUrl },
      clientId,
      undefined,
      auth,
    );
    if (isLoopback(server.tokenUrl) && server.tokenUrl.startsWith('http:')) client.allowInsecureRequests(config);
    config.timeout = REQUEST_TIMEOUT_SECONDS;
    return config;
  }
}

/** One of the secrets `prepare()` made; a login without it was not started by this core. */
function secret(transaction: LoginTransaction, name: 'nonce' | 'codeVerifier'): string {
  const value = transaction.secrets[name];
  if (value === undefined) throw new Error(`the pending login has no ${name}`);
  return value;
}
