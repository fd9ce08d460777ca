import type { Counter } from 'prom-client';
import type { Cache } from './cache.js';

/** Counts hits and misses per kind of entry (the key's prefix before `:`). */
export class InstrumentedCache implements Cache {
  constructor(
    private readonly inner: Cache,
    private readonly lookups: Counter<'kind' | 'result'>,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const kind = key.slice(0, Math.max(0, key.indexOf(':'))) || 'other';
    try {
      const value = await this.inner.get(key);
      this.lookups.inc({ kind, result: value === undefined ? 'miss' : 'hit' });
      return value;
    } catch (err) {
      this.lookups.inc({ kind, result: 'error' });
      throw err;
    }
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    return this.inner.set(key, value, ttlSeconds);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  healthy(): Promise<boolean> {
    return this.inner.healthy();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
