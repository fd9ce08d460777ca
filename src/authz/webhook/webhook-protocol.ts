import { createHmac } from 'node:crypto';

/*
 * The wire contract between Wharf and a platform's authorization webhook, version 1.
 * docs/authz-webhook.md and docs/schemas/*.schema.json describe the same shapes for platform
 * teams; a test keeps them in step with these schemas.
 */

// The webhook speaks the shared decision contract (decision-protocol.ts) under these names,
// which docs/authz-webhook.md and its JSON Schemas use.
export {
  decisionScopeSchema as webhookScopeSchema,
  decisionRequestSchema as webhookRequestSchema,
  decisionSchema as webhookDecisionSchema,
  decisionAnswerSchema as webhookResponseSchema,
  type DecisionRequest as WebhookRequest,
  type DecisionAnswer as WebhookResponse,
} from '../decision-protocol.js';

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
