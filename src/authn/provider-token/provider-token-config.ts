import { z } from 'zod';

/**
 * Settings every provider-token backend (`github-token`, `google-token`) shares: how long the
 * provider's answer is cached and how the provider's API is called.
 */
export const providerTokenCommonShape = {
  /** How long a valid token's answer is cached (keyed hash of the token), in seconds; capped by the token's expiry when known. Revoking the token at the provider takes up to this long to end access. Default 300. */
  cacheSeconds: z.number().int().min(1).max(3600).default(300),
  /** How long a rejected token's answer is cached, so a bad token cannot hammer the provider, in seconds. Default 30. */
  negativeCacheSeconds: z.number().int().min(1).max(600).default(30),
  /** Per-attempt timeout of calls to the provider, in ms. Default 3000. */
  timeoutMs: z.number().int().min(50).max(60_000).default(3000),
  /** Extra attempts after a connection error or a 502/503/504. Default 1. */
  retries: z.number().int().min(0).max(5).default(1),
  /** Consecutive failed calls that open the circuit (503 without calling). Default 5. */
  failureThreshold: z.number().int().min(1).max(1000).default(5),
  /** How long an open circuit makes no calls, in seconds. Default 10. */
  openSeconds: z.number().int().min(1).max(3600).default(10),
};

/** The shared settings after validation. */
export type ProviderTokenCommonConfig = z.infer<z.ZodObject<typeof providerTokenCommonShape>>;
