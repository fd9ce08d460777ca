import { randomBytes, sign } from 'node:crypto';
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
}

/** Options of the minter. */
export interface MinterOptions {
  issuer: string;
  /** Send the certificate chain as `x5c` (registry 2.8 and 3.x both look there first). */
  includeX5c: boolean;
  now?: () => number;
}

/**
 * Signs registry JWTs with node:crypto directly: jose's SignJWT costs ~5x more per token on
 * the hot path (PERFORMANCE.md). jose still does key handling, the JWKS and verification.
 */
export class TokenMinter {
  private readonly now: () => number;
  private cachedHeader: { key: SigningKey; encoded: string } | undefined;

  constructor(
    private readonly keys: KeyStore,
    private readonly options: MinterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  mint(request: MintRequest): MintedToken {
    const key = this.keys.current();
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const certExp = Math.floor(key.notAfter.getTime() / 1000);
    const exp = Math.min(iat + request.lifetimeSeconds, certExp);
    const jti = randomBytes(16).toString('base64url');
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
    return {
      token: `${signingInput}.${signature.toString('base64url')}`,
      expiresIn: exp - iat,
      issuedAt: new Date(iat * 1000),
      jti,
      kid: key.kid,
    };
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
