import { randomBytes } from 'node:crypto';
import { keyedHash } from '../../crypto/keyed-hash.js';
import type { Identity } from '../../domain/identity.js';
import type { Store } from '../../store/store.js';

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

/** Options of the credential store. */
export interface CredentialStoreOptions {
  /** Where credentials live: durable, never evicted. */
  store: Store;
  hashKey: Buffer;
  /** Upper bound on any credential's lifetime, in seconds. */
  maxLifetimeSeconds: number;
  now?: () => number;
}

// Recording every use would be a store write per token request; once a minute is enough to show "last used".
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Opaque, revocable registry credentials with an expiry, owned by Wharf rather than the IdP
 * session: they outlive the provider's session and refresh token but not their own maximum age.
 * They live in the store, so neither a restart nor a flood of other entries loses one, and a
 * revocation the store did not record throws (a 503) instead of reverting later.
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
    const { store } = this.options;
    // The account's entry first: a credential that exists is always listed, so it can be revoked.
    await store.put(this.entryKey(identity.account, record.id), this.secretKey(secret), lifetime);
    await store.put(this.secretKey(secret), JSON.stringify(record), lifetime);
    return { secret, record };
  }

  /** The live record a secret stands for, or undefined; notes the use. Throws when the store cannot answer (fail closed). */
  async verify(secret: string): Promise<CredentialRecord | undefined> {
    if (!secret.startsWith(CREDENTIAL_PREFIX) || secret.length > 128) return undefined;
    const raw = await this.options.store.get(this.secretKey(secret));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as CredentialRecord;
    const now = this.now();
    if (record.expiresAt <= now) return undefined;
    if (record.upstream) {
      // The last re-check lives under a key of its own: rewriting the record to note it could
      // bring back a credential revoked while the re-check was under way.
      const validatedAt = Number((await this.options.store.get(`credval:${record.id}`)) ?? 0);
      if (validatedAt > record.upstream.validatedAt) record.upstream = { ...record.upstream, validatedAt };
    }
    const usedKey = `credused:${record.id}`;
    const last = Number((await this.options.store.get(usedKey)) ?? 0);
    if (now - last >= LAST_USED_RESOLUTION_MS) {
      // "Last used" is a convenience: failing to note it must not refuse a valid credential.
      await this.options.store.put(usedKey, String(now), Math.ceil((record.expiresAt - now) / 1000)).catch(() => undefined);
    }
    return record;
  }

  /**
   * Notes that the upstream identity behind a credential was just re-checked. The record itself is
   * never rewritten (a revocation meanwhile would be undone); a note left after one is harmless.
   */
  async markValidated(record: CredentialRecord): Promise<void> {
    if (!record.upstream) return;
    const ttl = Math.ceil((record.expiresAt - this.now()) / 1000);
    if (ttl <= 0) return;
    await this.options.store.put(`credval:${record.id}`, String(this.now()), ttl);
  }

  /** The account's live credentials, newest first. */
  async list(account: string): Promise<CredentialSummary[]> {
    const out: CredentialSummary[] = [];
    const secretKeys = new Set((await this.options.store.list(this.entryPrefix(account))).map((e) => e.value));
    for (const id of await this.legacyIds(account)) {
      const secretKey = await this.options.store.get(`credid:${id}`);
      if (secretKey) secretKeys.add(secretKey);
    }
    for (const secretKey of secretKeys) {
      const raw = await this.options.store.get(secretKey);
      if (!raw) continue;
      const record = JSON.parse(raw) as CredentialRecord;
      if (record.expiresAt <= this.now() || record.identity.account !== account) continue;
      const used = await this.options.store.get(`credused:${record.id}`);
      const { identity: _identity, upstream: _upstream, ...rest } = record;
      out.push({ ...rest, account, lastUsedAt: used ? Number(used) : undefined });
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  /**
   * Revokes one of the account's credentials; false when it has no such credential. Throws
   * `TemporarilyUnavailableError` when the store did not record it: the credential then still
   * works, and nobody was told it was revoked.
   */
  async revoke(account: string, id: string): Promise<boolean> {
    const entryKey = this.entryKey(account, id);
    const legacy = (await this.legacyIds(account)).includes(id);
    const secretKey = (await this.options.store.get(entryKey)) ?? (legacy ? await this.options.store.get(`credid:${id}`) : undefined);
    if (secretKey === undefined) return false;
    const existed = await this.options.store.delete(secretKey);
    await this.options.store.delete(entryKey);
    if (legacy) await this.options.store.delete(`credid:${id}`);
    this.revoked();
    return existed;
  }

  /**
   * Ids of credentials created before they moved to the store, from the per-account index the
   * Redis cache kept (`credidx:`, pointing through `credid:<id>`): with the store on that Redis and
   * prefix they still log in, so they must still be listed and revocable until they expire.
   */
  private async legacyIds(account: string): Promise<string[]> {
    const raw = await this.options.store.get(`credidx:${keyedHash(this.options.hashKey, 'credential-index', account)}`);
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  private secretKey(secret: string): string {
    return `cred:${keyedHash(this.options.hashKey, 'credential', secret)}`;
  }

  /** One entry per credential under its account, so listing is a prefix scan and concurrent creations cannot lose each other. */
  private entryPrefix(account: string): string {
    return `credacct:${keyedHash(this.options.hashKey, 'credential-index', account)}:`;
  }

  private entryKey(account: string, id: string): string {
    return `${this.entryPrefix(account)}${/^[0-9a-f]{12}$/.test(id) ? id : keyedHash(this.options.hashKey, 'credential-id', id)}`;
  }
}
