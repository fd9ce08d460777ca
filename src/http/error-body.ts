import { TemporarilyUnavailableError, TooManyRequestsError, type WharfError } from '../domain/errors.js';

/**
 * The error body every endpoint answers with: the distribution shape (`errors[]`, what docker
 * and skopeo print) plus the OAuth 2.0 fields (`error`, `error_description`) for OAuth clients.
 */
export interface ErrorBody {
  errors: Array<{ code: string; message: string }>;
  error: string;
  error_description: string;
}

/** An error as it goes on the wire: status, the headers it needs, and the body. */
export interface ErrorResponse {
  status: number;
  /** Lower-case header names: `www-authenticate` on a 401, `retry-after` when the error knows when. */
  headers: Record<string, string>;
  body: ErrorBody;
}

/** What a client reads instead of a message the error does not expose. */
const HIDDEN_MESSAGE = 'internal error';

/**
 * The one place an error of the tree becomes a response: the status and codes come from its
 * class, the message only if the class exposes it. `basicRealm` names the realm of the Basic
 * challenge every 401 carries (RFC 7235), so docker shows the message and retries with credentials.
 */
export function errorResponse(err: WharfError, basicRealm: string): ErrorResponse {
  const headers: Record<string, string> = {};
  if (err.status === 401) headers['www-authenticate'] = `Basic realm="${basicRealm}"`;
  if ((err instanceof TooManyRequestsError || err instanceof TemporarilyUnavailableError) && err.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(err.retryAfterSeconds);
  }
  const message = err.expose ? err.message : HIDDEN_MESSAGE;
  return { status: err.status, headers, body: { errors: [{ code: err.registryCode, message }], error: err.code, error_description: message } };
}
