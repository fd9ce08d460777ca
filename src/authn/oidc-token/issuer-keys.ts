import { createLocalJWKSet, errors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { Logger } from 'pino';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import { SingleFlight } from '../../upstream/single-flight.js';
import type { JwksSource } from './jwks-source.js';

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

/** Options of one issuer's keys. */
export interface IssuerKeysOptions {
  /** The issuer, exactly as in `iss`. */
  issuer: string;
  /** Where the keys come from: fetched (discovery or a JWKS URL), a file, or the config. */
  source: JwksSource;
  /** How long loaded keys are used before loading them again, in ms (keys fixed in the config: for ever). */
  cacheMs: number;
  /** How long past `cacheMs` the last good JWKS is still used while loading fails, in ms. */
  maxStaleMs: number;
  /** Keys already loaded at start-up (a JWKS file), used as if just loaded. */
  initial?: JSONWebKeySet | undefined;
  now: () => number;
  logger: Logger;
}

/**
 * The signing keys of one issuer, loaded from its source and cached on the injected clock, so
 * tokens are verified without a fetch per request. Concurrent logins share one load. When a
 * reload fails, the last good keys keep working for `maxStaleMs` (an issuer outage should not stop
 * every CI push); without usable keys a login gets 503, never a 401 the user cannot fix.
 */
export class IssuerKeys {
  private keys: { readonly set: KeySet; readonly fetchedAt: number; readonly kids: readonly string[] } | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private readonly flight = new SingleFlight<KeySet>();

  constructor(private readonly options: IssuerKeysOptions) {
    if (options.initial) this.keys = this.cached(options.initial);
  }

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
      const cooling = this.options.now() - this.lastAttemptAt < UNKNOWN_KID_REFETCH_COOLDOWN_MS;
      if (!(err instanceof errors.JWKSNoMatchingKey) || !this.options.source.reloads || cooling) throw err;
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
    if (keys && (!this.options.source.reloads || now - keys.fetchedAt < this.options.cacheMs)) return keys.set;
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
      const jwks = await this.options.source.load();
      let keys: NonNullable<IssuerKeys['keys']>;
      try {
        keys = this.cached(jwks);
      } catch {
        this.options.logger.warn({ event: 'oidc_jwks_unusable', issuer: this.options.issuer, what: 'jwks' }, "the issuer's jwks is not a valid JWK set; refusing with 503 (fail closed)");
        throw new TemporarilyUnavailableError('the ID token issuer’s keys cannot be used; try again shortly');
      }
      this.keys = keys;
      this.options.logger.info({ event: 'oidc_jwks_fetched', issuer: this.options.issuer, from: this.options.source.describe, kids: keys.kids, why }, 'loaded issuer signing keys');
      return keys.set;
    });
  }

  private cached(jwks: JSONWebKeySet): NonNullable<IssuerKeys['keys']> {
    return { set: createLocalJWKSet(jwks), fetchedAt: this.options.now(), kids: jwks.keys.map((k) => k.kid ?? '(no kid)') };
  }
}

function printable(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, 100) : undefined;
}
