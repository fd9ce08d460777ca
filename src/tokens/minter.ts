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
  /** Most bytes the tokens kept for reuse may take (about 700 per token). Default 32 MiB. */
  reuseCacheBytes?: number;
  now?: () => number;
}

/** Default bound of the reuse cache: some 48,000 recent (subject, access) tokens. */
export const DEFAULT_REUSE_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * What is kept of a token for reuse: the payload is rebuilt from the request (the same inputs give
 * the same bytes) and the header belongs to the key, so an entry holds a signature and a few
 * numbers instead of a 2-3 KB token with its certificate chain.
 */
interface Reusable {
  iat: number;
  exp: number;
  jti: string;
  signature: string;
  reuseUntil: number;
}

/** Bytes of a reuse entry besides its strings: the object, its numbers and the LRU's bookkeeping (measured: ~680 in all per entry). */
const REUSE_ENTRY_OVERHEAD = 480;

/**
 * Signs registry JWTs with node:crypto directly: jose's SignJWT costs ~5x more per token on
 * the hot path (PERFORMANCE.md). jose still does key handling, the JWKS and verification.
 */
export class TokenMinter {
  private readonly now: () => number;
  private cachedHeader: { key: SigningKey; encoded: string; epoch: number } | undefined;
  /** Counts signing keys seen, so reuse keys name the key in a few characters. */
  private keyEpoch = 0;
  /**
   * Tokens minted recently, by everything they say. Bounded by bytes, not a count: a fleet's
   * active (subject, access) pairs must fit, or every request past the count signs again.
   */
  private readonly recent: LRUCache<string, Reusable>;

  constructor(
    private readonly keys: KeyStore,
    private readonly options: MinterOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.recent = new LRUCache<string, Reusable>({
      maxSize: options.reuseCacheBytes ?? DEFAULT_REUSE_CACHE_BYTES,
      sizeCalculation: (entry, key) => key.length + entry.signature.length + entry.jti.length + REUSE_ENTRY_OVERHEAD,
    });
  }

  /** Bytes the reuse cache holds now (by its own estimate). */
  reuseCacheBytes(): number {
    return this.recent.calculatedSize;
  }

  mint(request: MintRequest): MintedToken {
    const key = this.keys.current();
    const header = this.header(key);
    const nowMs = this.now();
    const reuseFraction = this.options.reuseFraction ?? 0.1;
    const access = request.access.map((g) =>
      g.class === undefined ? { type: g.type, name: g.name, actions: [...g.actions] } : { type: g.type, class: g.class, name: g.name, actions: [...g.actions] },
    );
    const reuseKey = reuseFraction > 0 ? `${this.cachedHeader!.epoch}\n${request.subject}\n${request.audience}\n${request.lifetimeSeconds}\n${JSON.stringify(access)}` : undefined;
    const seen = reuseKey === undefined ? undefined : this.recent.get(reuseKey);
    if (seen && nowMs < seen.reuseUntil) {
      const token = `${header}.${this.payload(request, access, seen.iat, seen.exp, seen.jti)}.${seen.signature}`;
      return { token, expiresIn: seen.exp - Math.floor(nowMs / 1000), issuedAt: new Date(seen.iat * 1000), jti: seen.jti, kid: key.kid, reused: true };
    }
    const iat = Math.floor(nowMs / 1000);
    const certExp = Math.floor(key.notAfter.getTime() / 1000);
    const exp = Math.min(iat + request.lifetimeSeconds, certExp);
    const jti = randomUUID();
    const signingInput = `${header}.${this.payload(request, access, iat, exp, jti)}`;
    const signature = (
      key.alg === 'ES256'
        ? sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(signingInput), key.privateKey)
    ).toString('base64url');
    if (reuseKey !== undefined) this.recent.set(reuseKey, { iat, exp, jti, signature, reuseUntil: nowMs + (exp - iat) * 1000 * reuseFraction });
    return { token: `${signingInput}.${signature}`, expiresIn: exp - iat, issuedAt: new Date(iat * 1000), jti, kid: key.kid, reused: false };
  }

  /** The encoded claims; the same inputs give the same bytes (a reused token is rebuilt from them). */
  private payload(request: MintRequest, access: unknown, iat: number, exp: number, jti: string): string {
    const claims = { iss: this.options.issuer, sub: request.subject, aud: request.audience, exp, nbf: iat, iat, jti, access };
    return Buffer.from(JSON.stringify(claims)).toString('base64url');
  }

  private header(key: SigningKey): string {
    if (this.cachedHeader?.key !== key) {
      const header: Record<string, unknown> = { typ: 'JWT', alg: key.alg, kid: key.kid };
      if (this.options.includeX5c) header.x5c = key.x5c;
      this.cachedHeader = { key, encoded: Buffer.from(JSON.stringify(header)).toString('base64url'), epoch: ++this.keyEpoch };
    }
    return this.cachedHeader.encoded;
  }
}
