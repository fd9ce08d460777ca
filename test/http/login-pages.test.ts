import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { sameSecret } from '../../src/http/session-cookies.js';
import { parseConfig } from '../../src/config/load.js';
import { createServices } from '../../src/services.js';
import { loadKeys } from '../../src/keys/key-files.js';
import { startGithubStandIn, type GithubStandIn } from '../support/github-standin.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

// The browser-login pages driven through app.inject, with the GitHub stand-in as the provider:
// where a sign-in may send the browser afterwards, what the pages allow around them, and what
// the request log keeps of the one-time values in their URLs.
const PUBLIC_URL = 'https://auth.example.com';

let app: FastifyInstance;
let github: GithubStandIn;
let keysDir: string;
const log = captureLog('info');

beforeAll(async () => {
  github = await startGithubStandIn([{ login: 'Octocat', id: 583231, orgs: ['acme'] }]);
  const config = parseConfig(
    {
      server: { publicUrl: PUBLIC_URL },
      federation: { registryHost: 'registry.example.com', providers: [{ type: 'github', clientId: github.clientId, webUrl: github.url, apiUrl: github.apiUrl, allowedOrgs: ['acme'] }] },
      log: { level: 'info' },
    },
    {},
    'login pages test',
  );
  keysDir = await mkdtemp(join(tmpdir(), 'wharf-login-pages-'));
  const keys = await loadKeys({ generatedDir: keysDir, algorithm: 'ES256', kidFormat: 'libtrust' });
  const services = createServices(config, { store: tempStore(), logger: log.logger, keys: keys.store, hashKey: randomBytes(32), env: { WHARF_GITHUB_CLIENT_SECRET: github.clientSecret } });
  app = await buildApp(services);
});

afterAll(() => shutDown(app, github, keysDir));

/** The `name=value` pairs of a response's Set-Cookie headers, as a Cookie header. */
function cookiesOf(setCookie: string | string[] | undefined): string {
  return [setCookie ?? []].flat().map((c) => c.split(';', 1)[0]).join('; ');
}

/** A whole sign-in: start with `query`, authorize at the stand-in, come back; the callback's answer. */
async function signIn(query: string) {
  const start = await app.inject({ method: 'GET', url: `/login/github${query}` });
  expect(start.statusCode).toBe(302);
  const authorize = new URL(start.headers.location!);
  const granted = await fetch(authorize, { method: 'POST', body: new URLSearchParams({ login: 'Octocat' }), redirect: 'manual' });
  const callback = new URL(granted.headers.get('location')!);
  expect(callback.origin).toBe(PUBLIC_URL);
  const done = await app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: cookiesOf(start.headers['set-cookie']) } });
  return { start, callback, done };
}

describe('return_to after sign-in', () => {
  it('goes back to a page of Wharf', async () => {
    const { done } = await signIn(`?return_to=${encodeURIComponent('/device?user_code=BCDF-GHJK')}`);
    expect(done.statusCode).toBe(302);
    expect(new URL(done.headers.location!, PUBLIC_URL).href).toBe(`${PUBLIC_URL}/device?user_code=BCDF-GHJK`);
  });

  const tricky = [
    '/\t/evil.example/phish',
    '/\n/evil.example/phish',
    '/\r\n/evil.example',
    '//evil.example/phish',
    '/\\evil.example/phish',
    '\\\\evil.example',
    '/\\/evil.example',
    '/./\\evil.example',
    'https://evil.example/phish',
    'https:evil.example',
    ' //evil.example',
    '\t//evil.example',
    'javascript:alert(1)',
    '//auth.example.com@evil.example/',
    'https://auth.example.com.evil.example/',
    'http://auth.example.com/account',
    '%2F%2Fevil.example',
    '/%2F/evil.example',
    '/%5Cevil.example',
  ];
  for (const returnTo of tricky) {
    it(`never leaves Wharf's origin for return_to=${JSON.stringify(returnTo)}`, async () => {
      const { done } = await signIn(`?return_to=${encodeURIComponent(returnTo)}`);
      expect(done.statusCode).toBe(302);
      const location = done.headers.location!;
      // What a browser does with the Location header: resolve it against the page's URL.
      expect(new URL(location, `${PUBLIC_URL}/login/github/callback`).origin).toBe(PUBLIC_URL);
      expect(location).not.toMatch(/[\t\r\n\\]/);
    });
  }

  it('keeps the target through the provider list page, and refuses a foreign one there too', async () => {
    const own = await app.inject({ method: 'GET', url: `/login?return_to=${encodeURIComponent('/account')}` });
    expect(own.body).toContain(`/login/github?return_to=${encodeURIComponent(`${PUBLIC_URL}/account`)}`);
    const foreign = await app.inject({ method: 'GET', url: `/login?return_to=${encodeURIComponent('/\t/evil.example/phish')}` });
    expect(foreign.body).not.toContain('evil.example');
  });
});

