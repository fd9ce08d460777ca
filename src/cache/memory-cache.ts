import { LRUCache } from 'lru-cache';
import type { Cache } from './cache.js';

/** Options of the in-process cache. */
export interface MemoryCacheOptions {
  /** Most entries kept; the least recently used go first. */
  maxEntries: number;
  /** Most bytes of keys and values kept (roughly: UTF-16 string lengths × 2). Default 64 MiB. */
  maxBytes?: number;
  /** Injected clock in ms, so tests can expire entries without sleeping. */
  now?: () => number;
}

/** The embedded default: a bounded LRU with per-entry TTLs, for a single instance. */
export class MemoryCache implements Cache {
  private readonly lru: LRUCache<string, { value: string; expiresAt: number }>;
  private readonly now: () => number;

  constructor(options: MemoryCacheOptions) {
    this.now = options.now ?? Date.now;
    // Bounded by bytes as well as entries: a flood of distinct tokens must not grow the heap without limit.
    this.lru = new LRUCache({
      max: options.maxEntries,
      maxSize: options.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (entry, key) => 2 * (key.length + entry.value.length) + 64,
    });
  }

  async get(key: string): Promise<string | undefined> {
    return this.peek(key);
  }

  /** Part of Cache: this cache holds every entry there is, so it always knows (never `NOT_HELD`). */
  peek(key: string): string | undefined {
    const entry = this.lru.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.lru.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async getWithTtl(key: string): Promise<{ value: string; ttlMs: number } | undefined> {
    const entry = this.lru.get(key);
    const left = entry ? entry.expiresAt - this.now() : 0;
    if (!entry || left <= 0) return undefined;
    return { value: entry.value, ttlMs: left };
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.lru.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  async delete(key: string): Promise<void> {
    this.lru.delete(key);
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
