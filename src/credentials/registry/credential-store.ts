import { randomBytes } from 'node:crypto';
import { keyedHash } from '../../crypto/keyed-hash.js';
import type { CredentialScope } from '../../domain/credential-scope.js';
import type { Identity } from '../../domain/identity.js';
import type { Store } from '../../store/store.js';
import { DAY_MS, parseEntry, type AccountEntry, type CredentialRecord, type CredentialSource, type CredentialSummary, type RecheckNote, type SealedUpstream } from './credential-record.js';

export type { CredentialRecord, CredentialSource, CredentialSummary, RecheckNote, SealedUpstream } from './credential-record.js';

/** Prefix of registry credentials handed out by browser and device logins. */
export const CREDENTIAL_PREFIX = 'wharf_cr_';

/** Options of the credential store. */
export interface CredentialStoreOptions {
  /** Where credentials live: durable, never evicted. */
  store: Store;
  hashKey: Buffer;
  /** Upper bound on any credential's lifetime, in seconds. */
  maxLifetimeSeconds: number;
  /** Lower bounds for credentials made one way (`federation.credentials.maxDaysBySource`), in seconds. Default: none. */
  maxLifetimeBySourceSeconds?: Partial<Record<CredentialSource, number>>;
  /**
   * Upper bound, in seconds, for credentials whose identity cannot be re-checked for their whole
   * life: from a login that gave no refresh token, or with no provider tokens at all. Default: none.
   */
  maxLifetimeWithoutRecheckSeconds?: number;
  now?: () => number;
}

// Recording every use would be a store write per token request; once an hour is enough to find a
// stale credential, and keeps a busy credential's writes to 24 a day.
const LAST_USED_RESOLUTION_MS = 3_600_000;
/**
 * How long an expired credential's record is kept, so that using it is answered "expired" rather
 * than "unknown": a CI job failing on an expired token should say so. Bounded: then it is gone.
 */
