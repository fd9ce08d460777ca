import { randomUUID, sign } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Grant } from '../domain/access.js';
import type { KeyStore, SigningKey } from './keys.js';

/** What one minted registry token says. */
export interface MintRequest {
  /** `sub`: the account, empty for anonymous. */
  subject: string;
  /** `aud`: the registry service name (a string: the registry rejects arrays). */
  audience: string;
  access: readonly Grant[];
  /** Requested lifetime in seconds; capped by the signing certificate's expiry. */
  lifetimeSeconds: number;
}

/** A signed token and the times a client needs. */
export interface MintedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
  jti: string;
  /** The signing key's id, for the audit log. */
  kid: string;
  /** True when an identical token minted moments ago was handed out again instead of signing. */
  reused: boolean;
}

/** Options of the minter. */
export interface MinterOptions {
  issuer: string;
  /** Send the certificate chain as `x5c` (registry 2.8 and 3.x both look there first). */
  includeX5c: boolean;
  /**
   * Hand out a token minted for the same subject, audience, access and key again while this
   * share of its lifetime has not passed (0 turns it off). A busy client then costs no signature
   * per request; `expires_in` tells the truth about what is left. Default 0.1.
   */
  reuseFraction?: number;
  now?: () => number;
}

/**
 * Signs registry JWTs with node:crypto directly: jose's SignJWT costs ~5x more per token on
 * the hot path (PERFORMANCE.md). jose still does key handling, the JWKS and verification.
 */
export class TokenMinter {
  private readonly now: () => number;
  private cachedHeader: { key: SigningKey; encoded: string } | undefined;
  private readonly recent = new LRUCache<string, { minted: MintedToken; exp: number; reuseUntil: number }>({ max: 500 });

  constructor(
    private readonly keys: KeyStore,
    private readonly options: MinterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  mint(request: MintRequest): MintedToken {
    const key = this.keys.current();
    const nowMs = this.now();
    const reuseFraction = this.options.reuseFraction ?? 0.1;
    const reuseKey = reuseFraction > 0 ? `${key.kid}\n${request.subject}\n${request.audience}\n${request.lifetimeSeconds}\n${JSON.stringify(request.access)}` : undefined;
    const seen = reuseKey === undefined ? undefined : this.recent.get(reuseKey);
    if (seen && nowMs < seen.reuseUntil) {
      return { ...seen.minted, expiresIn: seen.exp - Math.floor(nowMs / 1000), reused: true };
    }
    const iat = Math.floor(nowMs / 1000);
    const certExp = Math.floor(key.notAfter.getTime() / 1000);
    const exp = Math.min(iat + request.lifetimeSeconds, certExp);
    const jti = randomUUID();
    const payload = {
      iss: this.options.issuer,
      sub: request.subject,
      aud: request.audience,
      exp,
      nbf: iat,
      iat,
      jti,
      access: request.access.map((g) =>
        g.class === undefined
          ? { type: g.type, name: g.name, actions: [...g.actions] }
          : { type: g.type, class: g.class, name: g.name, actions: [...g.actions] },
      ),
    };
    const signingInput = `${this.header(key)}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature =
      key.alg === 'ES256'
        ? sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(signingInput), key.privateKey);
    const minted: MintedToken = {
      token: `${signingInput}.${signature.toString('base64url')}`,
      expiresIn: exp - iat,
      issuedAt: new Date(iat * 1000),
      jti,
      kid: key.kid,
      reused: false,
    };
    if (reuseKey !== undefined) this.recent.set(reuseKey, { minted, exp, reuseUntil: nowMs + (exp - iat) * 1000 * reuseFraction });
    return minted;
  }

  private header(key: SigningKey): string {
    if (this.cachedHeader?.key !== key) {
      const header: Record<string, unknown> = { typ: 'JWT', alg: key.alg, kid: key.kid };
      if (this.options.includeX5c) header.x5c = key.x5c;
      this.cachedHeader = { key, encoded: Buffer.from(JSON.stringify(header)).toString('base64url') };
    }
    return this.cachedHeader.encoded;
  }
}
