import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { InvalidRequestError, NotFoundError, RequestRejectedError, ServerError, TemporarilyUnavailableError, UnsupportedMediaTypeError, WharfError } from '../domain/errors.js';
import { errorResponse } from './error-body.js';
import { html, page } from './pages/html.js';

// Fastify's own 4xx errors by status, with messages of ours: theirs can echo request bytes back.
const FRAMEWORK_REJECTIONS: Record<number, () => WharfError> = {
  400: () => new InvalidRequestError('malformed request'),
  404: () => new NotFoundError('not found'),
  405: () => new RequestRejectedError(405, 'method not allowed'),
  413: () => new RequestRejectedError(413, 'request body too large'),
  414: () => new RequestRejectedError(414, 'request URI too long'),
  415: () => new UnsupportedMediaTypeError('unsupported content type: send application/x-www-form-urlencoded'),
  431: () => new RequestRejectedError(431, 'request headers too large'),
};

// Errors Node's HTTP parser raises before a request exists, by their code; anything else it
// refuses (garbage bytes, a NUL in the request line) is a malformed request.
const PARSER_REJECTIONS: Record<string, () => WharfError> = {
  HPE_HEADER_OVERFLOW: () => new RequestRejectedError(431, 'request headers too large'),
  ERR_HTTP_REQUEST_TIMEOUT: () => new RequestRejectedError(408, 'request timed out'),
};

/**
 * Anything thrown, as an error of the tree: a 4xx fastify raised becomes ours by its status, and
 * everything else (a bug, a library's error) a `ServerError` holding it as `cause`.
 */
function asWharfError(err: unknown): WharfError {
  if (err instanceof WharfError) return err;
  const status = (err as Partial<FastifyError> | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return FRAMEWORK_REJECTIONS[status]?.() ?? new RequestRejectedError(status, 'invalid request');
  return new ServerError('unexpected failure', { cause: err });
}

/** Sends `err` through the one mapping of the tree. */
function sendError(reply: FastifyReply, err: WharfError, basicRealm: string): FastifyReply {
  const { status, headers, body } = errorResponse(err, basicRealm);
  return reply.status(status).headers(headers).send(body);
}

/** Maps every error to the one error shape; 5xx details go to the log only. */
export const errorHandler = fp(async (app: FastifyInstance, options: { basicRealm: string }) => {
  app.setErrorHandler((thrown: FastifyError | WharfError, request, reply) => {
    const err = asWharfError(thrown);
    if (err.status >= 500) logFailure(request, err);
    else if (!(thrown instanceof WharfError)) request.log.info({ code: thrown.code, status: err.status }, 'client error');
    return sendError(reply, err, options.basicRealm);
  });

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, new NotFoundError(`no route for ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`), options.basicRealm);
  });
});

/** fastify's `frameworkErrors`: what it refuses before routing (a bad percent-encoded path...), in the same shape. */
export function frameworkErrorAnswer(basicRealm: string) {
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void => {
    const status = error.statusCode;
    void sendError(reply, typeof status === 'number' && status >= 400 && status < 500 ? asWharfError(error) : new InvalidRequestError('malformed request'), basicRealm);
  };
}

/**
 * Node's `clientError`: a request its parser refused (oversized headers, garbage bytes) has no
 * fastify reply, so the answer is written on the socket, through the same mapping.
 */
export function clientErrorAnswer(basicRealm: string) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (socket.destroyed) return;
    // Only the HTTP parser's refusals get an HTTP answer. A socket error (a reset) or a TLS
    // handshake that failed or timed out has no HTTP exchange to answer in: written to a TLS socket
    // before its handshake, the answer would wait for ever, and the connection with it.
    const parserError = err.code !== undefined && (err.code.startsWith('HPE_') || Object.hasOwn(PARSER_REJECTIONS, err.code));
    if (!parserError || !socket.writable) return void socket.destroy();
    const answer = (err.code !== undefined ? PARSER_REJECTIONS[err.code]?.() : undefined) ?? new InvalidRequestError('malformed HTTP request');
    const { status, headers, body } = errorResponse(answer, basicRealm);
    const json = JSON.stringify(body);
    const head = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(json)}`,
      'Connection: close',
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.end(`${head.join('\r\n')}\r\n\r\n${json}`);
    // Closed once the answer is written: with only its own side ended, the socket stays open for
    // as long as the client keeps its side open (a client that timed out, trickling on for ever),
    // and the header timeout no longer watches it.
    socket.destroySoon();
  };
}

/**
 * An outage (a store, Redis or platform that does not answer) is an expected condition, logged as
 * one line with its cause, not a stack trace per request; anything else is a bug, logged whole.
 */
function logFailure(request: FastifyRequest, err: WharfError): void {
  if (err instanceof TemporarilyUnavailableError) {
    request.log.error({ event: 'request_unavailable', reason: err.message, cause: err.cause instanceof Error ? err.cause.message : undefined }, 'request failed');
  } else {
    request.log.error({ err: err instanceof ServerError && err.cause !== undefined ? err.cause : err }, 'request failed');
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
  if (err.status >= 500) logFailure(request, err);
  // Never a 401 here, so no challenge needs a realm.
  const { status, headers } = errorResponse(err, '');
  const [title, text] =
    status === 429
      ? ['Too many attempts', 'Too many sign-ins were started from your address. Wait a few minutes, then try again.']
      : ['Temporarily unavailable', 'Wharf cannot reach its records right now, so nothing was changed. Try again in a moment.'];
  return reply.status(status).headers(headers).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page(title, html`<p class="error" role="alert">${text}</p>`));
}
