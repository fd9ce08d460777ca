import { z } from 'zod';

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
  /** Per-attempt timeout in ms; a timed-out call is not retried. Default 2000. */
  timeoutMs: z.number().int().min(50).max(60_000).default(2000),
  /** Extra attempts after a connection error or a 502/503/504 (jittered backoff). Default 1. */
  retries: z.number().int().min(0).max(5).default(1),
  /** How long a decision is cached when the answer carries no `ttl`, in seconds; 0 disables caching. Default 60. */
  cacheSeconds: z.number().int().min(0).max(86_400).default(60),
  /** Upper bound on any cached decision's lifetime, whatever `ttl` the platform sends, in seconds. Default 3600. */
  maxCacheSeconds: z.number().int().min(0).max(86_400).default(3600),
  /** Consecutive failed calls that open the circuit (no calls, fail closed). Default 5. */
  failureThreshold: z.number().int().min(1).max(1000).default(5),
  /** How long an open circuit refuses calls before one trial call, in seconds. Default 10. */
  openSeconds: z.number().int().min(1).max(3600).default(10),
});

/** The validated `type: webhook` authorizer config. */
export type WebhookAuthzConfig = z.infer<typeof webhookAuthzSchema>;
