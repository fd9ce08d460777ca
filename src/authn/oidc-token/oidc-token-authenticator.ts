import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose';
import type { Logger } from 'pino';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { UpstreamObserver } from '../../upstream/upstream-client.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import type { IssuerKeys } from './issuer-keys.js';
import { issuerKeysFor } from './issuer-keys-for.js';
import { kubernetesFacts, kubernetesGroups } from './kubernetes-claims.js';
import type { OidcTokenAuthnConfig, OidcTokenIssuerConfig } from './oidc-token-config.js';
import { TrustRules } from './trust-rules.js';

/** Dependencies of the OIDC-token backend. */
export interface OidcTokenDeps {
  logger: Logger;
  /** Clock in ms; drives token times and JWKS caching. Default Date.now. */
  now?: () => number;
  /** Told about every discovery and JWKS request (metrics). */
  upstreamObserver?: UpstreamObserver | undefined;
}

/** A compact JWS: three base64url parts; the signature may be empty (so `alg: none` is judged, not passed on). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Longest password looked at as an ID token; CI ID tokens are 1-3 KB. */
const MAX_TOKEN_LENGTH = 16 * 1024;

interface TrustedIssuer {
  readonly config: OidcTokenIssuerConfig;
  readonly keys: IssuerKeys;
  readonly verifyOptions: JWTVerifyOptions;
}

/**
 * OIDC ID tokens as passwords: the token of a CI job (GitHub Actions, GitLab CI...) or of any
 * trusted issuer, verified against the issuer's JWKS and mapped to an account by trust rules.
 * The identity carries `expiresAt` (the token's `exp`) so no registry token outlives it, and
 * `claims` (what the rule looked at) for the audit log.
 */
