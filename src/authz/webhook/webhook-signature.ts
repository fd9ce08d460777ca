import { createHmac } from 'node:crypto';

/*
 * How Wharf signs its calls to a platform's authorization webhook, version 1. The body is the
 * decision contract (decision-protocol.ts); docs/authz-webhook.md describes both for platform
 * teams, and a test keeps the page in step with the code.
 */

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
