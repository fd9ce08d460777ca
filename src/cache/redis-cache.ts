import { connectRedis, whenReady, type RedisClient } from './redis-connection.js';
import type { Cache } from './cache.js';

/** Options of the Redis cache. */
export interface RedisCacheOptions {
  /** `redis://`, `rediss://`, `redis-sentinel://` or `redis-cluster://` URL (see connectRedis). */
  url: string;
  /** Prefix for every key, so several deployments can share one Redis. Default `wharf:`. */
  keyPrefix?: string;
  /** Per-command timeout in ms; a hung Redis must not hang a token request. Default 500. */
  commandTimeoutMs?: number;
}

/** Shared state for many replicas, through ioredis. */
export class RedisCache implements Cache {
  private readonly redis: RedisClient;

  constructor(options: RedisCacheOptions) {
    this.redis = connectRedis(options.url, {
      keyPrefix: options.keyPrefix ?? 'wharf:',
      commandTimeout: options.commandTimeoutMs ?? 500,
      // Fail fast while disconnected instead of queueing requests behind a dead server.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
      // Commands issued in the same tick by concurrent requests go out as one pipeline.
      enableAutoPipelining: true,
    });
    // ioredis emits 'error' on every failed reconnect; the readiness check reports it instead.
    this.redis.on('error', () => {});
  }

  /** Resolves once connected; rejects after `timeoutMs` so a dead Redis is reported, not waited on. */
  async ready(timeoutMs = 5000): Promise<void> {
    await whenReady(this.redis, timeoutMs);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async getWithTtl(key: string): Promise<{ value: string; ttlMs: number | undefined } | undefined> {
    // Issued in the same tick, so auto-pipelining sends both in one round trip.
    const [value, pttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
    if (value === null) return undefined;
    // -1: no expiry; -2: gone between the two commands (then nothing is left to trust).
    return { value, ttlMs: pttl === -1 ? undefined : Math.max(0, pttl) };
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds)));
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(key);
  }

  async healthy(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