export class OidcTokenAuthenticator implements PasswordAuthenticator {
  readonly type = 'oidc-token';
  // No refresh(): an ID token lives minutes; a Wharf refresh token would turn it into a months-long credential.
  private readonly issuers = new Map<string, TrustedIssuer>();
  private readonly rules: TrustRules;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(config: OidcTokenAuthnConfig, deps: OidcTokenDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'oidc-token' });
    this.rules = new TrustRules(config.rules);
    for (const issuer of config.issuers) {
      const { keys, close } = issuerKeysFor(issuer, config, { logger: this.log, now: this.now, upstreamObserver: deps.upstreamObserver });
      this.closers.push(close);
      this.issuers.set(issuer.issuer, {
        config: issuer,
        keys,
        verifyOptions: {
          issuer: issuer.issuer,
          audience: issuer.audiences,
          algorithms: issuer.algorithms,
          clockTolerance: issuer.clockToleranceSeconds,
          requiredClaims: ['exp', 'sub'],
        },
      });
    }
  }

  /**
   * ID tokens are verified every time (there is no record of past verifications): this only tells
   * a password that is not a token of a trusted issuer, so later backends can still be recalled.
   */
  async recall(_username: string, password: string, _context: LoginContext): Promise<AuthnResult | undefined> {
    if (password.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(password)) return { kind: 'no_match' };
    let iss: unknown;
    try {
      iss = decodeJwt(password).iss;
    } catch {
      return { kind: 'no_match' };
    }
    return typeof iss === 'string' && this.issuers.has(iss) ? undefined : { kind: 'no_match' };
  }

  async login(_username: string, password: string, _context: LoginContext): Promise<AuthnResult> {
    if (password.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(password)) return { kind: 'no_match' };
    let header: ProtectedHeaderParameters;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(password);
      unverified = decodeJwt(password);
    } catch {
      return { kind: 'no_match' };
    }
    const issuer = typeof unverified.iss === 'string' ? this.issuers.get(unverified.iss) : undefined;
    if (!issuer) {
      // Someone else's JWT (another backend may know it). Named here because "why is my GitLab
      // token refused" starts with "which issuer did it claim".
      this.log.debug({ event: 'oidc_token_untrusted_issuer', iss: typeof unverified.iss === 'string' ? unverified.iss.slice(0, 200) : undefined }, 'JWT from an issuer not configured; passing on');
      return { kind: 'no_match' };
    }

    const algProblem = this.algorithmProblem(header.alg, issuer.config);
    if (algProblem) return { kind: 'denied', reason: algProblem };

    let payload: JWTPayload;
    try {
      payload = await this.verify(password, issuer);
    } catch (err) {
      if (err instanceof TemporarilyUnavailableError) throw err;
      return { kind: 'denied', reason: this.describe(err, header, unverified, issuer.config) };
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') return { kind: 'denied', reason: 'the ID token’s "sub" claim is not a non-empty string' };
    const issuedLater = this.issuedInTheFuture(payload, issuer.config);
    if (issuedLater) return { kind: 'denied', reason: issuedLater };
    const kubernetes = kubernetesFacts(payload);
    if (kubernetes && 'error' in kubernetes) return { kind: 'denied', reason: kubernetes.error };

    const outcome = this.rules.evaluate(payload);
    if (outcome.kind === 'no_rule') return { kind: 'denied', reason: outcome.reason };
    const expiresAt = payload.exp as number; // required and type-checked by jwtVerify
    const attributes: Record<string, unknown> = {
      issuer: payload.iss,
      audience: this.matchedAudience(payload, issuer.config),
      claims: outcome.claims,
      rule: outcome.rule,
      expiresAt,
    };
    if (typeof payload.jti === 'string') attributes.jti = payload.jti;
    if (outcome.namespace !== undefined) attributes.namespace = outcome.namespace;
    const cluster = issuer.config.cluster;
    const facts = kubernetes && (cluster === undefined ? kubernetes.facts : { ...kubernetes.facts, cluster });
    if (facts) {
      // Named as Kubernetes names them, so ACL `group` rules read like RBAC bindings; prefixed with
      // the cluster's name when the issuer has one.
      attributes.kubernetes = facts;
      attributes.groups = kubernetesGroups(facts, cluster);
    }
    if (outcome.pull) attributes.pull = outcome.pull;
    this.log.info(
      {
        event: 'oidc_token_login',
        issuer: payload.iss,
        subject: payload.sub,
        account: outcome.account,
        rule: outcome.rule,
        claims: outcome.claims,
        expiresAt,
        ...(facts ? { kubernetes: facts } : {}),
        ...(outcome.pull ? { pull: outcome.pull } : {}),
      },
      'ID token accepted',
    );
    // Trust rules map many workloads (subjects) of one issuer to an account: the issuer owns it,
    // or, with the rule's `owner`, the issuer's owner of that claim value (a namespace).
    const source = `oidc-token:${String(payload.iss)}`;
    const owner = outcome.owner === undefined ? { source } : { source, subject: outcome.owner };
    const identity: Identity = { account: outcome.account, provider: this.type, subject: payload.sub, attributes, owner };
    // A rule's `pull` is a ceiling like a credential's scope: pull only, on those repositories.
    return outcome.pull ? { kind: 'ok', identity, scope: [{ repositories: outcome.pull, actions: ['pull'] }] } : { kind: 'ok', identity };
  }

  /** Releases the connection pools of issuers with their own CA bundle. */
  async close(): Promise<void> {
    await Promise.all(this.closers.map((close) => close()));
  }

  /**
   * jose checks `iat` only against a maximum age; a token stamped later than now (beyond the
   * tolerance) was minted by a clock that is wrong, or minted ahead to be used later: refused.
   */
  private issuedInTheFuture(payload: JWTPayload, issuer: OidcTokenIssuerConfig): string | undefined {
    if (typeof payload.iat !== 'number') return undefined;
    const ahead = payload.iat - Math.floor(this.now() / 1000);
    if (ahead <= issuer.clockToleranceSeconds) return undefined;
    return `the ID token was issued at ${new Date(payload.iat * 1000).toISOString()}, ${ahead} s in the future (clock tolerance ${issuer.clockToleranceSeconds} s)`;
  }

  private algorithmProblem(alg: unknown, issuer: OidcTokenIssuerConfig): string | undefined {
    if (typeof alg !== 'string' || alg === '') return 'the ID token header has no "alg"';
    if (alg.toLowerCase() === 'none') return 'the ID token is unsigned (alg "none"), which is never accepted';
    if (/^HS/i.test(alg)) return `the ID token uses ${alg}, a shared-secret algorithm, which is never accepted for ID tokens`;
    if (!(issuer.algorithms as readonly string[]).includes(alg)) {
      return `algorithm ${JSON.stringify(alg.slice(0, 20))} is not allowed for issuer ${issuer.issuer} (allowed: ${issuer.algorithms.join(', ')})`;
    }
    return undefined;
  }

  private async verify(token: string, issuer: TrustedIssuer): Promise<JWTPayload> {
    const options: JWTVerifyOptions = { ...issuer.verifyOptions, currentDate: new Date(this.now()) };
    try {
      return (await jwtVerify(token, (h, t) => issuer.keys.getKey(h, t), options)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      // A header without `kid` that fits several keys: try each (jose's documented pattern).
      for await (const key of err) {
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  /** A precise, log-only reason (clients see "invalid username or password"). */
  private describe(err: unknown, header: ProtectedHeaderParameters, unverified: JWTPayload, issuer: OidcTokenIssuerConfig): string {
    const kid = typeof header.kid === 'string' ? JSON.stringify(header.kid.slice(0, 100)) : '(none)';
    const nowSeconds = Math.floor(this.now() / 1000);
    if (err instanceof errors.JWTExpired) {
      const exp = typeof unverified.exp === 'number' ? unverified.exp : undefined;
      return exp === undefined
        ? 'the ID token has expired'
        : `the ID token expired at ${new Date(exp * 1000).toISOString()}, ${nowSeconds - exp} s ago (clock tolerance ${issuer.clockToleranceSeconds} s)`;
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.reason === 'missing') return `the ID token has no "${err.claim}" claim`;
      switch (err.claim) {
        case 'aud':
          return `audience ${JSON.stringify(unverified.aud)} is not accepted for issuer ${issuer.issuer} (accepted: ${issuer.audiences.join(', ')})`;
        case 'nbf':
          return `the ID token is not valid before ${new Date(Number(unverified.nbf) * 1000).toISOString()} (clock tolerance ${issuer.clockToleranceSeconds} s)`;
        case 'iss':
          return `issuer ${JSON.stringify(unverified.iss)} is not ${issuer.issuer}`;
        default:
          return `the ID token's "${err.claim}" claim is invalid: ${err.message}`;
      }
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      return `the ID token's signature does not verify with the issuer's key ${kid}: forged, tampered with, or signed by another key`;
    }
    if (err instanceof errors.JWKSNoMatchingKey) {
      return `no key in the JWKS of ${issuer.issuer} matches kid ${kid} and alg ${String(header.alg)} (known kids: ${this.issuers.get(issuer.issuer)?.keys.cachedKids().join(', ') || 'none'})`;
    }
    if (err instanceof errors.JOSEAlgNotAllowed) return `algorithm ${String(header.alg)} is not allowed for issuer ${issuer.issuer}`;
    if (err instanceof errors.JOSEError) return `the ID token is malformed or unusable (${err.code}: ${err.message})`;
    // jose throws TypeError for keys it refuses (e.g. an RSA modulus under 2048 bits).
    this.log.warn({ event: 'oidc_token_verify_error', issuer: issuer.issuer, err }, 'unexpected error verifying an ID token; denying');
    return `the ID token could not be verified (${err instanceof Error ? err.message : String(err)})`;
  }

  private matchedAudience(payload: JWTPayload, issuer: OidcTokenIssuerConfig): string | undefined {
    const auds = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    return issuer.audiences.find((a) => auds.includes(a));
  }
}
