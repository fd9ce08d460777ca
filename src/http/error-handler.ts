import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { TemporarilyUnavailableError, TooManyRequestsError, WharfError } from '../domain/errors.js';
import { errorBody } from './error-body.js';
import { html, page } from './pages/html.js';

// Messages for fastify's own 4xx errors; theirs can echo request bytes back.
const CLIENT_ERROR_MESSAGES: Record<number, string> = {
  400: 'malformed request',
  404: 'not found',
  405: 'method not allowed',
  413: 'request body too large',
  414: 'request URI too long',
  415: 'unsupported content type: send application/x-www-form-urlencoded',
  431: 'request headers too large',
};

/** The body for a 4xx that fastify itself raised; never echoes the request. */
export function clientErrorBody(status: number) {
  const code = status === 404 ? 'not_found' : 'invalid_request';
  const registryCode = status === 404 ? 'NOT_FOUND' : status === 415 ? 'UNSUPPORTED' : 'INVALID_REQUEST';
  return errorBody(code, registryCode, CLIENT_ERROR_MESSAGES[status] ?? 'invalid request');
}

/** Maps every error to the one error shape; 5xx details go to the log only. */
export const errorHandler = fp(async (app: FastifyInstance, options: { basicRealm: string }) => {
  app.setErrorHandler((err: FastifyError | WharfError, request, reply) => {
    if (err instanceof WharfError) {
      // Every 401 carries a challenge (RFC 7235), so docker shows the message and retries with credentials.
      if (err.status === 401) reply.header('www-authenticate', `Basic realm="${options.basicRealm}"`);
      if ((err instanceof TooManyRequestsError || err instanceof TemporarilyUnavailableError) && err.retryAfterSeconds !== undefined) {
        reply.header('retry-after', String(err.retryAfterSeconds));
      }
      if (err.status >= 500) logFailure(request, err);
      const message = err.expose ? err.message : 'internal error';
      return reply.status(err.status).send(errorBody(err.code, err.registryCode, message));
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.status(500).send(errorBody('server_error', 'UNKNOWN', 'internal error'));
    }
    request.log.info({ code: err.code, status }, 'client error');
    return reply.status(status).send(clientErrorBody(status));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('not_found', 'NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`));
  });
});

/**
 * An outage (a store, Redis or platform that does not answer) is an expected condition, logged as
 * one line with its cause, not a stack trace per request; anything else is a bug, logged whole.
 */
function logFailure(request: FastifyRequest, err: WharfError): void {
  if (err instanceof TemporarilyUnavailableError) {
    request.log.error({ event: 'request_unavailable', reason: err.message, cause: err.cause instanceof Error ? err.cause.message : undefined }, 'request failed');
  } else {
    request.log.error({ err }, 'request failed');
  }
}

/** Routes among the pages that answer JSON (the device CLI's endpoints). */
const JSON_PAGE_ROUTES = ['/device/code', '/device/token'];

/**
 * For the browser pages: a refusal (429) or an outage (503) is a page a person can read, with the
 * same status and `Retry-After`, instead of JSON; everything else goes on to the one error handler.
 */
export function pageErrorHandler(err: FastifyError | WharfError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0]!;
  if (!(err instanceof WharfError) || (err.status !== 429 && err.status !== 503) || JSON_PAGE_ROUTES.includes(path)) throw err;
  if (err instanceof TooManyRequestsError) reply.header('retry-after', String(err.retryAfterSeconds));
  if (err.status >= 500) logFailure(request, err);
  const [title, text] =
    err.status === 429
      ? ['Too many attempts', 'Too many sign-ins were started from your address. Wait a few minutes, then try again.']
      : ['Temporarily unavailable', 'Wharf cannot reach its records right now, so nothing was changed. Try again in a moment.'];
  return reply.status(err.status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page(title, html`<p class="error" role="alert">${text}</p>`));
}
