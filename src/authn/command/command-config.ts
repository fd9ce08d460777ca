import { z } from 'zod';
import { commandArgvSchema, commandEnvSchema } from '../../upstream/command-schema.js';
import { upstreamSettings } from '../../upstream/upstream-settings.js';

/** A JavaScript regular expression, checked to compile. */
const regexSchema = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

/**
 * `type: command`: a program decides (PAM through pamtester, a legacy database, a script). Wharf
 * writes the username and password to its stdin, never to argv or the environment. Exit 0 means
 * authenticated (stdout may hold a JSON object adding identity attributes), 1 means denied,
 * anything else or a timeout answers 503. Contract: docs/ldap-and-command.md.
 */
export const commandAuthnSchema = z.strictObject({
  type: z.literal('command'),
  /** Program (absolute path) and arguments, e.g. `[/usr/local/lib/wharf/pam-auth]`. Required. */
  command: commandArgvSchema,
  /**
   * What stdin carries: `lines` (default): the username, a newline, the password, a newline
   * (passwords holding a newline are then refused); `json`: one JSON object
   * `{"username","password","service","client_ip"}` and a newline.
   */
  input: z.enum(['lines', 'json']).default('lines'),
  /** Environment of the command besides PATH (default: system directories) and LANG=C.UTF-8; Wharf's own is never passed. Default none. */
  env: commandEnvSchema,
  /** `timeoutMs` (default 5000): how long a run may take before it is killed (with everything it started) and 503 answered (upstreamSettings). */
  ...upstreamSettings({ timeoutMs: 5000 }).pick({ timeoutMs: true }).shape,
  /** Most runs at once; further logins wait up to `timeoutMs` for a slot. Default 4. */
  maxConcurrent: z.number().int().min(1).max(256).default(4),
  /** Most logins waiting for a slot; more are answered 503 at once. Default 64. */
  maxQueued: z.number().int().min(0).max(10_000).default(64),
  /** How long a success is remembered under a keyed hash of (username, password). Default 60 s; 0 disables. */
  verifiedCacheSeconds: z.number().int().min(0).max(3600).default(60),
  /** Only usernames matching this regular expression are this backend's; others pass to the next backend. Default: all. */
  claims: regexSchema.optional(),
});

/** The validated `type: command` authenticator config. */
export type CommandAuthnConfig = z.infer<typeof commandAuthnSchema>;
