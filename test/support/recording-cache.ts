import type { Cache } from '../../src/cache/cache.js';

/**
 * A Cache that keeps what it is given (without expiry) and records every write with its TTL, so a
 * test can state exactly which bytes a backend writes and under which key: the format that
 * replicas of other Wharf versions, sharing one Redis, read.
 */
export class RecordingCache implements Cache {
  readonly entries = new Map<string, string>();
  readonly writes: Array<{ key: string; value: string; ttlSeconds: number }> = [];
  reads = 0;

  async get(key: string): Promise<string | undefined> {
    this.reads++;
    return this.entries.get(key);
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.writes.push({ key, value, ttlSeconds });
    this.entries.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
