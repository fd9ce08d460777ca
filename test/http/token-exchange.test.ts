import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createServices, type Services } from '../../src/services.js';
import { makeAlice, type Alice } from '../support/alice.js';
import { captureLog, type LogCapture } from '../support/log-capture.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { shutDown } from '../support/shut-down.js';
import { tempStore } from '../support/store.js';

const START = Date.UTC(2026, 11, 7, 12);
let now = START;
const clock = () => now;

let alice: Alice;
let issuer: OidcIssuer;
beforeAll(async () => {
  alice = await makeAlice();
  issuer = await startOidcIssuer({ now: clock });
});
afterAll(() => shutDown(issuer));
beforeEach(() => {
  now = START;
});

interface Running {
  services: Services;
  app: FastifyInstance;
  log: LogCapture;
}
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app.close();
    await r.services.close();
  }
});

/**
 * Wharf trusting the issuer's tokens for audience `wharf` as account `${repository_owner}` (the
 * default ACL then lets account acme push and pull acme/*), plus a static user.
 */
async function wharf(extra: Record<string, unknown> = {}): Promise<Running> {
  const log = captureLog('debug');
  const config = parseConfig(
    {
      authn: [
        { type: 'static', users: { alice: { passwordHash: alice.hash } } },
        { type: 'oidc-token', issuers: [{ issuer: issuer.url, audiences: ['wharf'] }], rules: [{ issuer: issuer.url, account: '${repository_owner}', claims: { repository: 'acme/*' } }] },
      ],
      ...extra,
    } as ConfigInput,
    {},
  );
  const services = createServices(config, { store: tempStore(clock), logger: log.logger, keys: alice.keys.store, hashKey: randomBytes(32), now: clock });
  const r = { services, app: await buildApp(services), log };
  running.push(r);
  return r;
}

