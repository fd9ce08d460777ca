import { randomBytes } from 'node:crypto';
import type { Cache } from '../../cache/cache.js';
import { keyedHash } from '../../cache/keyed-hash.js';
import type { Identity } from '../../domain/identity.js';

/** Prefix of registry credentials handed out by browser and device logins. */
export const CREDENTIAL_PREFIX = 'wharf_cr_';

/** A registry credential as stored (under a keyed hash of its secret; the secret is never stored). */
export interface CredentialRecord {
  id: string;
  identity: Identity;
  label: string;
  source: 'browser' | 'device';
  createdAt: number;
  expiresAt: number;
  /** The login provider's sealed access token, to re-check the identity; and when it last was. */
  upstream?: { provider: string; sealed: string; validatedAt: number };
}

/** What the account page lists. */
export interface CredentialSummary extends Omit<CredentialRecord, 'identity' | 'upstream'> {
  account: string;
  lastUsedAt: number | undefined;
}

/** Options of the store. */
export interface CredentialStoreOptions {
  cache: Cache;
  hashKey: Buffer;
  /** Upper bound on any credential's lifetime, in seconds (also the index's TTL). */
  maxLifetimeSeconds: number;
  now?: () => number;
}

// Recording every use would be a cache write per token request; once a minute is enough to show "last used".
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Opaque, revocable registry credentials with an expiry, owned by Wharf rather than the IdP
 * session: they outlive the provider's session and refresh token but not their own maximum age.
 */
export class CredentialStore {
  private readonly now: () => number;
  private revoked: () => void = () => {};

  /** Called after every revocation (so answers reused for a moment are dropped too). */
  whenRevoked(listener: () => void): void {
    this.revoked = listener;
  }

  constructor(private readonly options: CredentialStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  async create(
    identity: Identity,
    details: { label: string; lifetimeSeconds: number; source: CredentialRecord['source']; upstream?: { provider: string; sealed: string } | undefined },
  ): Promise<{ secret: string; record: CredentialRecord }> {
    const lifetime = Math.min(details.lifetimeSeconds, this.options.maxLifetimeSeconds);
    const secret = CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
    const createdAt = this.now();
    const record: CredentialRecord = {
      id: randomBytes(6).toString('hex'),
      identity,
      label: details.label.slice(0, 100),
      source: details.source,
      createdAt,
      expiresAt: createdAt + lifetime * 1000,
      ...(details.upstream ? { upstream: { ...details.upstream, validatedAt: createdAt } } : {}),
    };
    const { cache } = this.options;
    await cache.set(this.secretKey(secret), JSON.stringify(record), lifetime);
    await cache.set(this.idKey(record.id), this.secretKey(secret), lifetime);
    const ids = await this.ids(identity.account);
    await cache.set(this.indexKey(identity.account), JSON.stringify([...ids, record.id]), this.options.maxLifetimeSeconds);
    return { secret, record };
  }

  /** The live record a secret stands for, or undefined; notes the use. */
  async verify(secret: string): Promise<CredentialRecord | undefined> {
    if (!secret.startsWith(CREDENTIAL_PREFIX) || secret.length > 128) return undefined;
    const raw = await this.options.cache.get(this.secretKey(secret));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as CredentialRecord;
    const now = this.now();
    if (record.expiresAt <= now) return undefined;
    const usedKey = `credused:${record.id}`;
    const last = Number((await this.options.cache.get(usedKey)) ?? 0);
    if (now - last >= LAST_USED_RESOLUTION_MS) await this.options.cache.set(usedKey, String(now), Math.ceil((record.expiresAt - now) / 1000));
    return record;
  }

  /** Notes that the upstream identity behind a credential was just re-checked. */
  async markValidated(secret: string, record: CredentialRecord): Promise<void> {
    if (!record.upstream) return;
    const ttl = Math.ceil((record.expiresAt - this.now()) / 1000);
    if (ttl <= 0) return;
    const updated: CredentialRecord = { ...record, upstream: { ...record.upstream, validatedAt: this.now() } };
    await this.options.cache.set(this.secretKey(secret), JSON.stringify(updated), ttl);
  }

  /** The account's live credentials, newest first. */
  async list(account: string): Promise<CredentialSummary[]> {
    const out: CredentialSummary[] = [];
    const live: string[] = [];
    for (const id of await this.ids(account)) {
      const secretKey = await this.options.cache.get(this.idKey(id));
      const raw = secretKey ? await this.options.cache.get(secretKey) : undefined;
      if (!raw) continue;
      const record = JSON.parse(raw) as CredentialRecord;
      if (record.expiresAt <= this.now() || record.identity.account !== account) continue;
      live.push(id);
      const used = await this.options.cache.get(`credused:${id}`);
      const { identity: _identity, upstream: _upstream, ...rest } = record;
      out.push({ ...rest, account, lastUsedAt: used ? Number(used) : undefined });
    }
    if (live.length !== (await this.ids(account)).length) {
      await this.options.cache.set(this.indexKey(account), JSON.stringify(live), this.options.maxLifetimeSeconds);
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Revokes one of the account's credentials; false when it has no such credential. */
  async revoke(account: string, id: string): Promise<boolean> {
    if (!(await this.ids(account)).includes(id)) return false;
    const secretKey = await this.options.cache.get(this.idKey(id));
    if (secretKey) await this.options.cache.delete(secretKey);
    await this.options.cache.delete(this.idKey(id));
    this.revoked();
    return secretKey !== undefined;
  }

  private async ids(account: string): Promise<string[]> {
    const raw = await this.options.cache.get(this.indexKey(account));
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  private secretKey(secret: string): string {
    return `cred:${keyedHash(this.options.hashKey, 'credential', secret)}`;
  }

  private idKey(id: string): string {
    return `credid:${id}`;
  }

  private indexKey(account: string): string {
    return `credidx:${keyedHash(this.options.hashKey, 'credential-index', account)}`;
  }
}
