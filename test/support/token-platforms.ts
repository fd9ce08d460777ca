import type { FakeHandler, FakeRequest } from './fake-platform.js';
import { githubPage } from './github-standin.js';

/*
 * The provider APIs the token-as-password backends call, as handlers for a fake platform: each
 * answers for the tokens a test put in its map, as the provider does, and refuses the rest the
 * way the provider refuses them.
 */

/** The bearer token a request carries, or '' without one. */
export function bearerOf(request: FakeRequest): string {
  return /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1] ?? '';
}

/** A user the fake GitHub REST API knows by one of their tokens. */
export interface FakeGithubUser {
  login: string;
  id: number;
  /** Organisation logins, served a page at a time by GET /user/orgs. Default none. */
  orgs?: string[];
  /** GET /user/orgs answers 403, as for a token without read:org. */
  orgsForbidden?: boolean;
}

/**
 * GitHub's GET /user for the users in `users` (token → user): 401 "Bad credentials" for any other
 * token, 415 unless the request asks for `application/vnd.github+json`.
 */
export function githubUserEndpoint(users: ReadonlyMap<string, FakeGithubUser>): FakeHandler {
  return (req) => {
    const user = users.get(bearerOf(req));
    if (!user) return { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' } };
    if (req.headers.accept !== 'application/vnd.github+json') return { status: 415, body: { message: 'Unsupported Accept' } };
    return { status: 200, body: { login: user.login, id: user.id, node_id: 'MDQ6VXNlcjE=', type: 'User', site_admin: false } };
  };
}

/**
 * GitHub's GET /user/orgs for the users in `users`, paginated as GitHub does (see `githubPage`);
 * `baseUrl` is where the platform listens, for the Link header's absolute URLs.
 */
export function githubOrgsEndpoint(users: ReadonlyMap<string, FakeGithubUser>, baseUrl: () => string): FakeHandler {
  return (req) => {
    const user = users.get(bearerOf(req));
    if (!user) return { status: 401, body: { message: 'Bad credentials' } };
    if (user.orgsForbidden) return { status: 403, body: { message: 'Resource not accessible by personal access token' } };
    const page = githubPage((user.orgs ?? []).map((login, i) => ({ login, id: 9000 + i })), new URL(`${baseUrl()}${req.path}?${req.query.toString()}`));
    return { status: 200, body: page.items, ...(page.link ? { headers: { link: page.link } } : {}) };
  };
}

/**
 * Google's tokeninfo for the access tokens in `tokens` (token → its answer, in Google's shape):
 * the token comes as a bearer header (what Wharf sends) or as `access_token`; any other token
 * gets Google's 400 invalid_token.
 */
export function googleTokeninfoEndpoint(tokens: ReadonlyMap<string, Record<string, string>>): FakeHandler {
  return (req) => {
    const info = tokens.get(bearerOf(req) || (req.query.get('access_token') ?? ''));
    return info ? { status: 200, body: info } : { status: 400, body: { error: 'invalid_token', error_description: 'Invalid Value' } };
  };
}
