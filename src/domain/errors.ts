/**
 * The one error tree. Each class carries the OAuth-style code, the distribution
 * `errors[].code`, and the HTTP status; the HTTP layer maps them in one place.
 * `expose` is false for 5xx-class failures so their messages never reach a client.
 */
export abstract class WharfError extends Error {
  /** OAuth 2.0 / RFC 6749-style error code, stable across releases. */
  abstract readonly code: string;
  /** Code used in the distribution error body (`{"errors":[{"code":...}]}`). */
  abstract readonly registryCode: string;
  abstract readonly status: number;
  /** Whether the message may be shown to the client. */
  readonly expose: boolean = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Malformed parameters: bad scope, bad header, repeated parameter... */
export class InvalidRequestError extends WharfError {
  readonly code = 'invalid_request';
  readonly registryCode = 'INVALID_REQUEST';
  readonly status = 400;
}

/** A `grant_type` the token endpoint does not implement. */
export class UnsupportedGrantTypeError extends WharfError {
  readonly code = 'unsupported_grant_type';
  readonly registryCode = 'UNSUPPORTED';
  readonly status = 400;
}

/** Bad credentials. Answered with `WWW-Authenticate: Basic` so `docker login` shows the message. */
export class UnauthorizedError extends WharfError {
  readonly code = 'unauthorized';
  readonly registryCode = 'UNAUTHORIZED';
  readonly status = 401;
}

/**
 * A refresh token that is unknown, expired, revoked or bound elsewhere. 401 rather than
 * RFC 6749's 400 because registry clients only surface the message of a 401.
 */
export class InvalidGrantError extends WharfError {
  readonly code = 'invalid_grant';
  readonly registryCode = 'UNAUTHORIZED';
  readonly status = 401;
}

/** The request is understood but refused by policy (e.g. a disabled feature). */
export class DeniedError extends WharfError {
  readonly code = 'denied';
  readonly registryCode = 'DENIED';
  readonly status = 403;
}

/** Too many attempts; `retryAfterSeconds` becomes the `Retry-After` header. */
export class TooManyRequestsError extends WharfError {
  readonly code = 'slow_down';
  readonly registryCode = 'TOOMANYREQUESTS';
  readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/**
 * An upstream needed for the decision is down and nothing cached can stand in for it, or Wharf
 * is at a capacity bound; `retryAfterSeconds`, when known, becomes the `Retry-After` header.
 */
export class TemporarilyUnavailableError extends WharfError {
  readonly code = 'temporarily_unavailable';
  readonly registryCode = 'UNAVAILABLE';
  readonly status = 503;
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** A bug or an unexpected failure; its message is logged, never sent. */
export class ServerError extends WharfError {
  readonly code = 'server_error';
  readonly registryCode = 'UNKNOWN';
  readonly status = 500;
  override readonly expose = false;
}

/** A body in a content type the endpoint does not take. */
export class UnsupportedMediaTypeError extends WharfError {
  readonly code = 'invalid_request';
  readonly registryCode = 'UNSUPPORTED';
  readonly status = 415;
}
