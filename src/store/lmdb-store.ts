import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { TemporarilyUnavailableError } from '../domain/errors.js';
import type { Store, StoreHealth } from './store.js';
import { WriteRefusals } from './write-refusals.js';

/** Options of the embedded store. */
export interface LmdbStoreOptions {
  /** Directory of the database files (created when absent). */
  path: string;
  now?: () => number;
}

/** A stored value and when it expires (ms since the epoch; 0 = never). */
interface Entry {
  v: string;
  e: number;
}

/**
 * The embedded store: LMDB under `dataDir`. A write resolves once its transaction is committed
 * and flushed to disk, so a restart, a `kill -9` or a host crash loses no acknowledged write; several processes (`serve --workers`,
 * `wharf accounts`) may open the same directory at once, LMDB serialising their writes.
 */
export class LmdbStore implements Store {
  private readonly root: RootDatabase;
  private readonly db: Database<Entry, string>;
  private readonly now: () => number;
  /** Whether the last write was committed (a full disk or a read-only volume still reads). */
  private readonly writes: WriteRefusals;

  constructor(options: LmdbStoreOptions) {
    mkdirSync(options.path, { recursive: true, mode: 0o700 });
    this.root = open({ path: options.path, compression: false });
    this.db = this.root.openDB<Entry, string>({ name: 'records', encoding: 'msgpack' });
    this.now = options.now ?? Date.now;
    this.writes = new WriteRefusals(this.now);
  }

  async get(key: string): Promise<string | undefined> {
    return this.read(() => this.live(this.db.get(key)));
  }

  async put(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.write(() => this.db.put(key, this.entry(value, ttlSeconds)));
  }

  async putIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<{ created: boolean; value: string }> {
    return this.write(() =>
      this.db.transaction(() => {
        const existing = this.live(this.db.get(key));
        if (existing !== undefined) return { created: false, value: existing };
        void this.db.put(key, this.entry(value, ttlSeconds));
        return { created: true, value };
      }),
    );
  }

  async delete(key: string): Promise<boolean> {
    return this.write(() =>
      this.db.transaction(() => {
        const existed = this.live(this.db.get(key)) !== undefined;
        void this.db.remove(key);
        return existed;
      }),
    );
  }

  async increment(key: string, ttlSeconds?: number): Promise<number> {
    return this.write(() =>
      this.db.transaction(() => {
        const entry = this.db.get(key);
        const current = this.live(entry);
        const next = Number(current ?? 0) + 1;
        // A live counter keeps its expiry; a new one (or one past its TTL) starts its window now.
        void this.db.put(key, current === undefined ? this.entry(String(next), ttlSeconds) : { v: String(next), e: entry!.e });
        return next;
      }),
    );
  }

  async list(prefix: string, limit = 1000): Promise<Array<{ key: string; value: string }>> {
    return this.read(() => {
      const out: Array<{ key: string; value: string }> = [];
      // Keys are strings: every key with the prefix sorts between it and the prefix followed by U+FFFF.
      for (const { key, value } of this.db.getRange({ start: prefix, end: `${prefix}\uffff` })) {
        const live = this.live(value);
        if (live !== undefined) out.push({ key, value: live });
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  /** Removes entries past their TTL (reads already ignore them); returns how many went. */
  async sweep(): Promise<number> {
    const now = this.now();
    let removed = 0;
    await this.write(() =>
      this.db.transaction(() => {
        for (const { key, value } of this.db.getRange({})) {
          if (value.e !== 0 && value.e <= now) {
            void this.db.remove(key);
            removed++;
          }
        }
      }),
    );
    return removed;
  }

  async health(): Promise<StoreHealth> {
    try {
      this.db.get('health');
    } catch {
      return { ok: false, warnings: [] };
    }
    // A probe only while a refusal is remembered (to see it end): otherwise writes go to disk
    // only when someone needs them to.
    const refused = await this.writes.current(() => this.put('health:write-probe', '1', 10), false);
    return { ok: true, warnings: [], ...(refused ? { refusesWrites: refused } : {}) };
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  private entry(value: string, ttlSeconds: number | undefined): Entry {
    return { v: value, e: ttlSeconds === undefined ? 0 : this.now() + ttlSeconds * 1000 };
  }

  private live(entry: Entry | undefined): string | undefined {
    if (!entry) return undefined;
    return entry.e !== 0 && entry.e <= this.now() ? undefined : entry.v;
  }

  /** Runs a read; a failure (store closed, files gone) is a 503, never "not found". */
  private read<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      throw new TemporarilyUnavailableError('could not read stored records; try again shortly', { cause: err });
    }
  }

  /** Runs a write; a failure (disk full, permissions) is a 503 that changed nothing. */
  private async write<T>(run: () => Promise<T> | T): Promise<T> {
    try {
      const result = await run();
      // lmdb resolves a write at commit and flushes to disk after it (overlappingSync, its default
      // on Linux): a revocation acknowledged before the flush could be lost to a power failure.
      await this.root.flushed;
      this.writes.succeeded();
      return result;
    } catch (err) {
      this.writes.failed(err);
      throw new TemporarilyUnavailableError('could not record the change; try again shortly', { cause: err });
    }
  }
}
