import { z } from 'zod';

/**
 * `type: sage`: the SAGE platform's authorization endpoint (`ecrAuthZEndpoint` of the SAGE
 * docker_auth plugin; see docs/authz-webhook.md, "The SAGE dialect"). One call per scope, a
 * plain-text answer. The token never appears in the config file, only where to read it from.
 */
export const sageAuthzSchema = z.strictObject({
  type: z.literal('sage'),
  /** The `ecrAuthZEndpoint`, `http://` or `https://`. Required. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** File holding the `ecrAuthZToken` (trailing newline ignored). Wins over `tokenEnv`. Default none. */
  tokenFile: z.string().min(1).optional(),
  /** Environment variable holding the token when no `tokenFile` is given. Default `ecrAuthZToken`, as in SAGE's deployment. */
  tokenEnv: z.string().min(1).default('ecrAuthZToken'),
  /** Per-attempt timeout in ms (SAGE's plugin used 5 s); a timed-out call is not retried. Default 5000. */
  timeoutMs: z.number().int().min(50).max(60_000).default(5000),
  /** Extra attempts after a connection error or a 502/503/504 (jittered backoff). Default 1. */
  retries: z.number().int().min(0).max(5).default(1),
  /** How long a decision (including a 401/403 deny) is cached, in seconds; 0 disables caching. Default 60. */
  cacheSeconds: z.number().int().min(0).max(86_400).default(60),
  /** Consecutive failed calls that open the circuit (no calls, fail closed). Default 5. */
  failureThreshold: z.number().int().min(1).max(1000).default(5),
  /** How long an open circuit refuses calls before one trial call, in seconds. Default 10. */
  openSeconds: z.number().int().min(1).max(3600).default(10),
});

/** The validated `type: sage` authorizer config. */
export type SageAuthzConfig = z.infer<typeof sageAuthzSchema>;
