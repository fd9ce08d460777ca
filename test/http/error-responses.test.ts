import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { InvalidGrantError, RequestRejectedError, ServerError, SlowDownError, TemporarilyUnavailableError, TooManyRequestsError, WharfError } from '../../src/domain/errors.js';
import { errorResponse } from '../../src/http/error-body.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

// How an error of the tree reaches a client, and that nothing else does: an unexpected failure in
// a route is a 500 with a fixed body, its message and stack only in the log.

const INTERNAL = { errors: [{ code: 'UNKNOWN', message: 'internal error' }], error: 'server_error', error_description: 'internal error' };
/** What a bug's message could hold, and must never reach a client. */
const SECRET_DETAIL = 'EACCES: open /var/lib/wharf/state.mdb (password=hunter2)';

describe('errorResponse', () => {
  it('sends a 4xx class’s message with its codes and status', () => {
    expect(errorResponse(new InvalidGrantError('refresh token is invalid, expired or revoked: log in again'), 'Wharf')).toEqual({
      status: 401,
      headers: { 'www-authenticate': 'Basic realm="Wharf"' },
      body: { errors: [{ code: 'UNAUTHORIZED', message: 'refresh token is invalid, expired or revoked: log in again' }], error: 'invalid_grant', error_description: 'refresh token is invalid, expired or revoked: log in again' },
    });
  });

  it('sends RFC 8628’s slow_down as a 400 and a rate limit as a 429 with its own code', () => {
    expect(errorResponse(new SlowDownError('polling too fast'), 'Wharf')).toEqual({
      status: 400,
      headers: {},
      body: { errors: [{ code: 'SLOW_DOWN', message: 'polling too fast' }], error: 'slow_down', error_description: 'polling too fast' },
    });
    expect(errorResponse(new TooManyRequestsError('too many failed logins from this address; try again later', 42), 'Wharf')).toEqual({
      status: 429,
      headers: { 'retry-after': '42' },
      body: { errors: [{ code: 'TOOMANYREQUESTS', message: 'too many failed logins from this address; try again later' }], error: 'too_many_requests', error_description: 'too many failed logins from this address; try again later' },
    });
  });

  it('sends a 503’s message, which its class exposes on purpose, but never its cause', () => {
    const err = new TemporarilyUnavailableError('the LDAP directory is unavailable; try again shortly', { cause: new Error(SECRET_DETAIL), retryAfterSeconds: 5 });
    const answer = errorResponse(err, 'Wharf');
    expect(answer).toEqual({
      status: 503,
      headers: { 'retry-after': '5' },
      body: { errors: [{ code: 'UNAVAILABLE', message: 'the LDAP directory is unavailable; try again shortly' }], error: 'temporarily_unavailable', error_description: 'the LDAP directory is unavailable; try again shortly' },
    });
  });

  it('hides the message of a 500, and of any 5xx class that does not say otherwise', () => {
    expect(errorResponse(new ServerError(SECRET_DETAIL), 'Wharf')).toEqual({ status: 500, headers: {}, body: INTERNAL });
    class BadGatewayError extends WharfError {
      readonly code = 'bad_gateway';
      readonly registryCode = 'UNAVAILABLE';
      readonly status = 502;
    }
    expect(errorResponse(new BadGatewayError(SECRET_DETAIL), 'Wharf').body).toEqual({ errors: [{ code: 'UNAVAILABLE', message: 'internal error' }], error: 'bad_gateway', error_description: 'internal error' });
  });

  it('takes only a 4xx for a request the server refused before routing', () => {
    expect(errorResponse(new RequestRejectedError(431, 'request headers too large'), 'Wharf').status).toBe(431);
    expect(() => new RequestRejectedError(500, 'x')).toThrow(RangeError);
    expect(() => new RequestRejectedError(302, 'x')).toThrow(RangeError);
  });
});

describe('an unexpected failure in a route', () => {
  let services: Services;
  let app: FastifyInstance;
  const { logger, lines } = captureLog('info');

  beforeAll(async () => {
    const config = parseConfig(
      { federation: { providers: [{ type: 'github', clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }] } },
      {},
    );
    services = createServices(config, { store: tempStore(), logger, keys: (await testKeys()).store, hashKey: randomBytes(32), env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret' } });
    app = await buildApp(services, { publicUrl: 'https://auth.example.com' });
    // A bug below the routes: a plain Error, not one of the tree.
    services.refreshTokens.revoke = async () => {
      throw new Error(SECRET_DETAIL);
    };
    services.deviceFlow.start = async () => {
      throw new TypeError(SECRET_DETAIL);
    };
  });
  afterAll(() => shutDown(app, services));

  const form = (url: string, payload: string) => app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload });

  it('answers 500 with the generic body and nothing of the message or stack, and logs it whole', async () => {
    const res = await form('/token/revoke', 'token=wharf_rt_x');
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.json()).toEqual(INTERNAL);
    expect(res.body).not.toMatch(/EACCES|hunter2|state\.mdb|\bat /);
    // The operator gets what the client did not: the message and where it came from.
    const logged = lines.find((l) => l.msg === 'request failed' && (l.err as { message?: string } | undefined)?.message === SECRET_DETAIL);
    expect((logged?.err as { stack?: string } | undefined)?.stack).toMatch(/^Error: EACCES[^\n]*\n\s+at /);
  });

  it('answers the same in the browser pages’ scope (the device CLI’s JSON endpoints)', async () => {
    const res = await form('/device/code', 'client_id=wharf-cli');
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual(INTERNAL);
    expect(res.body).not.toMatch(/EACCES|hunter2|TypeError/);
  });
});
