import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import { UpstreamError, type UpstreamClient, type UpstreamResponse } from '../../upstream/upstream-client.js';
import { publicSigningKeys } from './jwks-document.js';
import { unusableKeys, type JwksSource } from './jwks-source.js';

/** Options of the keys an issuer publishes over HTTP. */
export interface HttpJwksSourceOptions {
  /** The issuer, exactly as in `iss`. */
  issuer: string;
  /** A fixed JWKS URL; without it the discovery document names one. */
  jwksUri: string | undefined;
  /** How long a discovery document is used before it is fetched again, in ms. */
  discoveryCacheMs: number;
  /** The HTTP client for this issuer (own circuit breaker, CA bundle). */
  upstream: UpstreamClient;
  /** The bearer token to send, read anew at every fetch (projected tokens rotate); undefined sends none. */
  bearerToken?: (() => string) | undefined;
  now: () => number;
  logger: Logger;
}

/**
 * An issuer's keys from its JWKS URL: the configured one, or the `jwks_uri` of its discovery
 * document (OpenID Connect Discovery 1.0, as Kubernetes API servers serve it too). Every failure
 * is a 503 (TemporarilyUnavailableError), logged with what failed.
 */
export class HttpJwksSource implements JwksSource {
  readonly reloads = true;
  private discovered: { readonly jwksUri: string; readonly fetchedAt: number } | undefined;
  /** Origins a bearer token may be sent to: the ones configured, never one a discovery document names. */
  private readonly bearerOrigins: ReadonlySet<string>;

  constructor(private readonly options: HttpJwksSourceOptions) {
    this.bearerOrigins = new Set([options.issuer, ...(options.jwksUri ? [options.jwksUri] : [])].map((url) => new URL(url).origin));
  }

  get describe(): string {
    return this.options.jwksUri ?? this.discovered?.jwksUri ?? `${this.options.issuer} (discovery)`;
  }

  async load(): Promise<JSONWebKeySet> {
    const url = await this.jwksUri();
    const checked = publicSigningKeys(this.json(await this.get(url, 'jwks'), 'jwks'), { strict: false });
    if ('error' in checked) return this.unusable('jwks', checked.error);
    if (checked.dropped > 0) {
      // Only public asymmetric signing keys are used; anything else an issuer lists is its mistake.
      this.options.logger.warn({ event: 'oidc_jwks_keys_dropped', issuer: this.options.issuer, dropped: checked.dropped }, 'JWKS entries that are not public signing keys were ignored');
    }
    return checked.keys;
  }

  private async jwksUri(): Promise<string> {
    if (this.options.jwksUri) return this.options.jwksUri;
    const now = this.options.now();
    if (this.discovered && now - this.discovered.fetchedAt < this.options.discoveryCacheMs) return this.discovered.jwksUri;
    // OpenID Connect Discovery 1.0 §4: drop a trailing slash before appending the well-known path.
    const url = `${this.options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const doc = this.json(await this.get(url, 'discovery'), 'discovery');
    // §4.3: the document must name the very issuer it was fetched for, or another party's keys
    // could be made to vouch for this issuer's tokens.
    if (doc.issuer !== this.options.issuer) {
      return this.unusable('discovery', `names issuer ${JSON.stringify(String(doc.issuer).slice(0, 200))}, not ${this.options.issuer}`, 'error');
    }
    const jwksUri = doc.jwks_uri;
    if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) return this.unusable('discovery', 'has no valid jwks_uri', 'error');
    const protocol = new URL(jwksUri).protocol;
    const issuerProtocol = new URL(this.options.issuer).protocol;
    if (!(protocol === 'https:' || (protocol === 'http:' && issuerProtocol === 'http:'))) {
      return this.unusable('discovery', `names a jwks_uri over ${protocol} for an ${issuerProtocol} issuer`, 'error');
    }
    this.discovered = { jwksUri, fetchedAt: now };
    return jwksUri;
  }

  private async get(url: string, what: 'discovery' | 'jwks'): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    let response: UpstreamResponse;
    try {
      // The cluster credential goes only where the config says it may: a discovery document
      // naming a JWKS elsewhere gets an anonymous request.
      if (this.options.bearerToken && this.bearerOrigins.has(new URL(url).origin)) headers.authorization = `Bearer ${this.options.bearerToken()}`;
      response = await this.options.upstream.request(url, { method: 'GET', headers });
    } catch (err) {
      const failure = err instanceof UpstreamError ? err.failure : 'error';
      this.options.logger.warn(
        { event: 'oidc_jwks_unavailable', issuer: this.options.issuer, what, failure },
        `fetching the issuer's ${what} failed: ${err instanceof Error ? err.message : String(err)}; refusing with 503 (fail closed)`,
      );
      throw new TemporarilyUnavailableError('the ID token issuer’s keys cannot be fetched; try again shortly', { cause: err });
    }
    if (response.status !== 200) {
      const hint = response.status === 401 || response.status === 403 ? ' (the API server wants a bearer token it accepts, or RBAC for system:service-account-issuer-discovery)' : '';
      return this.unusable(what, `answered ${response.status}${hint}`);
    }
    return response;
  }

  private json(response: UpstreamResponse, what: 'discovery' | 'jwks'): Record<string, unknown> {
    try {
      const value: unknown = JSON.parse(response.body);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // reported below
    }
    return this.unusable(what, 'answered with something other than a JSON object');
  }

  private unusable(what: 'discovery' | 'jwks', why: string, level: 'warn' | 'error' = 'warn'): never {
    return unusableKeys(this.options.logger, this.options.issuer, what, why, level);
  }
}
