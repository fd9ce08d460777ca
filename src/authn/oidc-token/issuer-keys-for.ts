import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { UpstreamObserver } from '../../upstream/upstream-client.js';
import { upstreamClient } from '../../upstream/upstream-settings.js';
import { HttpJwksSource } from './http-jwks-source.js';
import { IssuerKeys } from './issuer-keys.js';
import { FileJwksSource, inlineJwksSource } from './jwks-source.js';
import type { OidcTokenAuthnConfig, OidcTokenIssuerConfig } from './oidc-token-config.js';

/** What building an issuer's keys needs. */
export interface IssuerKeysDeps {
  logger: Logger;
  now: () => number;
  /** Told about every discovery and JWKS request (the `wharf_upstream_*` metrics). */
  upstreamObserver?: UpstreamObserver | undefined;
}

/** One issuer's keys, and what to release at shutdown (its own connection pool, when it has a CA bundle). */
export interface BuiltIssuerKeys {
  readonly keys: IssuerKeys;
  close(): Promise<void>;
}

/**
 * Builds the keys of one configured issuer from whichever source it names: `jwks` (the config),
 * `jwksFile`, `jwksUri`, or discovery; HTTP sources with the issuer's `caFile` and
 * `bearerTokenFile`. Reads the CA bundle, the JWKS file and the bearer token now: a file that is
 * missing or wrong stops start-up with an Error naming it (never its contents).
 */
export function issuerKeysFor(issuer: OidcTokenIssuerConfig, config: OidcTokenAuthnConfig, deps: IssuerKeysDeps): BuiltIssuerKeys {
  const common = { issuer: issuer.issuer, cacheMs: config.jwksCacheSeconds * 1000, maxStaleMs: config.jwksMaxStaleSeconds * 1000, now: deps.now, logger: deps.logger };
  if (issuer.jwks) return { keys: new IssuerKeys({ ...common, source: inlineJwksSource(issuer.jwks) }), close: async () => undefined };
  if (issuer.jwksFile) {
    const source = new FileJwksSource(issuer.jwksFile, issuer.issuer, deps.logger);
    return { keys: new IssuerKeys({ ...common, source, initial: source.initial() }), close: async () => undefined };
  }
  const dispatcher = issuer.caFile === undefined ? undefined : new Agent({ connect: { ca: readCaBundle(issuer.caFile) } });
  const upstream = upstreamClient(`oidc-token ${issuer.issuer}`, config, { now: deps.now, observer: deps.upstreamObserver, ...(dispatcher ? { dispatcher } : {}) });
  const bearerFile = issuer.bearerTokenFile;
  // Read now too: a missing token file stops start-up instead of failing the first pull.
  if (bearerFile !== undefined) readBearerToken(bearerFile);
  const source = new HttpJwksSource({
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    discoveryCacheMs: common.cacheMs,
    upstream,
    bearerToken: bearerFile === undefined ? undefined : () => readBearerToken(bearerFile),
    now: deps.now,
    logger: deps.logger,
  });
  return { keys: new IssuerKeys({ ...common, source }), close: async () => dispatcher?.close() };
}

/** Reads a PEM CA bundle; throws naming the file when it is missing or holds no certificate. */
function readCaBundle(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`oidc-token caFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`oidc-token caFile: ${file} holds no PEM certificate`);
  return pem;
}

/**
 * The bearer token in `file`, read at every fetch: a projected service-account token is rewritten
 * by the kubelet before it expires. Errors name the file, never its contents.
 */
function readBearerToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`bearerTokenFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  // A header value cannot hold a line break; an empty one would be sent as "Bearer ".
  if (token === '' || /[\r\n]/.test(token)) throw new Error(`bearerTokenFile: ${file} holds no single-line token`);
  return token;
}
