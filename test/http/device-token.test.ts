import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { CLI_CLIENT_ID, pollForToken } from '../../src/client/login/device-client.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';
import { shutDown } from '../support/shut-down.js';

// The RFC 8628 token endpoint of device login as the CLI meets it: every answer that yields no
// credential is a 400 token error (RFC 6749 §5.2) whose whole body is checked, and `wharf login`'s
// own polling client reads them as meant (slow_down lengthens its interval).
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** A whole number of the start limiter's 600 s windows, so its Retry-After is exactly 600. */
const START = 1_800_000_000_000;
const alice = { account: 'alice', provider: 'github', subject: '1', attributes: { orgs: ['acme'] } };

let clock = START;
let services: Services;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  const config = parseConfig(
    {
      federation: {
        providers: [{ type: 'github', clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }],
        device: { maxStartsPerIp: 2, intervalSeconds: 5 },
      },
    },
    {},
  );
  const now = () => clock;
  services = createServices(config, { store: tempStore(now), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret' }, now });
  app = await buildApp(services, { publicUrl: 'https://auth.example.com' });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => shutDown(app, services));

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
/** The sealed tokens of alice's GitHub login, as the callback keeps them: an OAuth app's token lets her credentials be re-checked, so they get their full life. */
const githubLogin = () => services.sealUpstream('github', { accessToken: 'gho_test' });
let nextAddress = 1;

/** A device code started from an address of its own (starts are limited per address). */
async function startDevice(): Promise<{ device_code: string; user_code: string; interval: number }> {
  const res = await app.inject({ method: 'POST', url: '/device/code', headers: FORM, payload: `client_id=${CLI_CLIENT_ID}`, remoteAddress: `10.20.0.${nextAddress++}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const poll = (deviceCode: string, grantType = DEVICE_GRANT) =>
  app.inject({ method: 'POST', url: '/device/token', headers: FORM, payload: new URLSearchParams({ grant_type: grantType, device_code: deviceCode, client_id: CLI_CLIENT_ID }).toString() });

const body = (error: string, code: string, message: string) => ({ errors: [{ code, message }], error, error_description: message });

/** A 400 token error: JSON, no challenge, no Retry-After, and exactly this body. */
function expectTokenError(res: Awaited<ReturnType<typeof poll>>, expected: ReturnType<typeof body>): void {
  expect(res.statusCode, res.body).toBe(400);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(res.headers['www-authenticate']).toBeUndefined();
  expect(res.headers['retry-after']).toBeUndefined();
  expect(res.json()).toEqual(expected);
}

describe('POST /device/token errors (RFC 8628 §3.5)', () => {
  it('answers authorization_pending, then slow_down when polled before the interval is up', async () => {
    const { device_code } = await startDevice();
    expectTokenError(await poll(device_code), body('authorization_pending', 'AUTHORIZATION_PENDING', 'waiting for the user to approve'));
    clock += 4_000;
    expectTokenError(await poll(device_code), body('slow_down', 'SLOW_DOWN', 'polling too fast: the interval is now 5 seconds longer'));
    // The interval is 10 s from here on: 10 s later is pending again, not slow_down.
    clock += 10_000;
    expectTokenError(await poll(device_code), body('authorization_pending', 'AUTHORIZATION_PENDING', 'waiting for the user to approve'));
  });

  it('answers access_denied once the person denied, and expired_token for the used code after that', async () => {
    const { device_code, user_code } = await startDevice();
    expect(await services.deviceFlow.decide(user_code, { approve: false })).toBe(true);
    expectTokenError(await poll(device_code), body('access_denied', 'ACCESS_DENIED', 'the user denied the request'));
    expectTokenError(await poll(device_code), body('expired_token', 'EXPIRED_TOKEN', 'the device code expired or is unknown: start again'));
  });

  it('answers expired_token for an unknown code and for one past its lifetime', async () => {
    expectTokenError(await poll(randomBytes(32).toString('base64url')), body('expired_token', 'EXPIRED_TOKEN', 'the device code expired or is unknown: start again'));
    const { device_code } = await startDevice();
    clock += 601_000; // the default lifetime is 600 s
    expectTokenError(await poll(device_code), body('expired_token', 'EXPIRED_TOKEN', 'the device code expired or is unknown: start again'));
  });

  it('answers another grant_type with unsupported_grant_type', async () => {
    const { device_code } = await startDevice();
    expectTokenError(await poll(device_code, 'refresh_token'), body('unsupported_grant_type', 'UNSUPPORTED', `grant_type must be ${DEVICE_GRANT}`));
  });

  it('hands out a credential once approved (so the errors above are not an artefact)', async () => {
    const { device_code, user_code } = await startDevice();
    expect(await services.deviceFlow.decide(user_code, { approve: true, identity: alice, upstream: githubLogin() })).toBe(true);
    const res = await poll(device_code);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 30 * 86_400, account: 'alice' });
  });
});

describe('POST /device/code past the per-address limit', () => {
  it('answers 429 too_many_requests with Retry-After, not RFC 8628’s slow_down', async () => {
    const start = () => app.inject({ method: 'POST', url: '/device/code', headers: FORM, payload: `client_id=${CLI_CLIENT_ID}`, remoteAddress: '10.21.0.1' });
    expect((await start()).statusCode).toBe(200);
    expect((await start()).statusCode).toBe(200);
    const refused = await start();
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe(String(600 - ((clock / 1000) % 600)));
    expect(refused.json()).toEqual(body('too_many_requests', 'TOOMANYREQUESTS', 'too many device logins started from this address; wait a few minutes'));
  });
});

describe('wharf login polling this endpoint', () => {
  it('lengthens its interval by 5 s for every slow_down and ends with the credential once approved', async () => {
    const { device_code, user_code } = await startDevice();
    const sleeps: number[] = [];
    let answers = 0;
    const result = await pollForToken(
      // The client is told 1 s while Wharf expects 5 s, so Wharf keeps answering slow_down.
      { tokenUrl: `${base}/device/token`, deviceCode: device_code, intervalSeconds: 1, expiresInSeconds: 600 },
      {
        fetch: async (input, init) => {
          answers += 1;
          if (answers === 4) await services.deviceFlow.decide(user_code, { approve: true, identity: alice, upstream: githubLogin() });
          return fetch(input, init);
        },
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
      },
    );
    expect(result).toEqual({ kind: 'ok', token: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 30 * 86_400, account: 'alice' } });
    // pending (first poll), then slow_down, slow_down: 1 s, 1 s, 6 s, 11 s. A slow_down sent as a
    // 429 would have been retried with backoff (1 s + 1 s...) and never lengthened the interval.
    expect(sleeps).toEqual([1_000, 1_000, 6_000, 11_000]);
  });
});
