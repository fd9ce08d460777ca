import { z } from 'zod';
import { upstreamSettings } from '../../upstream/upstream-settings.js';

const upstream = upstreamSettings().shape;

/**
 * `type: introspection`: platform API tokens checked by RFC 7662 token introspection.
 * `dialect: sage` speaks the SAGE platform's token-info service instead (see INTEROP.md).
 */
export const introspectionAuthnSchema = z.strictObject({
  type: z.literal('introspection'),
  /** `rfc7662` (default) or `sage`. */
  dialect: z.enum(['rfc7662', 'sage']).default('rfc7662'),
  /** Introspection endpoint URL (env WHARF_INTROSPECTION_URL; SAGE: tokenInfoEndpoint). */
  url: z.url({ protocol: /^https?$/ }),
  /**
   * How Wharf authenticates itself at the endpoint. `client_secret_basic` (the default for
   * `rfc7662`): HTTP Basic with the client id and secret each form-urlencoded first, as RFC 6749
   * §2.3.1 requires and conforming servers decode. `client_secret_post`: `client_id` and
   * `client_secret` in the form body. `basic` (the default for `sage`): HTTP Basic with id and
   * secret as they are, for servers that do not decode them (SAGE's Django endpoint). `bearer`:
   * the secret alone as a bearer token.
   */
  clientAuth: z.enum(['client_secret_basic', 'client_secret_post', 'basic', 'bearer']).optional(),
  /** Client id for Basic auth (env WHARF_INTROSPECTION_CLIENT_ID; SAGE: tokenInfoUser). Default `wharf`. */
  clientId: z.string().min(1).default('wharf'),
  /** File holding the client secret; wins over `clientSecretEnv`. */
  clientSecretFile: z.string().optional(),
  /** Environment variable holding the client secret. Default WHARF_INTROSPECTION_CLIENT_SECRET (SAGE: tokenInfoPassword). */
  clientSecretEnv: z.string().optional(),
  /** Claim naming the user. Default `username`, falling back to `sub`. */
  usernameClaim: z.string().min(1).default('username'),
  /** `match`: the docker username must be the token's user (default). `any`: any username; the token's user is used. */
  usernamePolicy: z.enum(['match', 'any']).default('match'),
  /** Only passwords matching this regular expression are sent for introspection; others pass to the next backend. Default: all. */
  tokenPattern: z
    .string()
    .refine((s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression')
    .optional(),
  /** How long an active token's introspection is cached, capped by its `exp` (which also caps the registry tokens it buys). Default 60 s. */
  cacheSeconds: z.number().int().min(1).max(3600).default(60),
  /** How long an inactive answer is cached, so a bad token cannot hammer the platform. Default 10 s. */
  negativeCacheSeconds: z.number().int().min(1).max(600).default(10),
  /** `retries`, `failureThreshold`, `openSeconds`: how the endpoint is called (upstreamSettings). */
  ...upstream,
  /** Per-attempt timeout in ms (upstreamSettings' bounds). Default 2000, for `dialect: sage` 5000. */
  timeoutMs: upstream.timeoutMs.unwrap().optional(),
});

export type IntrospectionAuthnConfig = z.infer<typeof introspectionAuthnSchema>;
