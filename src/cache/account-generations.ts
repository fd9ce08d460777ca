import { randomBytes } from 'node:crypto';
import type { Cache } from './cache.js';
import { keyedHash } from './keyed-hash.js';

/** How long a generation marker lives; longer than any cached decision. */
const GENERATION_TTL_SECONDS = 7 * 86_400;

/**
 * A per-account generation that cached decisions include in their keys: bumping it orphans every
 * decision cached for the account at once, without scanning Redis.
 */
export class AccountGenerations {
  constructor(
    private readonly cache: Cache,
    private readonly hashKey: Buffer,
  ) {}

  async current(account: string): Promise<string> {
    return (await this.cache.get(this.key(account))) ?? '0';
  }

  async bump(account: string): Promise<void> {
    await this.cache.set(this.key(account), randomBytes(8).toString('hex'), GENERATION_TTL_SECONDS);
  }

  /** The cache key of an account's generation. */
  keyOf(account: string): string {
    return this.key(account);
  }

  private key(account: string): string {
    return `gen:${keyedHash(this.hashKey, 'generation', account)}`;
  }
}
