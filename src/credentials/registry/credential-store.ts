import { randomBytes } from 'node:crypto';
import { keyedHash } from '../../crypto/keyed-hash.js';
import type { CredentialScope } from '../../domain/credential-scope.js';
import type { Identity } from '../../domain/identity.js';
import type { Store } from '../../store/store.js';

/** Prefix of registry credentials handed out by browser and device logins. */
export const CREDENTIAL_PREFIX = 'wharf_cr_';

/** The login provider's tokens behind a browser session, device approval or credential, sealed. */
export interface SealedUpstream {
  provider: string;
  sealed: string;
  /**
   * Names the provider login the tokens came from: every credential made from one session shares
   * its re-checks and the newest tokens (a provider that rotates refresh tokens honours only the
   * newest). Absent in records made before it existed: the credential id stands in.
   */
  grant?: string;
  /** False when the tokens cannot be asked about once the access token ends (no refresh token): such credentials are capped. */
  renewable?: boolean;
}

/** A registry credential as stored (under a keyed hash of its secret; the secret is never stored). */
export interface CredentialRecord {
  id: string;
  identity: Identity;
  label: string;
  source: 'browser' | 'device';
  createdAt: number;
  expiresAt: number;
  /** The login provider's sealed tokens, to re-check the identity; and when it last was. */
  upstream?: SealedUpstream & { validatedAt: number };
  /** What its tokens may be used for, within the account's rights; absent (records from before scopes): the account's full rights. */
  scope?: CredentialScope;
}

/** What a passed re-check leaves for every credential of the same provider login. */
export interface RecheckNote {
  /** The provider's tokens as they are now (refreshed or rotated), sealed. */
  sealed?: string | undefined;
  /** The identity's attributes as the provider gave them now (groups...). */
  attributes?: Readonly<Record<string, unknown>> | undefined;
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
  /**
   * Upper bound, in seconds, for credentials whose identity cannot be re-checked for their whole
   * life: from a login that gave no refresh token, or with no provider tokens at all. Default: none.
   */
  maxLifetimeWithoutRecheckSeconds?: number;
  now?: () => number;
}

// Recording every use would be a store write per token request; once a minute is enough to show "last used".
const LAST_USED_RESOLUTION_MS = 60_000;
/** How long one re-check of a provider login holds off the others (and retries while it is down). */
const RECHECK_CLAIM_SECONDS = 60;

/** A re-check note as stored: when it passed, and what it found. */
interface StoredNote extends RecheckNote {
  at: number;
}

/** A stored note; notes written before they carried tokens hold only the time. */
function parseNote(raw: string | undefined): StoredNote | undefined {
  if (raw === undefined) return undefined;
  const parsed = JSON.parse(raw) as unknown;
  if (typeof parsed === 'number') return { at: parsed };
  return typeof parsed === 'object' && parsed !== null && typeof (parsed as StoredNote).at === 'number' ? (parsed as StoredNote) : undefined;
}

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

  /** The longest life a credential made with these provider tokens may have, in seconds. */
  maxLifetimeFor(upstream: SealedUpstream | undefined): number {
    const cap = this.options.maxLifetimeWithoutRecheckSeconds;
    const recheckable = upstream !== undefined && upstream.renewable !== false;
    return Math.min(this.options.maxLifetimeSeconds, recheckable || cap === undefined ? Infinity : cap);
  }

  async create(
    identity: Identity,
    details: { label: string; lifetimeSeconds: number; source: CredentialRecord['source']; upstream?: SealedUpstream | undefined; scope?: CredentialScope | undefined },
  ): Promise<{ secret: string; record: CredentialRecord }> {
    const lifetime = Math.min(details.lifetimeSeconds, this.maxLifetimeFor(details.upstream));
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
      ...(details.scope ? { scope: details.scope } : {}),
    };
    const { store } = this.options;
    // The account's entry first: a credential that exists is always listed, so it can be revoked.
    await store.put(this.entryKey(identity.account, record.id), this.secretKey(secret), lifetime);
    await store.put(this.secretKey(secret), JSON.stringify(record), lifetime);
    return { secret, record };
  }

  /**
   * The record with the expiry its provider tokens allow: records made before credentials carried
   * them (nothing to re-check them by) end `maxLifetimeWithoutRecheckSeconds` after their creation,
   * as new ones without a refresh token do.
   */
  private capped(record: CredentialRecord): CredentialRecord {
    const end = record.createdAt + this.maxLifetimeFor(record.upstream) * 1000;
    return end < record.expiresAt ? { ...record, expiresAt: end } : record;
  }

  /** The live record a secret stands for, or undefined; notes the use. Throws when the store cannot answer (fail closed). */
  async verify(secret: string): Promise<CredentialRecord | undefined> {
    if (!secret.startsWith(CREDENTIAL_PREFIX) || secret.length > 128) return undefined;
    const raw = await this.options.store.get(this.secretKey(secret));
    if (!raw) return undefined;
    const record = this.capped(JSON.parse(raw) as CredentialRecord);
    const now = this.now();
    if (record.expiresAt <= now) return undefined;
    if (record.upstream) {
      // The last re-check lives under a key of its own, shared by the credentials of one provider
      // login: rewriting the record to note it could bring back a credential revoked while the
      // re-check was under way. Its tokens and attributes are always the newest.
      const note = parseNote(await this.options.store.get(this.noteKey(record)));
      if (note) {
        record.upstream = { ...record.upstream, validatedAt: Math.max(note.at, record.upstream.validatedAt), ...(note.sealed ? { sealed: note.sealed } : {}) };
        if (note.attributes) record.identity = { ...record.identity, attributes: note.attributes };
      }
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
   * Notes that the upstream identity behind a credential was just re-checked, with the tokens and
   * attributes it found, for every credential of the same provider login. The record itself is
   * never rewritten (a revocation meanwhile would be undone); a note left after one is harmless.
   * Throws when the store did not record it.
   */
  async markValidated(record: CredentialRecord, found: RecheckNote = {}): Promise<void> {
    if (!record.upstream) return;
    // A login's note outlives each of its credentials (one made later may live longer); one of a
    // credential from before notes were shared lives as long as that credential.
    const ttl = record.upstream.grant ? this.options.maxLifetimeSeconds : Math.ceil((record.expiresAt - this.now()) / 1000);
    if (ttl <= 0) return;
    const note: StoredNote = { at: this.now(), ...(found.sealed ? { sealed: found.sealed } : {}), ...(found.attributes ? { attributes: found.attributes } : {}) };
    await this.options.store.put(this.noteKey(record), JSON.stringify(note), ttl);
  }

  /**
   * Claims the re-check of a credential's provider login for a minute, across every process
   * sharing the store: two refreshes at once would spend a rotating refresh token twice (which
   * providers answer by revoking the grant), and while the provider is down it is asked at most
   * once a minute per login instead of at every token request. False when another holds it.
   */
  async claimRecheck(record: CredentialRecord): Promise<boolean> {
    const { created } = await this.options.store.putIfAbsent(`credcheck:${record.upstream?.grant ?? record.id}`, String(this.now()), RECHECK_CLAIM_SECONDS);
    return created;
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
      const record = this.capped(JSON.parse(raw) as CredentialRecord);
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

  private noteKey(record: CredentialRecord): string {
    return `credval:${record.upstream?.grant ?? record.id}`;
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
