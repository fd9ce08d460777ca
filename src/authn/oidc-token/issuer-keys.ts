import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { Logger } from 'pino';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import { SingleFlight } from '../../upstream/single-flight.js';
import { UpstreamError, type UpstreamClient, type UpstreamResponse } from '../../upstream/upstream-client.js';

/** A key resolver over one fetched JWKS (jose's local key set). */
type KeySet = ReturnType<typeof createLocalJWKSet>;
/** What jose's resolver returns. */
type VerificationKey = Awaited<ReturnType<KeySet>>;

/**
 * A token naming a `kid` the cached JWKS lacks refetches at most this often: soon enough to pick
 * up a rotation, rarely enough that tokens with made-up `kid`s cannot turn Wharf into a flood of
 * requests at the issuer.
 */
export const UNKNOWN_KID_REFETCH_COOLDOWN_MS = 30_000;

/** Options of one issuer's key source. */
export interface IssuerKeysOptions {
  /** The issuer, exactly as in `iss`. */
  issuer: string;
  /** A fixed JWKS URL; without it the discovery document names one. */
  jwksUri: string | undefined;
  /** How long a fetched JWKS (and discovery document) is used before refetching, in ms. */
  cacheMs: number;
  /** How long past `cacheMs` the last good JWKS is still used while fetching fails, in ms. */
  maxStaleMs: number;
  /** The HTTP client for this issuer (own circuit breaker). */
  upstream: UpstreamClient;
  now: () => number;
  logger: Logger;
}

/**
 * The signing keys of one issuer: discovery (unless a JWKS URL is configured), then the JWKS,
 * cached on the injected clock. Concurrent logins share one fetch. When a refresh fails, the last
 * good keys keep working for `maxStaleMs` (an issuer outage should not stop every CI push);
 * without usable keys a login gets 503, never a 401 the user cannot fix.
 */
export class IssuerKeys {
  private keys: { readonly set: KeySet; readonly fetchedAt: number; readonly kids: readonly string[] } | undefined;
  private discovered: { readonly jwksUri: string; readonly fetchedAt: number } | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private readonly flight = new SingleFlight<KeySet>();

  constructor(private readonly options: IssuerKeysOptions) {}

  /**
   * The verification key for a token header (jose's key-resolver signature). Throws jose's
   * JWKSNoMatchingKey / JWKSMultipleMatchingKeys from the key set, or TemporarilyUnavailableError
   * when no keys can be had.
   */
  async getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<VerificationKey> {
    const set = await this.current();
    try {
      return await set(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || this.options.now() - this.lastAttemptAt < UNKNOWN_KID_REFETCH_COOLDOWN_MS) throw err;
      // Perhaps the issuer rotated: one refetch, then the answer stands.
      this.options.logger.info({ event: 'oidc_jwks_unknown_kid', issuer: this.options.issuer, kid: printable(header.kid) }, 'token names a key not in the cached JWKS; refetching');
      return (await this.refresh('unknown kid'))(header, token);
    }
  }

  /** The `kid`s of the cached keys (diagnostics). */
  cachedKids(): readonly string[] {
    return this.keys?.kids ?? [];
  }

  private async current(): Promise<KeySet> {
    const now = this.options.now();
    const keys = this.keys;
    if (keys && now - keys.fetchedAt < this.options.cacheMs) return keys.set;
    const usableStale = keys !== undefined && now - keys.fetchedAt < this.options.cacheMs + this.options.maxStaleMs;
    // While the issuer is failing, stale keys serve without a fetch per login.
    if (usableStale && now - this.lastAttemptAt < UNKNOWN_KID_REFETCH_COOLDOWN_MS) return keys.set;
    try {
      return await this.refresh(keys ? 'expired' : 'first use');
    } catch (err) {
      if (!usableStale || !(err instanceof TemporarilyUnavailableError)) throw err;
      this.options.logger.warn(
        { event: 'oidc_jwks_stale', issuer: this.options.issuer, ageSeconds: Math.round((now - keys.fetchedAt) / 1000) },
        'JWKS refresh failed; verifying with the last good keys',
      );
      return keys.set;
    }
  }

  private refresh(why: string): Promise<KeySet> {
    return this.flight.run('jwks', async () => {
      this.lastAttemptAt = this.options.now();
      const jwksUri = await this.jwksUri();
      const jwks = await this.fetchJwks(jwksUri);
      let set: KeySet;
      try {
        set = createLocalJWKSet(jwks);
      } catch {
        return this.unusable('jwks', 'is not a valid JWK set');
      }
      const kids = jwks.keys.map((k) => k.kid ?? '(no kid)');
      this.keys = { set, fetchedAt: this.options.now(), kids };
      this.options.logger.info({ event: 'oidc_jwks_fetched', issuer: this.options.issuer, jwksUri, kids, why }, 'fetched issuer signing keys');
      return set;
    });
  }

  private async jwksUri(): Promise<string> {
    if (this.options.jwksUri) return this.options.jwksUri;
    const now = this.options.now();
    if (this.discovered && now - this.discovered.fetchedAt < this.options.cacheMs) return this.discovered.jwksUri;
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

  private async fetchJwks(url: string): Promise<JSONWebKeySet> {
    const doc = this.json(await this.get(url, 'jwks'), 'jwks');
    if (!Array.isArray(doc.keys)) return this.unusable('jwks', 'is not a JWK set (no "keys" array)');
    // Only public asymmetric signing keys. A JWKS that also lists an `oct` or private key is an
    // issuer mistake; those entries are dropped, never used.
    const keys = (doc.keys as unknown[]).filter(
      (k): k is JWK => typeof k === 'object' && k !== null && ['RSA', 'EC', 'OKP'].includes(String((k as JWK).kty)) && (k as JWK).d === undefined,
    );
    if (keys.length < doc.keys.length) {
      this.options.logger.warn({ event: 'oidc_jwks_keys_dropped', issuer: this.options.issuer, dropped: doc.keys.length - keys.length }, 'JWKS entries that are not public signing keys were ignored');
    }
    if (keys.length === 0) return this.unusable('jwks', 'holds no public signing key');
    return { keys };
  }

  private async get(url: string, what: 'discovery' | 'jwks'): Promise<UpstreamResponse> {
    let response: UpstreamResponse;
    try {
      response = await this.options.upstream.request(url, { method: 'GET', headers: { accept: 'application/json' } });
    } catch (err) {
      const failure = err instanceof UpstreamError ? err.failure : 'error';
      this.options.logger.warn(
        { event: 'oidc_jwks_unavailable', issuer: this.options.issuer, what, failure },
        `fetching the issuer's ${what} failed: ${err instanceof Error ? err.message : String(err)}; refusing with 503 (fail closed)`,
      );
      throw new TemporarilyUnavailableError('the ID token issuer’s keys cannot be fetched; try again shortly', { cause: err });
    }
    if (response.status !== 200) return this.unusable(what, `answered ${response.status}`);
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
    this.options.logger[level]({ event: 'oidc_jwks_unusable', issuer: this.options.issuer, what }, `the issuer's ${what} ${why}; refusing with 503 (fail closed)`);
    throw new TemporarilyUnavailableError('the ID token issuer’s keys cannot be used; try again shortly');
  }
}

function printable(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, 100) : undefined;
}
