import type { Logger } from 'pino';
import type { Cache } from '../../cache/cache.js';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import { UpstreamClient, UpstreamError, type UpstreamResponse } from '../../upstream/upstream-client.js';
import { upstreamClient } from '../../upstream/upstream-settings.js';
import { VerifiedCredentials } from '../verified-credentials.js';
import type { ProviderTokenCommonConfig } from './provider-token-config.js';

/**
 * What a provider said about a token, as cached: the provider's facts, never the token.
 * `expiresAt` (unix seconds) caps the cache entry and ends a valid verdict.
 */
export type ProviderVerdict<F> = { readonly valid: false; readonly reason: string } | { readonly valid: true; readonly facts: F; readonly expiresAt?: number };

/** Dependencies shared by the provider-token backends. */
export interface ProviderTokenDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  now?: () => number;
}

/** Options of one verifier. */
export interface ProviderTokenVerifierOptions {
  /** The backend type: part of the cache key and the log scope. */
  type: string;
  /** The provider endpoint the answers come from: part of the cache key, so GitHub.com and an Enterprise server never share entries. */
  endpoint: string;
  config: ProviderTokenCommonConfig;
}

/**
 * The one core under the provider-token backends (openauth's "thin providers over one core"):
 * a cache of verdicts under a keyed hash of the token, one upstream call for concurrent checks
 * of the same token, and HTTP that fails closed with 503 (never 401) when the provider cannot
 * answer. Each backend supplies only how to ask its provider and what the answer means.
 */
export class ProviderTokenVerifier<F> {
  readonly log: Logger;
  private readonly upstream: UpstreamClient;
  /** Verdicts: valid ones for `cacheSeconds` (never past `expiresAt`), refusals for `negativeCacheSeconds`. */
  private readonly verified: VerifiedCredentials<ProviderVerdict<F>, Extract<ProviderVerdict<F>, { valid: true }>>;
  private readonly now: () => number;

  constructor(
    private readonly options: ProviderTokenVerifierOptions,
    deps: ProviderTokenDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: options.type });
    this.verified = new VerifiedCredentials({
      cache: deps.cache,
      hashKey: deps.hashKey,
      prefix: 'ptok:',
      scope: [options.type, options.endpoint],
      accepted: (verdict): verdict is Extract<ProviderVerdict<F>, { valid: true }> => verdict.valid,
      acceptedSeconds: options.config.cacheSeconds,
      refusedSeconds: options.config.negativeCacheSeconds,
      expiresAt: (verdict) => verdict.expiresAt,
      now: this.now,
    });
    this.upstream = upstreamClient(options.type, options.config, { now: this.now });
  }

  circuitState() {
    return this.upstream.circuitState();
  }

  /** The cache key of a token's verdict. */
  cacheKey(token: string): string {
    return this.verified.key([token]);
  }

  /**
   * The verdict on `token`: cached, or from `ask` (once for all concurrent callers). A cached
   * valid verdict that `usable` rejects (e.g. it lacks facts this instance needs) is asked again.
   */
  async verdict(token: string, ask: () => Promise<ProviderVerdict<F>>, usable: (verdict: ProviderVerdict<F>) => boolean = () => true): Promise<ProviderVerdict<F>> {
    const verdict = await this.verified.verdict([token], ask, usable);
    if (verdict.valid && verdict.expiresAt !== undefined && verdict.expiresAt * 1000 <= this.now()) {
      return { valid: false, reason: `the token expired at ${new Date(verdict.expiresAt * 1000).toISOString()}` };
    }
    return verdict;
  }

  /**
   * A valid verdict on `token` from the cache alone (no call to the provider), if `usable` and
   * not expired; undefined otherwise.
   */
  async cachedValid(token: string, usable: (verdict: ProviderVerdict<F>) => boolean = () => true): Promise<Extract<ProviderVerdict<F>, { valid: true }> | undefined> {
    return this.verified.recall([token], usable);
  }

  /** A GET to the provider; see `send`. */
  async get(url: string, headers: Record<string, string>, what: string): Promise<UpstreamResponse> {
    return this.send(url, { method: 'GET', headers }, what);
  }

  /** A POST to the provider; see `send`. */
  async post(url: string, headers: Record<string, string>, body: string, what: string): Promise<UpstreamResponse> {
    return this.send(url, { method: 'POST', headers, body }, what);
  }

  /**
   * A call to the provider. Connection failures, timeouts, 5xx and an open circuit become 503;
   * any other status is the caller's to interpret. The URL is never logged (it may carry the token).
   */
  private async send(url: string, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }, what: string): Promise<UpstreamResponse> {
    try {
      return await this.upstream.request(url, { ...init, headers: { 'user-agent': 'wharf', ...init.headers } });
    } catch (err) {
      const failure = err instanceof UpstreamError ? err.failure : 'error';
      this.log.warn({ event: 'provider_unavailable', what, failure }, `${what} failed: ${err instanceof UpstreamError ? err.message : 'unexpected error'}; refusing with 503 (fail closed)`);
      throw new TemporarilyUnavailableError(`${this.options.type}: the provider cannot be reached; try again shortly`, { cause: err });
    }
  }

  /** Parses a JSON answer, or fails closed (503) naming what was wrong. */
  json(response: UpstreamResponse, what: string): unknown {
    if (!/\bjson\b/i.test(response.contentType)) return this.unusable(`${what} answered ${response.status} with content type ${JSON.stringify(response.contentType.slice(0, 60))}, not JSON`);
    try {
      return JSON.parse(response.body) as unknown;
    } catch {
      return this.unusable(`${what} answered ${response.status} with a body that is not JSON`);
    }
  }

  /** The provider answered something Wharf cannot use: log it and refuse with 503. */
  unusable(why: string): never {
    this.log.warn({ event: 'provider_garbage' }, `${why}; refusing with 503 (fail closed)`);
    throw new TemporarilyUnavailableError(`${this.options.type}: the provider gave an unusable answer; try again shortly`);
  }
}
