import { z } from 'zod';
import { commandArgvSchema, commandEnvSchema } from '../../upstream/command-schema.js';
import { upstreamSettings } from '../../upstream/upstream-settings.js';

/**
 * `type: command`: a local program decides, with the webhook's contract over stdin/stdout: Wharf
 * writes one JSON request (account, identity with its attributes, service, client IP, scopes) and
 * the program prints `{"decisions":[{type,class?,name,allowed,reason?}],"ttl"?}` and exits 0.
 * Anything else (another exit code, a timeout, garbage) fails closed: only cached decisions grant.
 * Contract: docs/ldap-and-command.md.
 */
export const commandAuthzSchema = z.strictObject({
  type: z.literal('command'),
  /** Program (absolute path) and arguments; no shell. Required. */
  command: commandArgvSchema,
  /** Environment of the command besides PATH and LANG; Wharf's own is never passed. Default none. */
  env: commandEnvSchema,
  /**
   * `timeoutMs` (default 5000: how long a run may take before it is killed and its scopes answered
   * `unavailable`), `failureThreshold`, `openSeconds` (upstreamSettings; a failed run is not retried).
   */
  ...upstreamSettings({ timeoutMs: 5000 }).pick({ timeoutMs: true, failureThreshold: true, openSeconds: true }).shape,
  /** Most runs at once; further requests wait up to `timeoutMs` for a slot. Default 4. */
  maxConcurrent: z.number().int().min(1).max(256).default(4),
  /** Most requests waiting for a slot; more are answered `unavailable` at once. Default 64. */
  maxQueued: z.number().int().min(0).max(10_000).default(64),
  /** How long a decision is cached when the answer carries no `ttl`, in seconds; 0 (default) disables caching. */
  cacheSeconds: z.number().int().min(0).max(86_400).default(0),
  /** Upper bound on any cached decision's lifetime, whatever `ttl` the program prints. Default 3600. */
  maxCacheSeconds: z.number().int().min(0).max(86_400).default(3600),
});

/** The validated `type: command` authorizer config. */
export type CommandAuthzConfig = z.infer<typeof commandAuthzSchema>;