const exchange = (r: Running, body: object | string, contentType = 'application/json') =>
  r.app.inject({ method: 'POST', url: '/api/v1/exchange', headers: { 'content-type': contentType }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
const errorOf = (answer: { json: <T>() => T }) => answer.json<{ errors: Array<{ code: string; message: string }> }>().errors[0]!;
const basic = (account: string, secret: string) => `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}`;

/** The actions a token request with these credentials gets on `name` (asking pull and push), or the refusal. */
async function granted(r: Running, username: string, password: string, name: string): Promise<string[] | { status: number; message: string }> {
  const answer = await r.app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:pull,push`, headers: { authorization: basic(username, password) } });
  if (answer.statusCode !== 200) return { status: answer.statusCode, message: answer.json<{ error_description: string }>().error_description };
  const access = decodeJwt(answer.json<{ token: string }>().token).access as Array<{ actions: string[] }>;
  return access[0]?.actions ?? [];
}

interface Exchanged {
  username: string;
  password: string;
  registry?: string;
  repository: string;
  actions: string[];
  expires_in: number;
  expires_at: string;
}

describe('POST /api/v1/exchange', () => {
  it('hands out a credential that pulls the image’s repository only, and for no longer than the token lives', async () => {
    const r = await wharf();
    const token = await issuer.sign(issuer.githubActionsClaims(), { lifetimeSeconds: 600 });
    const answer = await exchange(r, { token, image: 'registry.example:5000/acme/app:1.0' });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    const got = answer.json<Exchanged>();
    expect(got).toMatchObject({ username: 'acme', registry: 'registry.example:5000', repository: 'acme/app', actions: ['pull'], expires_in: 600 });
    expect(got.expires_at).toBe(new Date(START + 600_000).toISOString());
    // The account may push and pull all of acme/*; the credential pulls acme/app and nothing else.
    expect(await granted(r, 'acme', token, 'acme/app')).toEqual(['pull', 'push']);
    expect(await granted(r, got.username, got.password, 'acme/app')).toEqual(['pull']);
    expect(await granted(r, got.username, got.password, 'acme/other')).toEqual([]);
    // Not under another name.
    expect(await granted(r, 'alice', got.password, 'acme/app')).toMatchObject({ status: 401 });
    // Neither the token nor the credential reaches a log line.
    expect(r.log.text()).not.toContain(token.split('.')[2]);
    expect(r.log.text()).not.toContain(got.password.slice(20));
    expect(r.log.events('credential_exchanged')).toHaveLength(1);
    expect(await r.services.metrics.registry.getSingleMetricAsString('wharf_exchanges_total')).toContain('wharf_exchanges_total{outcome="issued"} 1');
  });

  it('caps the credential at exchange.maxMinutes, and it then answers 401 saying it expired', async () => {
    const r = await wharf({ exchange: { maxMinutes: 5 } });
    const token = await issuer.sign(issuer.githubActionsClaims(), { lifetimeSeconds: 3600 });
    const got = (await exchange(r, { token, repository: 'acme/app' })).json<Exchanged>();
    expect(got.expires_in).toBe(300);
    expect(got.registry).toBeUndefined();
    now += 301_000;
    const refused = await granted(r, got.username, got.password, 'acme/app');
    expect(refused).toMatchObject({ status: 401 });
    expect((refused as { message: string }).message).toMatch(/expired at .*exchange the service-account token again/);
  });

  it('refuses a token that is expired, for another audience, or from an issuer not configured, saying why', async () => {
    const r = await wharf();
    const expired = await issuer.sign(issuer.githubActionsClaims(), { iat: Math.floor(START / 1000) - 3600, lifetimeSeconds: 600 });
    const otherAudience = await issuer.sign(issuer.githubActionsClaims({ aud: 'someone-else' }));
    const stranger = await startOidcIssuer({ now: clock });
    try {
      const foreign = await stranger.sign(stranger.githubActionsClaims());
      for (const [token, why] of [
        [expired, /expired/i],
        [otherAudience, /audience/i],
        [foreign, /not accepted as one|issuer/i],
      ] as const) {
        const answer = await exchange(r, { token, image: 'registry.example:5000/acme/app' });
        expect(answer.statusCode).toBe(401);
        expect(errorOf(answer)).toMatchObject({ code: 'UNAUTHORIZED' });
        expect(errorOf(answer).message).toMatch(why);
      }
    } finally {
      await stranger.close();
    }
    expect(await r.services.metrics.registry.getSingleMetricAsString('wharf_exchanges_total')).toContain('wharf_exchanges_total{outcome="refused"} 3');
  });

  it('refuses a repository outside the service account’s wharf/pull annotation: annotations narrow, never widen', async () => {
    const r = await wharf();
    const token = await issuer.sign(issuer.githubActionsClaims());
    const narrowed = await exchange(r, { token, image: 'registry.example:5000/acme/app', annotations: { 'wharf/pull': 'acme/base-*, acme/tools' } });
    expect(narrowed.statusCode).toBe(403);
    expect(errorOf(narrowed)).toMatchObject({ code: 'DENIED' });
    expect(errorOf(narrowed).message).toContain('wharf/pull');
    const inside = await exchange(r, { token, image: 'registry.example:5000/acme/base-node:20', annotations: { 'wharf/pull': 'acme/base-*, acme/tools' } });
    expect(inside.statusCode).toBe(200);
    // An annotation naming a repository the account may not reach widens nothing: the decision still refuses it.
    const wider = (await exchange(r, { token, repository: 'bob/secret', annotations: { 'wharf/pull': '*' } })).json<Exchanged>();
    expect(await granted(r, wider.username, wider.password, 'bob/secret')).toEqual([]);
    // Emptied, the annotation allows nothing rather than everything.
    expect((await exchange(r, { token, repository: 'acme/app', annotations: { 'wharf/pull': ' , ' } })).statusCode).toBe(403);
  });

  it('answers malformed requests with 400 or 415 in the registry’s error shape, never echoing the token', async () => {
    const r = await wharf();
    const token = await issuer.sign(issuer.githubActionsClaims());
    const cases: Array<[object | string, number, RegExp, string?]> = [
      [{ token, image: 'registry.example:5000/Acme/App' }, 400, /repository is not a valid name/],
      [{ token, image: 'registry.example:5000/acme/app:bad tag!' }, 400, /tag/],
      [{ token }, 400, /exactly one of "image" and "repository"/],
      [{ token, image: 'a/b', repository: 'a/b' }, 400, /exactly one/],
      [{ token, repository: 'acme/app', extra: 1 }, 400, /extra/],
      [{ token: 'alice-password', repository: 'acme/app' }, 400, /must be a JWT/],
      ['{"token": ', 400, /.+/],
      [{ token, repository: 'acme/app' }, 415, /application\/json/, 'text/plain'],
    ];
    for (const [body, status, message, type] of cases) {
      const answer = await exchange(r, body, type);
      expect(answer.statusCode, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(errorOf(answer).message).toMatch(message);
      expect(answer.body).not.toContain(token.split('.')[2]);
    }
  });

  it('exchanges ID tokens only: a static user’s password or a registry credential gets nothing', async () => {
    const r = await wharf();
    // A password shaped like a JWT is still proved as one: static users are never exchanged.
    const answer = await exchange(r, { token: 'a.b.c', repository: 'acme/app' });
    expect(answer.statusCode).toBe(401);
  });

  it('refuses a credential that was tampered with', async () => {
    const r = await wharf();
    const token = await issuer.sign(issuer.githubActionsClaims());
    const got = (await exchange(r, { token, repository: 'acme/app' })).json<Exchanged>();
    const flipped = got.password.slice(0, 30) + (got.password[30] === 'A' ? 'B' : 'A') + got.password.slice(31);
    expect(await granted(r, got.username, flipped, 'acme/app')).toMatchObject({ status: 401 });
  });

  it('is not routed when exchange.enabled is false', async () => {
    const r = await wharf({ exchange: { enabled: false } });
    expect((await exchange(r, { token: 'a.b.c', repository: 'acme/app' })).statusCode).toBe(404);
  });
});
