import { hash, randomUUID } from 'node:crypto';
import type { Grant } from '../domain/access.js';
import type { KeyStore, SigningKey } from '../keys/keys.js';
import { BatchSigner, type KeyHeader } from './batch-signer.js';
import { ReuseTable } from './reuse-table.js';

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
  /** When it was issued (`iat`), in ISO 8601, as answers carry it (`issued_at`). */
  issuedAtText: string;
  jti: string;
  /** The signing key's id, for the audit log. */
  kid: string;
  /** True when an identical token minted moments ago was handed out again instead of signing. */
  reused: boolean;
  /**
   * The token in parts, for an answer whose bytes are written once: `header.` as bytes (the key's,
   * made once: most of a token with its certificate chain), then the payload and the signature
   * (base64url, joined by a dot), each a flat string of its own, so writing them copies nothing.
   */
  headerDot: Buffer;
  payload: string;
  signature: string;
}

/** The current key's header: encoded, as the bytes `header.` (the signer's and each answer's), and the key's epoch. */
interface TokenHeader extends KeyHeader {
  readonly encoded: string;
  readonly epoch: number;
}

/** A token's claims besides its times and jti, as the JSON its payload carries (see TokenMinter.claims). */
interface Claims {
  who: string;
  access: string;
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
  /**
   * Bytes of the table of tokens kept for reuse, taken off the V8 heap (104 per ES256 token, 40
   * plus the signature for RS256). Default 16 MiB.
   */
  reuseCacheBytes?: number;
  now?: () => number;
}

/** Issue times whose ISO text the minter keeps at once. */
const MAX_ISO_TEXTS = 512;

/** Default size of the reuse table: some 161,000 recent (subject, access) ES256 tokens. */
export const DEFAULT_REUSE_CACHE_BYTES = 16 * 1024 * 1024;

