import { randomBytes } from 'node:crypto';
import type { Cache } from '../../cache/cache.js';
import { keyedHash } from '../../cache/keyed-hash.js';
import type { Identity } from '../../domain/identity.js';

/** Prefix of every refresh token, so secret scanners and the authenticator can recognise one. */
export const REFRESH_TOKEN_PREFIX = 'wharf_rt_';

/** What is stored for a refresh token (under a keyed hash of it; the token itself is never stored). */
interface RefreshRecord {
  identity: Identity;
  service: string;
  createdAt: number;
  expiresAt: number;
}

/** Options of the store. */
export interface RefreshTokenStoreOptions {
  cache: Cache;
  hashKey: Buffer;
  /** Maximum age in seconds; use does not extend it. */
  maxAgeSeconds: number;
  now?: () => number;
}

/**
 * Opaque refresh tokens (docker's `identitytoken`), bound to an identity and a service.
 * Not rotated on use: the Docker daemon keeps reusing the one it got at login.
 */
export class RefreshTokenStore {
  private readonly now: () => number;
  private revoked: () => void = () => {};

  /** Called after every revocation (so answers reused for a moment are dropped too). */
  whenRevoked(listener: () => void): void {
    this.revoked = listener;
  }

  constructor(private readonly options: RefreshTokenStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Issues a new refresh token for `identity` on `service`. */
  async issue(identity: Identity, service: string): Promise<string> {
    const token = REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const createdAt = this.now();
    const record: RefreshRecord = { identity, service, createdAt, expiresAt: createdAt + this.options.maxAgeSeconds * 1000 };
    await this.options.cache.set(this.key(token), JSON.stringify(record), this.options.maxAgeSeconds);
    return token;
  }

  /** The identity a live token stands for on `service`, or undefined. */
  async redeem(token: string, service: string): Promise<Identity | undefined> {
    if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 128) return undefined;
    const raw = await this.options.cache.get(this.key(token));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as RefreshRecord;
    if (record.service !== service || record.expiresAt <= this.now()) return undefined;
    return record.identity;
  }

  /** Revokes a token; true when it existed. */
  async revoke(token: string): Promise<boolean> {
    if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 128) return false;
    const key = this.key(token);
    const existed = (await this.options.cache.get(key)) !== undefined;
    await this.options.cache.delete(key);
    this.revoked();
    return existed;
  }

  private key(token: string): string {
    return `rt:${keyedHash(this.options.hashKey, 'refresh', token)}`;
  }
}
