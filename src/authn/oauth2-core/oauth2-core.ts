import * as client from 'openid-client';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { LoginTransaction } from '../authenticator.js';

/** How to reach one authorization server. */
export type ServerSource =
  | { readonly kind: 'discovery'; readonly issuer: string }
  | { readonly kind: 'static'; readonly issuer: string; readonly authorizationUrl: string; readonly tokenUrl: string };

/** Options of the core. */
export interface OAuth2CoreOptions {
  server: ServerSource;
  clientId: string;
  clientSecret: string;
  scopes: readonly string[];
  /** OpenID Connect: send a nonce and require an ID token. */
  oidc: boolean;
  /** Extra authorization request parameters (e.g. Google's `hd`). */
  extraParams?: Record<string, string>;
}

/** What the code exchange yields. */
export interface CodeExchange {
  accessToken: string;
  /** Verified ID token claims (OIDC only). */
  claims: Record<string, unknown> | undefined;
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

  async loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string> {
    const config = await this.config();
    const params: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: this.options.scopes.join(' '),
      state: transaction.state,
      code_challenge: await client.calculatePKCECodeChallenge(transaction.codeVerifier),
      code_challenge_method: 'S256',
      ...this.options.extraParams,
    };
    if (this.options.oidc) params.nonce = transaction.nonce;
    return client.buildAuthorizationUrl(config, params).href;
  }

  /** Exchanges the code; throws client errors (bad state, bad ID token) as they are. */
  async exchange(callbackUrl: URL, transaction: LoginTransaction): Promise<CodeExchange> {
    const config = await this.config();
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: transaction.codeVerifier,
      expectedState: transaction.state,
      ...(this.options.oidc ? { expectedNonce: transaction.nonce, idTokenExpected: true } : {}),
    });
    return { accessToken: tokens.access_token, claims: this.options.oidc ? (tokens.claims() as Record<string, unknown> | undefined) : undefined };
  }

  /** GETs a JSON resource with the user's access token (GitHub's REST API, userinfo...). */
  async fetchJson(accessToken: string, url: string): Promise<{ status: number; body: unknown }> {
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
    return { status: response.status, body };
  }

  private config(): Promise<client.Configuration> {
    this.configuration ??= this.load().catch((err: unknown) => {
      this.configuration = undefined; // try discovery again on the next login
      throw new TemporarilyUnavailableError('the identity provider cannot be reached; try again shortly', { cause: err });
    });
    return this.configuration;
  }

  private async load(): Promise<client.Configuration> {
    const { server, clientId, clientSecret } = this.options;
    const insecure = isLoopback(server.issuer) && server.issuer.startsWith('http:');
    const auth = client.ClientSecretPost(clientSecret);
    if (server.kind === 'discovery') {
      return client.discovery(new URL(server.issuer), clientId, undefined, auth, insecure ? { execute: [client.allowInsecureRequests] } : undefined);
    }
    const config = new client.Configuration(
      { issuer: server.issuer, authorization_endpoint: server.authorizationUrl, token_endpoint: server.tokenUrl },
      clientId,
      undefined,
      auth,
    );
    if (isLoopback(server.tokenUrl) && server.tokenUrl.startsWith('http:')) client.allowInsecureRequests(config);
    return config;
  }
}