export const EXPIRED_NOTICE_SECONDS = 30 * 86_400;
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

  /** The longest life a credential made with these provider tokens (and, when given, made this way) may have, in seconds. */
  maxLifetimeFor(upstream: SealedUpstream | undefined, source?: CredentialSource, vouched = false): number {
    const cap = this.options.maxLifetimeWithoutRecheckSeconds;
    const recheckable = vouched || (upstream !== undefined && upstream.renewable !== false);
    const bySource = (source && this.options.maxLifetimeBySourceSeconds?.[source]) ?? Infinity;
    return Math.min(this.options.maxLifetimeSeconds, bySource, recheckable || cap === undefined ? Infinity : cap);
  }

  async create(
    identity: Identity,
    details: {
      label: string;
      lifetimeSeconds: number;
      source: CredentialRecord['source'];
      upstream?: (SealedUpstream & { validatedAt?: number }) | undefined;
      scope?: CredentialScope | undefined;
      /** See CredentialRecord.vouched. */
      vouched?: boolean | undefined;
      /** See CredentialRecord.maker. */
      maker?: Identity | undefined;
    },
  ): Promise<{ secret: string; record: CredentialRecord }> {
    const lifetime = Math.max(1, Math.floor(Math.min(details.lifetimeSeconds, this.maxLifetimeFor(details.upstream, details.source, details.vouched === true))));
    const secret = CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
    const createdAt = this.now();
    const record: CredentialRecord = {
      id: randomBytes(6).toString('hex'),
      identity,
      label: details.label.slice(0, 100),
      source: details.source,
      createdAt,
      expiresAt: createdAt + lifetime * 1000,
      // A login's tokens are confirmed as the credential is made; a credential made by another
      // (the API) keeps the time its maker's was last confirmed, or minting children would
      // reset the re-check clock forever while the provider cannot be asked.
      ...(details.upstream ? { upstream: { ...details.upstream, validatedAt: Math.min(details.upstream.validatedAt ?? createdAt, createdAt) } } : {}),
      ...(details.scope ? { scope: details.scope } : {}),
      ...(details.vouched === true ? { vouched: true } : {}),
      ...(details.maker ? { maker: details.maker } : {}),
    };
    const { store } = this.options;
    // The account's entry first: a credential that exists is always listed, so it can be revoked.
    // Both outlive the credential a while, so a late use is told it expired.
    await store.put(this.entryKey(identity.account, record.id), this.secretKey(secret), lifetime + EXPIRED_NOTICE_SECONDS);
    await store.put(this.secretKey(secret), JSON.stringify(record), lifetime + EXPIRED_NOTICE_SECONDS);
    await store.put(this.expiryKey(record), this.secretKey(secret), lifetime + 86_400);
    return { secret, record };
  }

  /**
   * The record with the expiry its provider tokens allow: records made before credentials carried
   * them (nothing to re-check them by) end `maxLifetimeWithoutRecheckSeconds` after their creation,
   * as new ones without a refresh token do.
   */
  private capped(record: CredentialRecord): CredentialRecord {
    const end = record.createdAt + this.maxLifetimeFor(record.upstream, undefined, record.vouched === true) * 1000;
    return end < record.expiresAt ? { ...record, expiresAt: end } : record;
  }

  /** The live record a secret stands for, or undefined; notes the use. Throws when the store cannot answer (fail closed). */
  async verify(secret: string): Promise<CredentialRecord | undefined> {
    const found = await this.lookup(secret);
    return found?.expired === false ? found.record : undefined;
  }

  /**
   * The record a secret stands for, live or expired within `EXPIRED_NOTICE_SECONDS` (then
   * `expired`); undefined when unknown, revoked, retired or long expired. A live one's use is noted.
   * Throws when the store cannot answer (fail closed).
   */
  async lookup(secret: string): Promise<{ record: CredentialRecord; expired: boolean } | undefined> {
    if (!secret.startsWith(CREDENTIAL_PREFIX) || secret.length > 128) return undefined;
    const raw = await this.options.store.get(this.secretKey(secret));
    if (!raw) return undefined;
    const record = this.capped(JSON.parse(raw) as CredentialRecord);
    const now = this.now();
    if (record.expiresAt <= now) return { record, expired: true };
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
    return { record, expired: false };
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
    return (await this.live(account)).map(({ summary }) => summary);
  }

  /** One live credential of the account as stored (a robot's, with its maker), for explanations; undefined when it has none by that id. */
  async record(account: string, id: string): Promise<CredentialRecord | undefined> {
    return (await this.live(account)).find(({ record }) => record.id === id)?.record;
  }

  private async live(account: string): Promise<Array<{ record: CredentialRecord; summary: CredentialSummary }>> {
    const out: Array<{ record: CredentialRecord; summary: CredentialSummary }> = [];
    const entries = (await this.options.store.list(this.entryPrefix(account))).map((e) => parseEntry(e.value));
    for (const id of await this.legacyIds(account)) {
      const secretKey = await this.options.store.get(`credid:${id}`);
      if (secretKey) entries.push({ key: secretKey });
    }
    const seen = new Set<string>();
    for (const entry of entries) {
      const raw = await this.options.store.get(entry.key);
      if (!raw) continue;
      const record = this.capped(JSON.parse(raw) as CredentialRecord);
      if (record.expiresAt <= this.now() || record.identity.account !== account || seen.has(record.id)) continue;
      seen.add(record.id);
      const used = await this.options.store.get(`credused:${record.id}`);
      const { identity: _identity, upstream: _upstream, maker: _maker, ...rest } = record;
      const rotating = entry.retiresAt !== undefined && entry.retiresAt > this.now() ? { previousRetiresAt: entry.retiresAt } : {};
      out.push({ record, summary: { ...rest, account, lastUsedAt: used ? Number(used) : undefined, ...rotating } });
    }
    return out.sort((a, b) => b.record.createdAt - a.record.createdAt);
  }

  /**
   * Revokes one of the account's credentials, every secret of it; false when it has no such
   * credential. Throws `TemporarilyUnavailableError` when the store did not record it: the
   * credential then still works, and nobody was told it was revoked.
   */
  async revoke(account: string, id: string): Promise<boolean> {
    const { store } = this.options;
    const entryKey = this.entryKey(account, id);
    const legacy = (await this.legacyIds(account)).includes(id);
    const rawEntry = await store.get(entryKey);
    const legacyKey = rawEntry === undefined && legacy ? await store.get(`credid:${id}`) : undefined;
    const entry: AccountEntry | undefined = rawEntry !== undefined ? parseEntry(rawEntry) : legacyKey !== undefined ? { key: legacyKey } : undefined;
    if (!entry) return false;
    // Noted first: a rotation under way meanwhile sees it and undoes its own writes.
    await store.put(this.revokedKey(account, id), '1', this.options.maxLifetimeSeconds + EXPIRED_NOTICE_SECONDS);
    const existed = await store.delete(entry.key);
    if (entry.previous !== undefined) await store.delete(entry.previous);
    await store.delete(entryKey);
    if (legacy) await store.delete(`credid:${id}`);
    this.revoked();
    return existed;
  }

  /**
   * Gives one of the account's live credentials a second secret; the one it had keeps working
   * until `retiresAt` (at most `retireAfterSeconds` from now, never past the credential's end) or
   * `retire`. Both stand for the same record: id, scope, expiry and last use. A rotation during
   * another ends the earlier rotation's old secret at once (two secrets at most). Undefined when
   * the account has no such live credential (or one made before rotation existed in the cache's
   * format). Throws when the store did not record it.
   */
  async rotate(account: string, id: string, retireAfterSeconds: number): Promise<{ secret: string; record: CredentialRecord; previousRetiresAt: number } | undefined> {
    const { store } = this.options;
    const entryKey = this.entryKey(account, id);
    const rawEntry = await store.get(entryKey);
    if (rawEntry === undefined) return undefined;
    const entry = parseEntry(rawEntry);
    const raw = await store.get(entry.key);
    if (raw === undefined) return undefined;
    const record = this.capped(JSON.parse(raw) as CredentialRecord);
    const now = this.now();
    if (record.expiresAt <= now || record.identity.account !== account) return undefined;
    const secret = CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
    const key = this.secretKey(secret);
    const remaining = Math.ceil((record.expiresAt - now) / 1000);
    const retiresAt = Math.min(now + retireAfterSeconds * 1000, record.expiresAt);
    await store.put(key, raw, remaining + EXPIRED_NOTICE_SECONDS);
    await store.put(entryKey, JSON.stringify({ key, previous: entry.key, retiresAt } satisfies AccountEntry), remaining + EXPIRED_NOTICE_SECONDS);
    if (entry.previous !== undefined) await store.delete(entry.previous);
    // The old secret's copy now ends at its retirement (the store's TTL ends it, on every replica).
    const retireSeconds = Math.ceil((retiresAt - now) / 1000);
    if (retireSeconds > 0) await store.put(entry.key, raw, retireSeconds);
    else {
      await store.delete(entry.key);
      // Retired at once: answers decided with the old secret must go too, as on a revocation.
      this.revoked();
    }
    await store.put(this.expiryKey(record), key, remaining + 86_400);
    if ((await store.get(this.revokedKey(account, id))) !== undefined) {
      // Revoked while this rotation was writing: what it wrote must not bring the credential back.
      for (const written of [key, entry.key, entryKey]) await store.delete(written);
      return undefined;
    }
    return { secret, record, previousRetiresAt: retiresAt };
  }

  /** Ends at once the earlier secret of a rotation under way; false when there is none. Throws when the store did not record it. */
  async retire(account: string, id: string): Promise<boolean> {
    const { store } = this.options;
    const entryKey = this.entryKey(account, id);
    const rawEntry = await store.get(entryKey);
    const entry = rawEntry === undefined ? undefined : parseEntry(rawEntry);
    if (entry?.previous === undefined) return false;
    await store.delete(entry.previous);
    const raw = await store.get(entry.key);
    const record = raw === undefined ? undefined : (JSON.parse(raw) as CredentialRecord);
    if (record) await store.put(entryKey, entry.key, Math.max(1, Math.ceil((record.expiresAt - this.now()) / 1000)) + EXPIRED_NOTICE_SECONDS);
    this.revoked();
    return true;
  }

  /**
   * Every live credential, of any account, that ends within `withinMs`, from the expiry index (by
   * day): the work is bounded by the credentials ending soon (at most 1000 a day), not by all of them.
   */
  async expiringWithin(withinMs: number): Promise<CredentialRecord[]> {
    const now = this.now();
    const out = new Map<string, CredentialRecord>();
    for (let day = Math.floor(now / DAY_MS); day <= Math.floor((now + withinMs) / DAY_MS); day++) {
      for (const { value } of await this.options.store.list(`credexp:${day}:`, 1000)) {
        const raw = await this.options.store.get(value);
        if (raw === undefined) continue;
        const record = this.capped(JSON.parse(raw) as CredentialRecord);
        if (record.expiresAt > now && record.expiresAt <= now + withinMs) out.set(record.id, record);
      }
    }
    return [...out.values()];
  }

  /** Claims, across every replica, the one notice of the day that a credential ends soon; false when it was given. */
  async claimExpiringNotice(record: CredentialRecord): Promise<boolean> {
    const day = Math.floor(this.now() / DAY_MS);
    return (await this.options.store.putIfAbsent(`credexpnote:${record.id}:${day}`, '1', 2 * 86_400)).created;
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

  /** The expiry index: credentials by the day they end, each pointing at its current secret's record. */
  private expiryKey(record: CredentialRecord): string {
    return `credexp:${Math.floor(record.expiresAt / DAY_MS)}:${record.id}`;
  }

  private revokedKey(account: string, id: string): string {
    return `credrevoked:${keyedHash(this.options.hashKey, 'credential-revoked', account, id)}`;
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
