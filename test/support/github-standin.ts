import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A GitHub user the stand-in knows. */
export interface GithubUser {
  login: string;
  id: number;
  orgs: string[];
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
  close(): Promise<void>;
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
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
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
        const token = `gho_${randomBytes(16).toString('hex')}`;
        tokens.set(token, grant.login);
        return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,read:org' });
      }
      const login = tokens.get((req.headers.authorization ?? '').replace(/^(Bearer|token) /i, ''));
      const user = users.find((u) => u.login === login);
      if (url.pathname.startsWith('/api/') && limited) {
        res.setHeader('x-ratelimit-remaining', '0');
        return json(403, { message: 'API rate limit exceeded for user ID 1.' });
      }
      if (url.pathname.startsWith('/api/') && !user) return json(401, { message: 'Bad credentials' });
      if (url.pathname === '/api/user') return json(200, { login: user!.login, id: user!.id, type: 'User' });
      if (url.pathname === '/api/user/orgs') return json(200, user!.orgs.map((o) => ({ login: o })));
      if (url.pathname === '/api/user/teams') return json(200, []);
      json(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, apiUrl: `${url}/api`, clientId, clientSecret, rateLimited: (on) => void (limited = on), close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
