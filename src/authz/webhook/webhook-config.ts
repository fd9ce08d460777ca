import { z } from 'zod';
import { upstreamSettings } from '../../upstream/upstream-settings.js';

/**
 * `type: webhook`: the platform decides. Wharf POSTs every uncached scope of a token request in
 * one signed JSON call and caches the answers (contract: docs/authz-webhook.md). The shared secret
 * never appears in the config file, only where to read it from.
 */
export const webhookAuthzSchema = z.strictObject({
  type: z.literal('webhook'),
  /** The platform's decision endpoint, `http://` or `https://` (use https outside a trusted network). Required. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** File holding the shared secret (a mounted secret; trailing newline ignored). Wins over `secretEnv`. Default none. */
  secretFile: z.string().min(1).optional(),
  /** Environment variable holding the shared secret when no `secretFile` is given. Default `WHARF_AUTHZ_WEBHOOK_SECRET`. */
  secretEnv: z.string().min(1).default('WHARF_AUTHZ_WEBHOOK_SECRET'),
  /** How long a decision is cached when the answer carries no `ttl`, in seconds; 0 disables caching. Default 60. */
  cacheSeconds: z.number().int().min(0).max(86_400).default(60),
  /** Upper bound on any cached decision's lifetime, whatever `ttl` the platform sends, in seconds. Default 3600. */
  maxCacheSeconds: z.number().int().min(0).max(86_400).default(3600),
  /** `timeoutMs` (default 2000), `retries`, `failureThreshold`, `openSeconds`: how the webhook is called (upstreamSettings). */
  ...upstreamSettings({ timeoutMs: 2000 }).shape,
});

/** The validated `type: webhook` authorizer config. */
export type WebhookAuthzConfig = z.infer<typeof webhookAuthzSchema>;
