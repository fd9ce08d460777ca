import { hash, randomUUID, sign, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { admits } from '../cache/scan-resistant.js';
import type { Grant } from '../domain/access.js';
import type { KeyStore, SigningKey } from '../keys/keys.js';

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
  /** Most bytes the tokens kept for reuse may take (about 270 per token). Default 16 MiB. */
  reuseCacheBytes?: number;
  now?: () => number;
}

/** Default bound of the reuse cache: some 60,000 recent (subject, access) tokens. */
export const DEFAULT_REUSE_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Bytes of a reuse entry besides its two strings: the string headers, the LRU's slots and the map
 * entry (measured: ~270 in all per entry with a 22-character key and a 134-character value).
 */
const REUSE_ENTRY_OVERHEAD = 120;

/**
 * Signs on the libuv thread pool (node:crypto's sign with a callback): an ES256 signature is the
 * largest single cost of a token request, and there it runs beside the event loop, on another
 * core, instead of on it.
 */
function signOffThread(signingInput: string, key: SigningKey): Promise<Buffer> {
  const privateKey: KeyObject = key.privateKey;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, signature: Buffer) => (err ? reject(err) : resolve(signature));
    if (key.alg === 'ES256') sign('sha256', Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' }, done);
    else sign('sha256', Buffer.from(signingInput), privateKey, done);
  });
}

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
   * Tokens minted recently: a digest of everything they say → `iat.jti.signature`. The payload is
   * rebuilt from the request (the same inputs give the same bytes) and the header belongs to the
   * key, so an entry is ~270 bytes instead of a 2-3 KB token with its certificate chain. Bounded
   * by bytes, not a count: a fleet's active (subject, access) pairs must fit, or past the bound a
   * rotation over them signs every time.
   */
  private readonly recent: LRUCache<string, string>;

  constructor(
    private readonly keys: KeyStore,
    private readonly options: MinterOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.recent = new LRUCache<string, string>({
      maxSize: options.reuseCacheBytes ?? DEFAULT_REUSE_CACHE_BYTES,
      sizeCalculation: (entry, key) => key.length + entry.length + REUSE_ENTRY_OVERHEAD,
    });
  }

  /** Bytes the reuse cache holds now (by its own estimate). */
  reuseCacheBytes(): number {
    return this.recent.calculatedSize;
  }

  async mint(request: MintRequest): Promise<MintedToken> {
    const key = this.keys.current();
    const header = this.header(key);
    const nowMs = this.now();
    const reuseFraction = this.options.reuseFraction ?? 0.1;
    const access = request.access.map((g) =>
      g.class === undefined ? { type: g.type, name: g.name, actions: [...g.actions] } : { type: g.type, class: g.class, name: g.name, actions: [...g.actions] },
    );
    const certExp = Math.floor(key.notAfter.getTime() / 1000);
    // 128 bits of SHA-256: finding two requests with one digest takes some 2^64 hashes.
    const reuseKey =
      reuseFraction > 0
        ? hash('sha256', `${this.cachedHeader!.epoch}\n${request.subject}\n${request.audience}\n${request.lifetimeSeconds}\n${JSON.stringify(access)}`, 'buffer').toString('base64url', 0, 16)
        : undefined;
    const seen = reuseKey === undefined ? undefined : this.recent.get(reuseKey);
    if (seen !== undefined) {
      const [iatText, jti, signature] = seen.split('.') as [string, string, string];
      const iat = Number(iatText);
      const exp = Math.min(iat + request.lifetimeSeconds, certExp);
      if (nowMs < (iat + (exp - iat) * reuseFraction) * 1000) {
        const token = `${header}.${this.payload(request, access, iat, exp, jti)}.${signature}`;
        return { token, expiresIn: exp - Math.floor(nowMs / 1000), issuedAt: new Date(iat * 1000), jti, kid: key.kid, reused: true };
      }
    }
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.min(iat + request.lifetimeSeconds, certExp);
    const jti = randomUUID();
    const payload = this.payload(request, access, iat, exp, jti);
    // The signing input is not kept across the wait (the token is joined anew from its parts):
    // encoding it flattened a 2.3 KB string that then outlived the young generation whenever the
    // thread pool was busy, and the old space filled with them.
    const signature = (await signOffThread(`${header}.${payload}`, key)).toString('base64url');
    // join() makes one flat string; a template would keep a tree of its parts alive.
    if (reuseKey !== undefined) {
      const entry = [iat, jti, signature].join('.');
      if (seen !== undefined || admits(this.recent, reuseKey.length + entry.length + REUSE_ENTRY_OVERHEAD)) this.recent.set(reuseKey, entry);
    }
    return { token: `${header}.${payload}.${signature}`, expiresIn: exp - iat, issuedAt: new Date(iat * 1000), jti, kid: key.kid, reused: false };
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