describe('what the request log keeps', () => {
  it('logs login and device URLs without the code, state or user_code in them', async () => {
    log.clear();
    const { callback } = await signIn(`?return_to=${encodeURIComponent('/account')}`);
    const code = callback.searchParams.get('code')!;
    const state = callback.searchParams.get('state')!;
    await app.inject({ method: 'GET', url: '/device?user_code=BCDF-GHJK' });
    await app.inject({ method: 'GET', url: '/device?us%65r_code=WXYZ-WXYZ' });
    await app.inject({ method: 'GET', url: `/login/github/callback?code=${code}x&state=${state}y&error=access_denied` });
    expect(log.text()).toContain('/login/github/callback');
    expect(log.text()).toContain('/device');
    for (const secret of [code, state, 'BCDF-GHJK', 'WXYZ-WXYZ']) expect(log.text()).not.toContain(secret);
    // The rest of the URL is kept, so the log still says what was asked.
    expect(log.text()).toContain('/login/github/callback?code=[redacted]&state=[redacted]&error=access_denied');
    expect(log.text()).toContain('/device?user_code=[redacted]');
  });
});

/** A signed-in browser: its cookie header and the CSRF token its pages carry. */
async function signedInBrowser() {
  const { done } = await signIn('');
  const cookie = cookiesOf(done.headers['set-cookie']);
  const account = await app.inject({ method: 'GET', url: '/account', headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(account.body)![1]!;
  return { cookie, csrf };
}

const form = (cookie: string, fields: Record<string, string>) => ({ headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });

/** The same length as `secret`, differing only in its last character. */
const nearMiss = (secret: string) => `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;

describe('pages cannot be framed by another site', () => {
  it('sends frame-ancestors none and X-Frame-Options DENY with every HTML page', async () => {
    const { cookie, csrf } = await signedInBrowser();
    const pages = [
      await app.inject({ method: 'GET', url: '/login' }),
      await app.inject({ method: 'GET', url: '/login/nobody' }),
      await app.inject({ method: 'GET', url: '/login/github/callback?code=x&state=forged' }),
      await app.inject({ method: 'GET', url: '/account', headers: { cookie } }),
      await app.inject({ method: 'POST', url: '/account/credentials', ...form(cookie, { label: 'x', csrf: nearMiss(csrf) }) }),
      await app.inject({ method: 'GET', url: '/device', headers: { cookie } }),
      await app.inject({ method: 'POST', url: '/device/confirm', ...form(cookie, { user_code: 'BCDF-GHJK', csrf }) }),
    ];
    expect(pages.map((p) => p.statusCode)).toEqual([200, 404, 400, 200, 403, 200, 400]);
    for (const p of pages) {
      expect(p.headers['content-type']).toMatch(/^text\/html/);
      expect(p.headers['content-security-policy']).toBe("frame-ancestors 'none'");
      expect(p.headers['x-frame-options']).toBe('DENY');
    }
  });
});

describe('secrets the browser sends back', () => {
  it('compares them as equal-length digests: any other value, of any length, does not match', () => {
    const secret = randomBytes(24).toString('base64url');
    expect(sameSecret(secret, secret)).toBe(true);
    expect(sameSecret(nearMiss(secret), secret)).toBe(false);
    expect(sameSecret(secret.slice(0, 10), secret)).toBe(false);
    expect(sameSecret(`${secret}x`, secret)).toBe(false);
    expect(sameSecret('', '')).toBe(false);
    expect(sameSecret(undefined, undefined)).toBe(false);
    expect(sameSecret(['x'], 'x')).toBe(false);
  });

  it('refuses account and device forms whose CSRF token is off by one character or missing', async () => {
    const { cookie, csrf } = await signedInBrowser();
    for (const wrong of [nearMiss(csrf), csrf.slice(1), '']) {
      expect((await app.inject({ method: 'POST', url: '/account/credentials', ...form(cookie, { label: 'x', csrf: wrong }) })).statusCode).toBe(403);
      expect((await app.inject({ method: 'POST', url: '/device/decide', ...form(cookie, { user_code: 'BCDF-GHJK', decision: 'approve', csrf: wrong }) })).statusCode).toBe(403);
    }
    const created = await app.inject({ method: 'POST', url: '/account/credentials', ...form(cookie, { label: 'x', csrf }) });
    expect(created.statusCode).toBe(200);
    expect(created.body).toContain('Your new credential');
    // Sign-out with a wrong token leaves the session as it was; with the right one it ends it.
    await app.inject({ method: 'POST', url: '/logout', ...form(cookie, { csrf: nearMiss(csrf) }) });
    expect((await app.inject({ method: 'GET', url: '/account', headers: { cookie } })).statusCode).toBe(200);
    await app.inject({ method: 'POST', url: '/logout', ...form(cookie, { csrf }) });
    expect((await app.inject({ method: 'GET', url: '/account', headers: { cookie } })).statusCode).toBe(302);
  });

  it('refuses a callback whose state differs from the browser’s by one character', async () => {
    const start = await app.inject({ method: 'GET', url: '/login/github' });
    const state = new URL(start.headers.location!).searchParams.get('state')!;
    const callback = await app.inject({ method: 'GET', url: `/login/github/callback?code=x&state=${nearMiss(state)}`, headers: { cookie: cookiesOf(start.headers['set-cookie']) } });
    expect(callback.statusCode).toBe(400);
    expect(callback.body).toContain('does not belong to this browser');
  });
});
