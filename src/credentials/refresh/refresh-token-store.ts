import { randomBytes } from 'node:crypto';
import { keyedHash } from '../../crypto/keyed-hash.js';
import type { Identity } from '../../domain/identity.js';
import type { Store } from '../../store/store.js';
import type { Provenance } from '../../authn/authenticator.js';

/** Prefix of every refresh token, so secret scanners and the authenticator can recognise one. */
export const REFRESH_TOKEN_PREFIX = 'wharf_rt_';

/** What is stored for a refresh token (under a keyed hash of it; the token itself is never stored). */
interface RefreshRecord {
  identity: Identity;
  service: string;
  createdAt: number;
  expiresAt: number;
  /** Every token made from one primary login, directly or from another of them. */
  family: string;
  /** The backend's binding of the login (see Provenance.binding). */
  binding?: string;
}

/** A redeemed refresh token: the identity it was issued for, and what a token made from it inherits. */
export interface RedeemedRefreshToken {
  identity: Identity;
  provenance: Provenance & { family: { id: string; expiresAt: number } };
}

/** Options of the store. */
export interface RefreshTokenStoreOptions {
  store: Store;
  hashKey: Buffer;
  /** Maximum age in seconds of a family (a primary login and every token made from it); use does not extend it. */
  maxAgeSeconds: number;
  now?: () => number;
}

/**
 * Opaque refresh tokens (docker's `identitytoken`), bound to an identity, a service and the
 * credential of the primary login they came from. Kept in the Store: a restart keeps them, and a
 * revocation either is recorded or fails with 503. Not rotated on use: the Docker daemon keeps
 * reusing the one it got at login. A token made from another (a refresh token used as a password
 * with offline access) joins its family: it ends when the family does, and revoking any token of
 * a family revokes them all.
 */
export class RefreshTokenStore {
  private readonly now: () => number;
  private revoked: () => void = () => {};

  /** Called after every revocation of a live token (so answers reused for a moment are dropped too). */
  whenRevoked(listener: () => void): void {
    this.revoked = listener;
  }

  constructor(private readonly options: RefreshTokenStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Issues a refresh token for `identity` on `service`, in the family of `provenance` when it has one, else in a new one. */
  async issue(identity: Identity, service: string, provenance: Provenance = {}): Promise<string> {
    const createdAt = this.now();
    const family = provenance.family ?? { id: randomBytes(16).toString('base64url'), expiresAt: createdAt + this.options.maxAgeSeconds * 1000 };
    const ttl = Math.ceil((family.expiresAt - createdAt) / 1000);
    if (ttl <= 0) throw new Error('refresh token family already ended');
    const { store } = this.options;
    if (!provenance.family) await store.put(this.familyKey(family.id), String(family.expiresAt), ttl);
    const token = REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const record: RefreshRecord = {
      identity,
      service,
      createdAt,
      expiresAt: family.expiresAt,
      family: family.id,
      ...(provenance.binding !== undefined ? { binding: provenance.binding } : {}),
    };
    await store.put(this.key(token), JSON.stringify(record), ttl);
    return token;
  }

  /** What a live token stands for on `service`, or undefined (unknown, expired, revoked, family revoked, other service). */
  async redeem(token: string, service: string): Promise<RedeemedRefreshToken | undefined> {
    if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 128) return undefined;
    const raw = await this.options.store.get(this.key(token));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as RefreshRecord;
    if (record.service !== service || record.expiresAt <= this.now()) return undefined;
    if ((await this.options.store.get(this.familyKey(record.family))) === undefined) return undefined;
    const family = { id: record.family, expiresAt: record.expiresAt };
    return { identity: record.identity, provenance: { family, ...(record.binding !== undefined ? { binding: record.binding } : {}) } };
  }

  /**
   * Revokes a token and its whole family; true when it was live. Throws TemporarilyUnavailableError
   * when the store cannot record it, so a revocation is never reported that could later revert.
   * Only a live token's revocation is announced: anyone may post unknown tokens, and each
   * announcement makes every replica decide its clients' requests anew.
   */
  async revoke(token: string): Promise<boolean> {
    if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 128) return false;
    const key = this.key(token);
    const raw = await this.options.store.get(key);
    if (!raw) return false;
    const record = JSON.parse(raw) as RefreshRecord;
    // The family first: once it is gone, no token of it redeems, whatever happens next.
    const live = await this.options.store.delete(this.familyKey(record.family));
    await this.options.store.delete(key);
    if (live) this.revoked();
    return live;
  }

  private key(token: string): string {
    return `rt:${keyedHash(this.options.hashKey, 'refresh', token)}`;
  }

  private familyKey(family: string): string {
    return `rtfam:${family}`;
  }
}
