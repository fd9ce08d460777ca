import { LRUCache } from 'lru-cache';
import type { Coherence, LocalCopy } from './coherence.js';
import { NOT_HELD, readWithTtl, type Cache } from './cache.js';
import { admits } from './scan-resistant.js';

/** Options of the first tier. */
export interface TwoTierOptions {
  /** Key prefixes held in process: facts every token request reads, written once per key and invalidated by deletion. */
  prefixes: readonly string[];
  /** Most bytes the first tier may hold (its own estimate, close to the heap it takes). */
  maxBytes: number;
  /** How long a copy may be trusted; it also drops copies on invalidations. */
  coherence: Coherence;
  /** Told where each lookup of a first-tier key was answered (metrics). */
  onLookup?: (result: 'local' | 'shared') => void;
  /** Clock in ms (tests move it instead of waiting). */
  now?: () => number;
}

const ABSENT = Symbol('absent');

/** The bytes an entry is counted for: its key, the value when no other entry shares it, and the rest. */
function entryBytes(key: string, ownValueLength: number): number {
  return key.length + ownValueLength + ENTRY_OVERHEAD;
}

/** Values up to this length are shared between entries (decisions, verified-password markers). */
const MAX_INTERNED_LENGTH = 256;
const MAX_INTERNED_VALUES = 4096;

/**
 * Bytes of an entry besides its key and its own value: the LRU's slots and TTL arrays, the key's
 * string header and the map entry. Measured on Node 20 with lru-cache 11: 100,000 decisions with
 * one shared value take 195 bytes of heap each with a 70-character key, 180 with a 49-character
 * one, so the key's length plus 130 is a bound. The shared value was once counted in every entry
 * as well (190 + key + value): the tier then held 150,000 decisions in 48 MB, where some 280,000
 * fit with their 49-character keys.
 */
const ENTRY_OVERHEAD = 130;

/**
 * An in-process first tier over the shared cache (Redis) for the entries every token request
 * reads: a fleet's cached introspections and decisions then cost no round trip. A copy lives as
 * long as the entry's own TTL in Redis allows, within the coherence's staleness bound;
 * invalidations drop copies at once (this replica's own, and others' through the subscription).
 */
export class TwoTierCache implements Cache, LocalCopy {
  private readonly local: LRUCache<string, string | typeof ABSENT>;
  /**
   * One copy of each short value: a fleet's decisions are a handful of distinct answers
   * (`{"granted":["pull"],...}`) over a hundred thousand keys, and a string per entry was a third
   * of the first tier's memory. Emptied when full, so distinct values cannot grow it.
   */
  private readonly values = new Map<string, string>();

  constructor(
    private readonly shared: Cache,
    private readonly options: TwoTierOptions,
  ) {
    const now = options.now;
    // Sized per entry at set (keep): whether its value is shared is known only there.
    this.local = new LRUCache({
      maxSize: options.maxBytes,
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
    });
    options.coherence.attach(this);
  }

  async get(key: string): Promise<string | undefined> {
    if (!this.isLocal(key)) return this.shared.get(key);
    const copy = this.local.get(key);
    this.options.onLookup?.(copy === undefined ? 'shared' : 'local');
    if (copy !== undefined) return copy === ABSENT ? undefined : copy;
    const coherence = this.options.coherence;
    const epoch = coherence.epoch;
    const found = await readWithTtl(this.shared, key);
    // Kept only if nothing changed the key meanwhile: a write (a decision just made) or an
    // invalidation would otherwise be overwritten by this older answer.
    if (epoch === coherence.epoch && !this.local.has(key)) {
      this.keep(key, found?.value ?? ABSENT, found ? coherence.trustMs(found.ttlMs) : coherence.absenceMs());
    }
    return found?.value;
  }

  /**
   * Part of Cache: the first tier's copy, with no promise (every token request reads a decision
   * so). Counted where it was answered as `get` counts it; a key without a copy counts nothing
   * here, as its `get` follows. Never the shared cache: only what this process holds.
   */
  peek(key: string): string | undefined | typeof NOT_HELD {
    if (!this.isLocal(key)) return NOT_HELD;
    const copy = this.local.get(key);
    if (copy === undefined) return NOT_HELD;
    this.options.onLookup?.('local');
    return copy === ABSENT ? undefined : copy;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.shared.set(key, value, ttlSeconds);
    if (this.isLocal(key)) this.keep(key, value, this.options.coherence.trustMs(ttlSeconds * 1000));
  }

  async delete(key: string): Promise<void> {
    // Through the coherence for first-tier keys only: it drops every copy in the process (recent
    // answers included), which a pending browser login's removal has no business doing.
    if (this.isLocal(key)) this.options.coherence.forget([key]);
    await this.shared.delete(key);
  }

  /** Part of LocalCopy: another replica changed these keys. */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.local.delete(key);
  }

  /** Part of LocalCopy: invalidations may have been missed. */
  forgetAll(): void {
    this.local.clear();
  }

  /** Bytes the first tier holds now (its estimate). */
  localBytes(): number {
    return this.local.calculatedSize;
  }

  healthy(): Promise<boolean> {
    return this.shared.healthy();
  }

  async close(): Promise<void> {
    this.local.clear();
    await this.shared.close();
  }

  private keep(key: string, value: string | typeof ABSENT, ttlMs: number): void {
    if (ttlMs < 1) return;
    // A value another entry already holds costs this one nothing; the first holder pays for it.
    const shared = value === ABSENT || value.length > MAX_INTERNED_LENGTH ? undefined : this.values.get(value);
    const size = entryBytes(key, value === ABSENT || shared !== undefined ? 0 : value.length);
    // A copy already held is replaced in place; a newcomer may be turned away by a full tier (and
    // then leaves nothing behind, its value not interned either).
    if (!this.local.has(key) && !admits(this.local, size)) return;
    this.local.set(key, value === ABSENT ? ABSENT : (shared ?? this.interned(value)), { ttl: ttlMs, size });
  }

  /** One instance of a short value (taken in by the first entry that holds it). */
  private interned(value: string): string {
    if (value.length > MAX_INTERNED_LENGTH) return value;
    if (this.values.size >= MAX_INTERNED_VALUES) this.values.clear();
    this.values.set(value, value);
    return value;
  }

  private isLocal(key: string): boolean {
    return this.options.prefixes.some((p) => key.startsWith(p));
  }
}
