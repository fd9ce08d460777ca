import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { captureLog } from '../support/log-capture.js';

// A busy client repeats the same GET /token many times a second. Within a second such a repeat is
// answered from the request as sent (Authorization header and URL), before anything is parsed:
// these tests pin down that nothing else changes for the client.

const password = randomBytes(9).toString('base64url');
const log = captureLog('info');
let clock = Date.parse('2026-11-23T12:00:00Z');
let app: FastifyInstance;
let services: Services;

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const URL = '/token?service=registry&scope=repository:alice/app:pull';
const get = (headers: Record<string, string | string[]>, url = URL, remoteAddress = '10.0.0.1') => app.inject({ method: 'GET', url, headers, remoteAddress });
const jti = (body: { token: string }) => decodeJwt(body.token).jti;
/** Decisions made: each writes a token_issued audit line (the minter may still hand out a recent token). */
const decisions = () => log.events('token_issued');

async function tokenRequestsCounted(): Promise<number> {
  const metric = (await services.metrics.registry.getSingleMetric('wharf_token_requests_total')!.get()).values;
  return metric.filter((v) => v.labels.grant_type === 'get').reduce((sum, v) => sum + v.value, 0);
}

beforeAll(async () => {
  const config = parseConfig(
    {
      authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 4) }, bob: { passwordHash: await bcrypt.hash(password, 4) } } }],
    },
    {},
  );
  services = createServices(config, { store: tempStore(), logger: log.logger, keys: (await testKeys()).store, hashKey: randomBytes(32), now: () => clock });
  app = await buildApp(services);
});
afterAll(async () => app?.close());

