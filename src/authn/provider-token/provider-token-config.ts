import { z } from 'zod';
import { upstreamSettings } from '../../upstream/upstream-settings.js';

/**
 * Settings every provider-token backend (`github-token`, `google-token`) shares: how long the
 * provider's answer is cached and how the provider's API is called.
 */
export const providerTokenCommonShape = {
  /** How long a valid token's answer is cached (keyed hash of the token), in seconds; capped by the token's expiry when known. Revoking the token at the provider takes up to this long to end access. Default 300. */
  cacheSeconds: z.number().int().min(1).max(3600).default(300),
  /** How long a rejected token's answer is cached, so a bad token cannot hammer the provider, in seconds. Default 30. */
  negativeCacheSeconds: z.number().int().min(1).max(600).default(30),
  /** `timeoutMs` (default 3000), `retries`, `failureThreshold`, `openSeconds`: how the provider's API is called (upstreamSettings); an open circuit answers 503 without calling. */
  ...upstreamSettings({ timeoutMs: 3000 }).shape,
};

/** The shared settings after validation. */
export type ProviderTokenCommonConfig = z.infer<z.ZodObject<typeof providerTokenCommonShape>>;
