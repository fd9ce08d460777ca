import { z } from 'zod';
import { upstreamSettings } from '../../upstream/upstream-settings.js';

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
  /** How long a decision (including a 401/403 deny) is cached, in seconds; 0 disables caching. Default 60. */
  cacheSeconds: z.number().int().min(0).max(86_400).default(60),
  /** `timeoutMs` (default 5000, as SAGE's plugin used), `retries`, `failureThreshold`, `openSeconds`: how SAGE is called (upstreamSettings). */
  ...upstreamSettings({ timeoutMs: 5000 }).shape,
});

/** The validated `type: sage` authorizer config. */
export type SageAuthzConfig = z.infer<typeof sageAuthzSchema>;
