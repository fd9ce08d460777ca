import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallbackAuthenticator, CallbackResult } from '../../src/authn/authenticator.js';

/** A GitHub user the stand-in knows. */
export interface GithubUser {
  login: string;
  id: number;
  orgs: string[];
  /** Teams as `org/team`. Default none. */
  teams?: string[];
}

/** A small HTTP server speaking GitHub's OAuth web flow and the `/user`, `/user/orgs` REST shapes. */
export interface GithubStandIn {
  /** Base URL; OAuth lives at `/login/oauth/...`, the REST API under `/api`. */
  url: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** While on, the REST API answers 403 "API rate limit exceeded", as GitHub does. */
  rateLimited(on: boolean): void;
  /** A new OAuth token of `login` (`gho_…`), as a user could give Wharf as a password. */
  tokenFor(login: string): string;
  close(): Promise<void>;
}

/**
 * One page of a list as GitHub's REST API serves it: `per_page` (default 30, at most 100) and
 * `page` (from 1), with a Link header naming the next and the last page while there is more.
 */
export function githubPage<T>(items: readonly T[], requestUrl: URL): { items: T[]; link: string | undefined } {
  const perPage = Math.min(Number(requestUrl.searchParams.get('per_page') ?? 30) || 30, 100);
  const page = Math.max(Number(requestUrl.searchParams.get('page') ?? 1) || 1, 1);
  const last = Math.max(Math.ceil(items.length / perPage), 1);
  const at = (n: number) => {
    const url = new URL(requestUrl);
    url.searchParams.set('per_page', String(perPage));
    url.searchParams.set('page', String(n));
    return url.href;
  };
  const link = page < last ? `<${at(page + 1)}>; rel="next", <${at(last)}>; rel="last"` : undefined;
  return { items: items.slice((page - 1) * perPage, page * perPage), link };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Starts the stand-in. `/login/oauth/authorize` shows a page listing the users, one "Authorize
 * as <login>" button each (the browser test clicks one); the token endpoint checks the client
 * secret, the code, the redirect URI and the PKCE verifier, as GitHub does.
 */
export async function startGithubStandIn(users: GithubUser[]): Promise<GithubStandIn> {
  const clientId = 'Iv1.test';
  let limited = false;
  const clientSecret = randomBytes(16).toString('hex');
  const codes = new Map<string, { login: string; redirectUri: string; challenge: string | null }>();
  const tokens = new Map<string, string>();
  let base = 'http://127.0.0.1';
  const tokenFor = (login: string) => {
    const token = `gho_${randomBytes(16).toString('hex')}`;
    tokens.set(token, login);
    return token;
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      const list = (items: readonly unknown[]) => {
        const page = githubPage(items, new URL(req.url ?? '/', base));
        return json(200, page.items, page.link ? { link: page.link } : {});
      };
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
        if (url.searchParams.get('client_id') !== clientId) return json(400, { error: 'unknown client' });
        const params = new URLSearchParams(url.searchParams);
        const buttons = users
          .map((u) => `<form method="post" action="/login/oauth/authorize?${escapeHtml(params.toString())}"><input type="hidden" name="login" value="${escapeHtml(u.login)}"><button type="submit">Authorize as ${escapeHtml(u.login)}</button></form>`)
          .join('\n');
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end(`<!doctype html><title>Authorize application</title><h1>GitHub stand-in</h1>${buttons}`);
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/authorize') {
        const login = new URLSearchParams(body).get('login') ?? '';
        const code = randomBytes(10).toString('hex');
        codes.set(code, { login, redirectUri: url.searchParams.get('redirect_uri') ?? '', challenge: url.searchParams.get('code_challenge') });
        const target = new URL(url.searchParams.get('redirect_uri') ?? '');
        target.searchParams.set('code', code);
        target.searchParams.set('state', url.searchParams.get('state') ?? '');
        res.writeHead(302, { location: target.href });
        return res.end();
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        const form = new URLSearchParams(body);
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return json(401, { error: 'incorrect_client_credentials' });
        if (!grant || grant.redirectUri !== form.get('redirect_uri')) return json(400, { error: 'bad_verification_code' });
        const verifier = form.get('code_verifier') ?? '';
        if (grant.challenge && createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) return json(400, { error: 'invalid_grant' });
        return json(200, { access_token: tokenFor(grant.login), token_type: 'bearer', scope: 'read:user,read:org' });
      }
      const login = tokens.get((req.headers.authorization ?? '').replace(/^(Bearer|token) /i, ''));
      const user = users.find((u) => u.login === login);
      if (url.pathname.startsWith('/api/') && limited) {
        res.setHeader('x-ratelimit-remaining', '0');
        return json(403, { message: 'API rate limit exceeded for user ID 1.' });
      }
      if (url.pathname.startsWith('/api/') && !user) return json(401, { message: 'Bad credentials' });
      if (url.pathname === '/api/user') return json(200, { login: user!.login, id: user!.id, type: 'User' });
      if (url.pathname === '/api/user/orgs') return list(user!.orgs.map((o) => ({ login: o })));
      if (url.pathname === '/api/user/teams') return list((user!.teams ?? []).map((t) => ({ slug: t.slice(t.indexOf('/') + 1), organization: { login: t.slice(0, t.indexOf('/')) } })));
      json(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = url;
  return { url, apiUrl: `${url}/api`, clientId, clientSecret, rateLimited: (on) => void (limited = on), tokenFor, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * A whole browser login through the stand-in's OAuth flow, without a browser: `provider` sends
 * the user to the authorize page, `login` approves, and the callback comes back with the code.
 */
export async function signInThroughStandIn(provider: CallbackAuthenticator, login: string): Promise<CallbackResult> {
  const transaction = { state: randomBytes(8).toString('hex'), secrets: provider.prepare() };
  const authorize = await provider.loginUrl('http://127.0.0.1:1/login/github/callback', transaction);
  const approved = await fetch(authorize, { method: 'POST', body: new URLSearchParams({ login }), headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
  return provider.handleCallback({ url: new URL(approved.headers.get('location')!) }, transaction);
}
