import { z } from 'zod';

/*
 * What the authorization command reads and prints, version 1: the same shapes as the
 * authorization webhook (docs/authz-webhook.md), carried over stdin/stdout instead of HTTP.
 */

/** The JSON object written to the command's stdin (followed by a newline). */
export interface CommandAuthzRequest {
  version: 1;
  /** "" for anonymous requests. */
  account: string;
  /** null for anonymous requests. */
  identity: { provider: string; subject: string; attributes: Record<string, unknown> } | null;
  service: string;
  client_ip: string;
  scopes: Array<{ type: string; class: string | null; name: string; actions: string[] }>;
}

/** Longest `reason` kept from an answer; longer ones are cut, not rejected. */
const MAX_REASON_LENGTH = 200;

/** The command's decision on one resource; unknown fields are ignored. */
export const commandDecisionSchema = z.object({
  type: z.string().min(1),
  class: z.string().nullish(),
  name: z.string().min(1),
  /** Actions allowed; `*` allows whatever was requested. Only requested actions are granted. */
  allowed: z.array(z.string()),
  reason: z
    .string()
    .optional()
    .transform((r) => r?.slice(0, MAX_REASON_LENGTH)),
});

/** What the command prints on stdout before exiting 0. A requested resource missing from `decisions` is denied. */
export const commandAuthzAnswerSchema = z.object({
  decisions: z.array(commandDecisionSchema).max(1000),
  /** Seconds the decisions may be cached (capped by `maxCacheSeconds`); 0 = do not cache. */
  ttl: z.number().min(0).max(1e9).optional(),
});

/** A parsed answer. */
export type CommandAuthzAnswer = z.infer<typeof commandAuthzAnswerSchema>;
