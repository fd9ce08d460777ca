import type { CacheConfig } from '../cache/cache-config.js';
import { connectRedis } from '../cache/redis-connection.js';
import { LoginLimiter, type FailureLimit } from './login-limiter.js';
import { VerificationSlots } from './verification-slots.js';

/** `bruteForce` settings (see the config schema for their defaults). */
export interface BruteForceSettings {
  enabled: boolean;
  perIp: FailureLimit;
  perAccount: FailureLimit;
  perAccountTotal: FailureLimit;
  maxConcurrentPerAddress: number;
  maxConcurrentVerifications: number;
}

/** The token endpoint's brute-force protection: failure budgets and bounds on verifications under way. */
export interface BruteForceGuards {
  limiter: LoginLimiter | undefined;
  slots: VerificationSlots | undefined;
  /** Closes the budgets' Redis connection. */
  close(): void;
}

/**
 * Builds the guards; with a Redis cache the budgets are shared by every replica, on a connection
 * of their own that fails fast (a budget that cannot be read must not hold a login for seconds).
 */
export function bruteForceGuards(settings: BruteForceSettings, options: { cache: CacheConfig; hashKey: Buffer; ipv6PrefixLength: number; now: () => number }): BruteForceGuards {
  if (!settings.enabled) return { limiter: undefined, slots: undefined, close: () => {} };
  const { cache } = options;
  const redis = cache.type === 'redis' ? connectRedis(cache.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500 }).on('error', () => {}) : undefined;
  return {
    limiter: new LoginLimiter({
      perIp: settings.perIp,
      perAccount: settings.perAccount,
      perAccountTotal: settings.perAccountTotal,
      hashKey: options.hashKey,
      redis,
      keyPrefix: cache.type === 'redis' ? cache.keyPrefix : 'wharf:',
      ipv6PrefixLength: options.ipv6PrefixLength,
      now: options.now,
    }),
    slots: new VerificationSlots({ perAddress: settings.maxConcurrentPerAddress, total: settings.maxConcurrentVerifications, ipv6PrefixLength: options.ipv6PrefixLength }),
    close: () => redis?.disconnect(),
  };
}
