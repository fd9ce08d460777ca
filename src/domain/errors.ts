/**
 * The one error tree. Each class carries the OAuth-style code, the distribution
 * `errors[].code`, and the HTTP status; the HTTP layer turns them into a response in one place.
 * A class's message reaches the client when `expose` is true: by default every 4xx and no 5xx,
 * so a bug's message (a file path, a driver's error) is logged and never sent. A 5xx class may
 * expose its message only by saying so itself, with the reason beside it.
 */
export abstract class WharfError extends Error {
  /** OAuth 2.0 / RFC 6749-style error code, stable across releases. */
  abstract readonly code: string;
  /** Code used in the distribution error body (`{"errors":[{"code":...}]}`). */
  abstract readonly registryCode: string;
  /** The HTTP status of the answer. */
  abstract readonly status: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Whether the message may be shown to the client: a 4xx's yes, a 5xx's only where its class says so. */
  get expose(): boolean {
    return this.status < 500;
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

/**
 * The answers of RFC 8628 §3.5 to a device still waiting, polling too fast, refused or expired.
 * They are token error responses of RFC 6749 §5.2, so 400 like any other: device clients
 * (`wharf login` too) read the `error` of a 400 and retry 429s blindly, so a `slow_down` sent as
 * 429 would never lengthen their interval.
 */
export abstract class DeviceTokenError extends WharfError {
  readonly status = 400;
}

/** RFC 8628: the person has not approved or denied yet; the device polls again after its interval. */
export class AuthorizationPendingError extends DeviceTokenError {
  readonly code = 'authorization_pending';
  readonly registryCode = 'AUTHORIZATION_PENDING';
}

/** RFC 8628: the device polled before its interval was up; the interval grows by 5 s for good. */
export class SlowDownError extends DeviceTokenError {
  readonly code = 'slow_down';
  readonly registryCode = 'SLOW_DOWN';
}

/** RFC 8628: the person denied the device; polling ends. */
export class AccessDeniedError extends DeviceTokenError {
  readonly code = 'access_denied';
  readonly registryCode = 'ACCESS_DENIED';
}

/** RFC 8628: the device code expired, was used, or never existed; the device starts again. */
export class ExpiredTokenError extends DeviceTokenError {
  readonly code = 'expired_token';
  readonly registryCode = 'EXPIRED_TOKEN';
}

/** Who asks is known, and may not do this (a credential without the right, a scope that would widen). */
export class ForbiddenError extends WharfError {
  readonly code = 'denied';
  readonly registryCode = 'DENIED';
  readonly status = 403;
}

/** No endpoint at that method and path. */
export class NotFoundError extends WharfError {
  readonly code = 'not_found';
  readonly registryCode = 'NOT_FOUND';
  readonly status = 404;
}

/** The name asked for is taken (a robot account's). */
export class ConflictError extends WharfError {
  readonly code = 'conflict';
  readonly registryCode = 'DENIED';
  readonly status = 409;
}

/** A body in a content type the endpoint does not take. */
export class UnsupportedMediaTypeError extends WharfError {
  readonly code = 'invalid_request';
  readonly registryCode = 'UNSUPPORTED';
  readonly status = 415;
}

/**
 * A request the HTTP server refused before any endpoint saw it (Node's parser or fastify): headers
 * or body too large (431, 413), too slow to arrive (408)... The status is theirs, and always a 4xx.
 */
export class RequestRejectedError extends WharfError {
  readonly code = 'invalid_request';
  readonly registryCode = 'INVALID_REQUEST';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    if (!Number.isInteger(status) || status < 400 || status > 499) throw new RangeError(`RequestRejectedError takes a 4xx status, not ${status}`);
    this.status = status;
  }
}

/**
 * Too many attempts (failed logins, logins under way, login starts) from an address or for an
 * account; `retryAfterSeconds` becomes the `Retry-After` header. Its own code, not RFC 8628's
 * `slow_down`: that one is a 400 telling a device to lengthen its polling interval, this one a 429.
 */
export class TooManyRequestsError extends WharfError {
  readonly code = 'too_many_requests';
  readonly registryCode = 'TOOMANYREQUESTS';
  readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    /** Which limit refused (`ip`, `account`, `device_starts`...): the metric's label and the log's, never sent to the client. */
    readonly limit?: string,
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

  /**
   * Exposed although a 5xx: its messages are written for the person ("the LDAP directory is
   * unavailable; try again shortly"), tell them whose outage it is and that retrying helps, and
   * hold nothing secret. The failure underneath stays in `cause`, which is logged, never sent.
   */
  override get expose(): boolean {
    return true;
  }
}

/**
 * A bug or an unexpected failure: anything thrown that is not of this tree, wrapped with the
 * original as `cause`. Its message is logged, never sent.
 */
export class ServerError extends WharfError {
  readonly code = 'server_error';
  readonly registryCode = 'UNKNOWN';
  readonly status = 500;
}
