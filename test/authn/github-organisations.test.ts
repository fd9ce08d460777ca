import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubLoginSchema } from '../../src/authn/github/github-config.js';
import { GithubLogin } from '../../src/authn/github/github-login.js';
import { GithubTokenAuthenticator } from '../../src/authn/provider-token/github-token-authenticator.js';
import { githubTokenAuthnSchema } from '../../src/authn/provider-token/github-token-config.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { captureLog } from '../support/log-capture.js';
import { signInThroughStandIn, startGithubStandIn, type GithubStandIn } from '../support/github-standin.js';

// Both GitHub routes, the browser login and a GitHub token as password, read a user's
// organisations the same way: every page GitHub names with Link: rel="next", up to 1,000.
const orgs = (n: number) => Array.from({ length: n }, (_, i) => `org-${i}`);
let github: GithubStandIn;

beforeAll(async () => {
  github = await startGithubStandIn([
    { login: 'many', id: 1, orgs: [...orgs(150), 'acme'], teams: Array.from({ length: 40 }, (_, i) => `acme/team-${i}`) },
    { login: 'legion', id: 2, orgs: [...orgs(1000), 'acme'] },
    { login: 'outsider', id: 3, orgs: orgs(120) },
  ]);
});
afterAll(async () => github?.close());

/** Signs `login` in through the browser route. */
async function browserLogin(login: string) {
  const provider = new GithubLogin(githubLoginSchema.parse({ type: 'github', clientId: github.clientId, webUrl: github.url, apiUrl: github.apiUrl, allowedOrgs: ['acme'], fetchTeams: true }), {
    method: 'client_secret_post',
    secret: github.clientSecret,
  });
  return signInThroughStandIn(provider, login);
}

function tokenRoute() {
  const { logger, text } = captureLog('trace', { unredacted: true });
  const backend = new GithubTokenAuthenticator(githubTokenAuthnSchema.parse({ type: 'github-token', apiUrl: github.apiUrl, allowedOrgs: ['acme'] }), { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32), logger });
  return { login: (username: string, token: string) => backend.login(username, token, { clientIp: '127.0.0.1', service: 'registry' }), logs: text };
}

describe('GitHub organisation membership, on both routes', () => {
  it('finds a user in more than 100 organisations on the browser login and with a token', async () => {
    const result = await browserLogin('many');
    expect(result.kind).toBe('ok');
    const attributes = result.kind === 'ok' ? result.identity.attributes : {};
    expect((attributes.orgs as string[]).length).toBe(151);
    // Teams are paged the same way (GitHub's default page holds 30).
    expect((attributes.teams as string[]).length).toBe(40);

    const withToken = await tokenRoute().login('many', github.tokenFor('many'));
    expect(withToken.kind).toBe('ok');
    expect(withToken.kind === 'ok' && (withToken.identity.attributes.orgs as string[]).length).toBe(151);
  });

  it('refuses a user in none of the allowed organisations, however many pages they span', async () => {
    expect(await browserLogin('outsider')).toMatchObject({ kind: 'denied', reason: 'the GitHub user is not a member of an allowed organisation (acme)' });
    expect(await tokenRoute().login('outsider', github.tokenFor('outsider'))).toEqual({ kind: 'denied', reason: 'GitHub user outsider is in none of the allowed organisations (acme)' });
  });

  it('reads 1,000 organisations at most, on both routes alike, and the token route logs it', async () => {
    expect((await browserLogin('legion')).kind).toBe('denied');
    const route = tokenRoute();
    expect((await route.login('legion', github.tokenFor('legion'))).kind).toBe('denied');
    expect(route.logs()).toContain('github_orgs_truncated');
  });
});
