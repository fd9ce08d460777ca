import { createHmac } from 'node:crypto';
import { z } from 'zod';

/*
 * The wire contract between Wharf and a platform's authorization webhook, version 1.
 * docs/authz-webhook.md and docs/schemas/*.schema.json describe the same shapes for platform
 * teams; a test keeps them in step with these schemas.
 */

/** One requested resource, as sent to the webhook. `class` is null when the scope has none. */
export const webhookScopeSchema = z.strictObject({
  type: z.string().min(1),
  class: z.string().min(1).nullable(),
  name: z.string().min(1),
  actions: z.array(z.string().min(1)).min(1),
});

/** The body Wharf POSTs. `account` is "" and `identity` null for anonymous requests. */
export const webhookRequestSchema = z.strictObject({
  version: z.literal(1),
  account: z.string(),
  identity: z
    .strictObject({
      provider: z.string().min(1),
      subject: z.string(),
      attributes: z.record(z.string(), z.unknown()),
    })
    .nullable(),
  service: z.string().min(1),
  client_ip: z.string(),
  scopes: z.array(webhookScopeSchema).min(1),
});

/** The request body the webhook receives. */
export type WebhookRequest = z.infer<typeof webhookRequestSchema>;

/** Longest `reason` kept from an answer; longer ones are cut, not rejected. */
const MAX_REASON_LENGTH = 200;

/**
 * The platform's decision on one resource. Unknown fields are ignored so the platform can add
 * its own; `class` may be omitted or null for scopes without a class.
 */
export const webhookDecisionSchema = z.object({
  type: z.string().min(1),
  class: z.string().nullish(),
  name: z.string().min(1),
  /** Actions allowed; `*` allows whatever was requested. Only requested actions are granted. */
  allowed: z.array(z.string()),
  /** Optional few words for Wharf's audit log (cut at 200 characters). */
  reason: z
    .string()
    .optional()
    .transform((r) => r?.slice(0, MAX_REASON_LENGTH)),
});

/** A 200 answer. A requested resource missing from `decisions` is denied. */
export const webhookResponseSchema = z.object({
  decisions: z.array(webhookDecisionSchema).max(1000),
  /** Seconds the decisions may be cached; 0 = do not cache. Fractions are rounded down. */
  ttl: z.number().min(0).max(1e9).optional(),
});

/** A parsed 200 answer. */
export type WebhookResponse = z.infer<typeof webhookResponseSchema>;

/** Header carrying the unix time (seconds) the request was signed at. */
export const TIMESTAMP_HEADER = 'X-Wharf-Timestamp';
/** Header carrying `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. */
export const SIGNATURE_HEADER = 'X-Wharf-Signature';

/**
 * The signature of one request: `v1=` + hex HMAC-SHA256 keyed with the shared secret over
 * `<timestamp>.<raw body>`. The timestamp is inside the MAC so a captured request cannot be
 * replayed outside the platform's acceptance window.
 */
export function signWebhookRequest(secret: string, timestampSeconds: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')}`;
}
