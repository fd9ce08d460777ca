import type { Logger } from 'pino';
import { TemporarilyUnavailableError } from '../domain/errors.js';
import { readWithTtl, type Cache } from './cache.js';

/**
 * A shared cache (Redis) that never takes the service down with it: when the primary fails an
 * operation, the in-process fallback serves it, so token requests keep being answered (with
 * more upstream calls) and readiness reports the primary as degraded. It has no `peek`: what it
 * answers lives in the primary, out of process (a first tier over it holds the copies).
 */
export class FallbackCache implements Cache {
  private degradedSince: number | undefined;

  constructor(
    private readonly primary: Cache,
    private readonly fallback: Cache,
    private readonly logger: Logger,
  ) {}

  async get(key: string): Promise<string | undefined> {
    try {
      const value = await this.primary.get(key);
      this.recovered();
      return value;
    } catch (err) {
      this.failed(err);
      return this.fallback.get(key);
    }
  }

  async getWithTtl(key: string): Promise<{ value: string; ttlMs: number | undefined } | undefined> {
    try {
      const found = await readWithTtl(this.primary, key);
      this.recovered();
      return found;
    } catch (err) {
      this.failed(err);
      return readWithTtl(this.fallback, key);
    }
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    try {
      await this.primary.set(key, value, ttlSeconds);
      this.recovered();
    } catch (err) {
      this.failed(err);
      await this.fallback.set(key, value, ttlSeconds);
    }
  }

  /**
   * Deletes from both (an invalidation must also drop what the fallback held), and throws
   * `TemporarilyUnavailableError` when the primary did not take it: the entry would be back with
   * Redis, so the caller must not report it gone.
   */
  async delete(key: string): Promise<void> {
    await this.fallback.delete(key);
    try {
      await this.primary.delete(key);
      this.recovered();
    } catch (err) {
      this.failed(err);
      throw new TemporarilyUnavailableError('the shared cache is unreachable; nothing was invalidated there, try again shortly', { cause: err });
    }
  }

  healthy(): Promise<boolean> {
    return this.primary.healthy();
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }

  private failed(err: unknown): void {
    if (this.degradedSince === undefined) {
      this.degradedSince = Date.now();
      this.logger.error({ event: 'cache_degraded', err: err instanceof Error ? err.message : String(err) }, 'shared cache unreachable; using the in-process cache until it is back');
    }
  }

  private recovered(): void {
    if (this.degradedSince !== undefined) {
      this.logger.warn({ event: 'cache_recovered', downMs: Date.now() - this.degradedSince }, 'shared cache is back');
      this.degradedSince = undefined;
    }
  }
}