/** Bytes of a signature by this key: ES256 in ieee-p1363 form, r and s; RS256 the modulus. */
function signatureBytesOf(key: SigningKey): number {
  if (key.alg === 'ES256') return 64;
  return Math.ceil((key.privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

/**
 * Signs registry JWTs with node:crypto directly: jose's SignJWT costs ~5x more per token on
 * the hot path (PERFORMANCE.md). jose still does key handling, the JWKS and verification.
 */
export class TokenMinter {
  private readonly now: () => number;
  /** The issuer as a JSON string, encoded once. */
  private readonly issuerJson: string;
  private readonly reuseFraction: number;
  /** One object per key, which also names the key and its header to the signer. */
  private cachedHeader: TokenHeader | undefined;
  /** Counts signing keys seen, so reuse keys name the key in a few characters. */
  private keyEpoch = 0;
  /**
   * Tokens minted recently: a digest of everything they say → iat, jti and signature. The payload
   * is rebuilt from the request (the same inputs give the same bytes) and the header belongs to
   * the key, so a token is 104 bytes instead of a 2-3 KB token with its certificate chain. Sized
   * in bytes, not a count: a fleet's active (subject, access) pairs must fit, or past the bound a
   * rotation over them signs for the share that does not. Absent when reuse is off.
   */
  private readonly recent: ReuseTable | undefined;
  /** Signs in batches on a thread of its own. */
  private readonly signer = new BatchSigner();
  /**
   * `iat` (seconds) → its ISO text: tokens handed out in one stretch were issued within the last
   * reuse window, a few dozen seconds, and formatting a date was half a microsecond per answer.
   */
  private readonly isoTexts = new Map<number, string>();

  constructor(
    private readonly keys: KeyStore,
    private readonly options: MinterOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.issuerJson = JSON.stringify(options.issuer);
    this.reuseFraction = options.reuseFraction ?? 0.1;
    this.recent = this.reuseFraction > 0 ? new ReuseTable(options.reuseCacheBytes ?? DEFAULT_REUSE_CACHE_BYTES) : undefined;
  }

  /** Stops the signing thread (shutdown); a later token starts it again. */
  close(): Promise<void> {
    return this.signer.close();
  }

  /** Bytes the reuse table takes (allocated whole at start; 0 with reuse off). */
  reuseCacheBytes(): number {
    return this.recent?.bytes ?? 0;
  }

  async mint(request: MintRequest): Promise<MintedToken> {
    const key = this.keys.current();
    // This token's key and header, held across the signing wait: a key rotated meanwhile must not
    // lend the answer its own header.
    const header = this.header(key);
    const nowMs = this.now();
    const reuseFraction = this.reuseFraction;
    const certExp = Math.floor(key.notAfter.getTime() / 1000);
    const recent = this.recent;
    // What the token says besides its times and jti, as the JSON its payload carries: written once,
    // it names the token in the reuse table and ends its payload.
    const claims = this.claims(request);
    // The reuse lookup comes first: a busy fleet's token is mostly reused, and then nothing else is
    // built but the payload it carries. A miss allocates the digest (a 32-char string) and nothing more.
    const digest = recent === undefined ? undefined : this.reuseDigest(header, request, claims);
    const slot = recent === undefined || digest === undefined ? -1 : recent.find(digest);
    if (recent !== undefined && slot >= 0) {
      const iat = recent.iat(slot);
      const exp = Math.min(iat + request.lifetimeSeconds, certExp);
      if (nowMs < (iat + (exp - iat) * reuseFraction) * 1000) {
        const jti = recent.jti(slot);
        const payload = this.payload(claims, iat, exp, jti);
        const signature = recent.signature(slot);
        return { token: `${header.encoded}.${payload}.${signature}`, expiresIn: exp - Math.floor(nowMs / 1000), issuedAtText: this.isoText(iat), jti, kid: key.kid, reused: true, headerDot: header.bytes, payload, signature };
      }
    }
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.min(iat + request.lifetimeSeconds, certExp);
    const jti = randomUUID();
    const payload = this.payload(claims, iat, exp, jti);
    // Only the payload goes to the signer: the thread holds the key's header and signs the two
    // joined, so no signing input is built here per token. The signature comes back as the text the
    // token carries.
    const signature = await this.signer.sign(header, payload);
    // Rounded up, so a slot is never given away while its token may still be handed out.
    if (recent !== undefined && digest !== undefined) recent.store(digest, iat, Math.ceil(iat + (exp - iat) * reuseFraction), jti, signature, Math.floor(this.now() / 1000));
    return { token: `${header.encoded}.${payload}.${signature}`, expiresIn: exp - iat, issuedAtText: this.isoText(iat), jti, kid: key.kid, reused: false, headerDot: header.bytes, payload, signature };
  }

  /**
   * Names everything a token says besides its times and jti: the key (by epoch), the lifetime and
   * the claims' JSON (subject, audience and access, as the payload carries them: JSON strings
   * are quoted and escaped, so no text can shift a boundary), hashed to bound the slot. The table
   * compares 128 bits of SHA-256, so finding two requests with one name takes some 2^64 hashes.
   * The epoch keeps a new key from handing out a token the old one signed.
   */
  private reuseDigest(header: TokenHeader, request: MintRequest, claims: Claims): string {
    return hash('sha256', `${header.epoch}\n${request.lifetimeSeconds}\n${claims.who}\n${claims.access}`, 'binary');
  }

  /**
   * The claims besides times and jti, as JSON, in the order JSON.stringify gave them: `who` is
   * `"sub":…,"aud":…` and `access` is `"access":[…]}` (the payload's end). Written out without a
   * claims object or a copy of the access: this runs for every token handed out, reused or new.
   */
  private claims(request: MintRequest): Claims {
    let access = '"access":[';
    let first = true;
    for (const g of request.access) {
      access += `${first ? '' : ','}{"type":${JSON.stringify(g.type)},${g.class === undefined ? '' : `"class":${JSON.stringify(g.class)},`}"name":${JSON.stringify(g.name)},"actions":${JSON.stringify(g.actions)}}`;
      first = false;
    }
    return { who: `"sub":${JSON.stringify(request.subject)},"aud":${JSON.stringify(request.audience)}`, access: `${access}]}` };
  }

  /** The encoded payload; the same inputs give the same bytes (a reused token is rebuilt from them). */
  private payload(claims: Claims, iat: number, exp: number, jti: string): string {
    return Buffer.from(`{"iss":${this.issuerJson},${claims.who},"exp":${exp},"nbf":${iat},"iat":${iat},"jti":"${jti}",${claims.access}`).toString('base64url');
  }

  private isoText(iat: number): string {
    let text = this.isoTexts.get(iat);
    if (text === undefined) {
      // Bounded: past a few hundred seconds (a long reuse window, a clock jump) it starts over.
      if (this.isoTexts.size >= MAX_ISO_TEXTS) this.isoTexts.clear();
      text = new Date(iat * 1000).toISOString();
      this.isoTexts.set(iat, text);
    }
    return text;
  }

  private header(key: SigningKey): TokenHeader {
    if (this.cachedHeader?.key !== key) {
      const header: Record<string, unknown> = { typ: 'JWT', alg: key.alg, kid: key.kid };
      if (this.options.includeX5c) header.x5c = key.x5c;
      const encoded = Buffer.from(JSON.stringify(header)).toString('base64url');
      this.cachedHeader = { key, encoded, bytes: Buffer.from(`${encoded}.`, 'latin1'), epoch: ++this.keyEpoch };
      this.recent?.useSignatureBytes(signatureBytesOf(key));
    }
    return this.cachedHeader;
  }
}