describe('a GET /token repeated within a second', () => {
  it('gets the same token, and still counts in the token metrics', async () => {
    const before = await tokenRequestsCounted();
    const decided = decisions().length;
    const first = await get({ authorization: basic('alice', password) });
    const again = await get({ authorization: basic('alice', password) });
    expect(decisions().length).toBe(decided + 1);
    expect(first.statusCode).toBe(200);
    expect(again.statusCode).toBe(200);
    expect(jti(again.json())).toBe(jti(first.json()));
    expect(again.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(again.json()).toMatchObject({ expires_in: first.json().expires_in, issued_at: first.json().issued_at });
    expect(await tokenRequestsCounted()).toBe(before + 2);
  });

  it('is never answered for another password, another user, another URL or another address', async () => {
    const first = await get({ authorization: basic('alice', password) });
    expect((await get({ authorization: basic('alice', `${password}x`) })).statusCode).toBe(401);
    const bob = await get({ authorization: basic('bob', password) });
    expect(decodeJwt(bob.json().token).sub).toBe('bob');
    const push = await get({ authorization: basic('alice', password) }, `${URL},push`);
    expect(decodeJwt(push.json().token).access).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    expect(first.statusCode).toBe(200);
    const decided = decisions().length;
    expect((await get({ authorization: basic('alice', password) }, URL, '10.0.0.2')).statusCode).toBe(200);
    expect(decisions().slice(decided).map((l) => l.clientIp)).toEqual(['10.0.0.2']);
  });

  it('hands each of many different requests arriving together its own answer, then again its own', async () => {
    // Decided in one turn, after all were read: each must be kept under its own name, not the
    // name of the last one read.
    const requests = ['alice', 'bob'].flatMap((user) =>
      ['app', 'lib', 'web'].map((repo, i) => ({ user, url: `/token?service=registry&scope=repository:${user}/${repo}:pull`, ip: `10.0.1.${i + 1}` })),
    );
    const send = () => Promise.all(requests.map((r) => get({ authorization: basic(r.user, password) }, r.url, r.ip)));
    const decided = decisions().length;
    const first = await send();
    expect(decisions().length).toBe(decided + requests.length);
    const again = await send();
    expect(decisions().length).toBe(decided + requests.length);
    for (const [i, r] of requests.entries()) {
      const claims = decodeJwt(again[i]!.json().token);
      expect(claims.sub).toBe(r.user);
      expect(claims.access).toEqual([{ type: 'repository', name: r.url.split(':')[1], actions: ['pull'] }]);
      expect(claims.jti).toBe(jti(first[i]!.json()));
    }
  });

  it('tells an empty Authorization header from none: anonymous is answered, an empty header is a 401', async () => {
    const anonymous = await get({}, `${URL}&anon=1`);
    expect(anonymous.statusCode).toBe(200);
    expect(decodeJwt(anonymous.json().token).sub).toBe('');
    const empty = await get({ authorization: '' }, `${URL}&anon=1`);
    expect(empty.statusCode).toBe(401);
    expect(empty.headers['www-authenticate']).toBe('Basic realm="Wharf"');
    const unsupported = 'unsupported authorization scheme "": use HTTP Basic with your username and password or token';
    expect(empty.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: unsupported }], error: 'unauthorized', error_description: unsupported });
  });

  it('still refuses a second Authorization header, even when the first is one just answered', async () => {
    expect((await get({ authorization: basic('alice', password) })).statusCode).toBe(200);
    const doubled = await get({ authorization: [basic('alice', password), basic('bob', password)] });
    expect(doubled.statusCode).toBe(400);
    expect(doubled.json()).toEqual({ errors: [{ code: 'INVALID_REQUEST', message: 'more than one Authorization header' }], error: 'invalid_request', error_description: 'more than one Authorization header' });
  });

  it('counts expires_in down by the second, whatever the number of repeats within one', async () => {
    clock = Math.floor(clock / 1000) * 1000 + 5100; // 100 ms into a second, past any earlier answer's
    const first = (await get({ authorization: basic('alice', password) })).json();
    clock += 300;
    const sameSecond = [(await get({ authorization: basic('alice', password) })).json(), (await get({ authorization: basic('alice', password) })).json()];
    clock += 650; // the next second, still within the answer's reuse window
    const nextSecond = [(await get({ authorization: basic('alice', password) })).json(), (await get({ authorization: basic('alice', password) })).json()];
    expect(new Set([first, ...sameSecond, ...nextSecond].map(jti)).size).toBe(1);
    expect(sameSecond.map((b) => b.expires_in)).toEqual([first.expires_in, first.expires_in]);
    expect(nextSecond.map((b) => b.expires_in)).toEqual([first.expires_in - 1, first.expires_in - 1]);
  });

  it('gets a new token once its second is over, or as soon as the account is invalidated', async () => {
    await get({ authorization: basic('alice', password) });
    const decided = decisions().length;
    clock += 1500;
    expect((await get({ authorization: basic('alice', password) })).statusCode).toBe(200);
    expect(decisions().length).toBe(decided + 1);
    await services.invalidator.invalidate({ account: 'alice' }, 'http');
    expect((await get({ authorization: basic('alice', password) })).statusCode).toBe(200);
    expect(decisions().length).toBe(decided + 2);
    expect((await get({ authorization: basic('alice', password) })).statusCode).toBe(200);
    expect(decisions().length).toBe(decided + 2);
  });

  it('writes no access-log lines for token requests, while other routes keep theirs with a request id', async () => {
    log.clear();
    await get({ authorization: basic('alice', password) });
    await get({ authorization: basic('alice', password) });
    await app.inject({ method: 'GET', url: '/healthz' });
    const access = log.lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed');
    expect(access.length).toBeGreaterThan(0);
    expect(access.filter((l) => l.msg === 'incoming request').map((l) => (l.req as { url: string }).url)).toEqual(['/healthz']);
    expect(access.every((l) => typeof l.reqId === 'string')).toBe(true);
  });
});

describe('what a token request writes through its request logger', () => {
  it('an error line with its request id; nothing at info, not even for a client error fastify refused', async () => {
    log.clear();
    const malformed = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/json' }, payload: '{' });
    expect(malformed.statusCode).toBe(400);
    expect(log.lines).toEqual([]);
    // The same refusal on a route at the default level is a line.
    await app.inject({ method: 'POST', url: '/token/revoke', headers: { 'content-type': 'application/json' }, payload: '{' });
    expect(log.lines.filter((l) => l.msg === 'client error')).toHaveLength(1);

    log.clear();
    const answer = services.tokens.answer;
    services.tokens.answer = () => Promise.reject(new Error('a bug below the route'));
    try {
      expect((await get({ authorization: basic('bob', password) })).statusCode).toBe(500);
    } finally {
      services.tokens.answer = answer;
    }
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: 50, msg: 'request failed', err: { message: 'a bug below the route' } });
    expect(log.lines[0]!.reqId).toMatch(/^req-/);
  });
});
