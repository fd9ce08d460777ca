import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { PasswordAuthenticator } from '../../src/authn/authenticator.js';
import { introspectionAuthnSchema } from '../../src/authn/introspection/introspection-config.js';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { githubTokenAuthnSchema } from '../../src/authn/provider-token/github-token-config.js';
import { googleTokenAuthnSchema } from '../../src/authn/provider-token/google-token-config.js';
import { createAuthenticator } from '../../src/authn/registry.js';
import { HTTP_OUTAGES, startFakePlatform, type FakeHandler, type FakePlatform, type Fault } from '../support/fake-platform.js';
import { JWKS_PATH, makeIssuerKey, startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { freePort } from '../support/ports.js';
import { githubUserEndpoint, googleTokeninfoEndpoint, type FakeGithubUser } from '../support/token-platforms.js';
import { freshDeps, passwordAuthenticatorContract, type AuthenticatorUnderTest } from './password-authenticator-contract.js';

/*
 * The contract run against the backends that take a platform's token as the password, each
 * against a real HTTP server standing in for its platform. For all of them a token of the
 * backend's own format that the platform does not know is refused (`denied`): the format already
 * says whose it is, so it is never another backend's to judge.
 */

let platform: FakePlatform;
/** The trusted ID token issuer, and one nobody trusts (its tokens are another backend's). */
let issuer: OidcIssuer;
let stranger: OidcIssuer;
let paths = 0;

beforeAll(async () => {
  [platform, issuer, stranger] = await Promise.all([startFakePlatform(), startOidcIssuer(), startOidcIssuer()]);
});
afterAll(async () => {
  await Promise.all([platform?.close(), issuer?.close(), stranger?.close()]);
});

/**
 * A fresh base path on the fake platform whose `endpoint` below it is answered by `handler`, or
 * misbehaves as `outage` says; returns the base URL.
 */
async function serve(handler: FakeHandler, outage?: Fault | 'refused', endpoint = ''): Promise<string> {
  if (outage === 'refused') return `http://127.0.0.1:${await freePort()}/nothing-listens`;
  const base = `/upstream-${++paths}`;
  platform.setHandler(`${base}${endpoint}`, handler);
  platform.setFault(`${base}${endpoint}`, outage);
  return `${platform.url}${base}`;
}

function outagesOf(make: (outage: Fault | 'refused') => Promise<AuthenticatorUnderTest>) {
  return Object.fromEntries(Object.entries(HTTP_OUTAGES).map(([name, outage]) => [name, () => make(outage)]));
}

const alnum = (n: number) => randomBytes(n * 2).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, n);

// --- introspection: RFC 7662 -------------------------------------------------------------------

const INTROSPECTION_SECRET = `intro-${randomBytes(12).toString('hex')}`;
/** Tokens the platform knows: token → claims. */
const platformTokens = new Map<string, Record<string, unknown>>();
const introspect: FakeHandler = (req) => {
  if (req.headers.authorization !== `Basic ${Buffer.from(`wharf:${INTROSPECTION_SECRET}`).toString('base64')}`) return { status: 401, body: { error: 'invalid_client' } };
  const claims = platformTokens.get(req.form?.get('token') ?? '');
  return { status: 200, body: claims ? { active: true, ...claims } : { active: false } };
};

async function introspectionBackend(outage?: Fault | 'refused'): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps({ WHARF_INTROSPECTION_CLIENT_SECRET: INTROSPECTION_SECRET });
  // Only `plat_` tokens are this platform's, so other passwords pass on to the next backend.
  const config = introspectionAuthnSchema.parse({ type: 'introspection', url: await serve(introspect, outage), tokenPattern: '^plat_', timeoutMs: 300, retries: 0 });
  const authenticator: PasswordAuthenticator = createAuthenticator(config, deps);
  const token = `plat_${alnum(32)}`;
  platformTokens.set(token, { username: 'alice', sub: 'u-1001' });
  return {
    authenticator,
    hashKey,
    logs,
    secrets: [INTROSPECTION_SECRET],
    valid: { username: 'alice', password: token },
    identity: { account: 'alice', provider: 'introspection', subject: 'u-1001' },
    // An inactive token, and a live token under another user's name.
    wrong: [
      { username: 'alice', password: `plat_${alnum(32)}` },
      { username: 'bob', password: token },
    ],
    foreign: [
      { username: 'alice', password: `ghp_${alnum(36)}` },
      { username: 'alice', password: '' },
    ],
  };
}

passwordAuthenticatorContract('introspection', { wrongSecret: 'denied', recalls: true, make: () => introspectionBackend(), outages: outagesOf(introspectionBackend) });

// --- oidc-token: CI ID tokens against the issuer's JWKS ----------------------------------------

async function oidcTokenBackend(trusted: OidcIssuer): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps();
  const config = oidcTokenAuthnSchema.parse({
    type: 'oidc-token',
    issuers: [{ issuer: trusted.url, audiences: ['wharf'] }],
    rules: [{ issuer: trusted.url, account: '${repository_owner}', claims: { repository: 'acme/*' } }],
    timeoutMs: 300,
    retries: 0,
  });
  const authenticator: PasswordAuthenticator = createAuthenticator(config, deps);
  const claims = trusted.githubActionsClaims();
  const nowSeconds = Math.floor(Date.now() / 1000);
  return {
    authenticator,
    hashKey,
    logs,
    valid: { username: 'ci', password: await trusted.sign(claims) },
    identity: { account: 'acme', provider: 'oidc-token', subject: String(claims.sub) },
    wrong: [
      // Signed with a key the issuer never published, under the kid of one it did.
      { username: 'ci', password: await trusted.sign(claims, { key: await makeIssuerKey(), kid: trusted.current.kid }) },
      { username: 'ci', password: await trusted.sign(claims, { iat: nowSeconds - 3600 }) },
    ],
    foreign: [
      { username: 'ci', password: await stranger.sign(stranger.githubActionsClaims()) },
      { username: 'ci', password: `not a token ${alnum(20)}` },
    ],
  };
}

/** An issuer of its own whose keys cannot be had the way `outage` says. */
async function oidcTokenOutage(outage: Fault | 'refused'): Promise<AuthenticatorUnderTest> {
  const down = await startOidcIssuer();
  const sut = await oidcTokenBackend(down);
  if (outage === 'refused') await down.close();
  else down.platform.setFault(JWKS_PATH, outage);
  return { ...sut, close: () => (outage === 'refused' ? Promise.resolve() : down.close()) };
}

passwordAuthenticatorContract('oidc-token', { wrongSecret: 'denied', recalls: true, make: () => oidcTokenBackend(issuer), outages: outagesOf(oidcTokenOutage) });

// --- github-token: GitHub tokens checked with GET /user ----------------------------------------

/** Tokens the fake GitHub knows: token → user. */
const githubUsers = new Map<string, FakeGithubUser>();
const githubUser = githubUserEndpoint(githubUsers);

async function githubTokenBackend(outage?: Fault | 'refused'): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps();
  const apiUrl = await serve(githubUser, outage, '/user');
  const config = githubTokenAuthnSchema.parse({ type: 'github-token', apiUrl, allowedUsers: ['octocat'], timeoutMs: 300, retries: 0 });
  const authenticator: PasswordAuthenticator = createAuthenticator(config, deps);
  const octocat = `ghp_${alnum(36)}`;
  const mallory = `ghp_${alnum(36)}`;
  githubUsers.set(octocat, { login: 'Octocat', id: 583231 });
  githubUsers.set(mallory, { login: 'mallory', id: 666 });
  return {
    authenticator,
    hashKey,
    logs,
    valid: { username: 'octocat', password: octocat },
    identity: { account: 'octocat', provider: 'github-token', subject: '583231' },
    // A token GitHub does not know, and a real one of a user not allowed in.
    wrong: [
      { username: 'octocat', password: `ghp_${alnum(36)}` },
      { username: 'mallory', password: mallory },
    ],
    foreign: [
      { username: 'octocat', password: `ya29.${alnum(40)}` },
      { username: 'octocat', password: `hunter2-${alnum(12)}` },
    ],
  };
}

passwordAuthenticatorContract('github-token', { wrongSecret: 'denied', recalls: true, make: () => githubTokenBackend(), outages: outagesOf(githubTokenBackend) });

// --- google-token: Google access tokens checked with tokeninfo ---------------------------------

const GOOGLE_CLIENT = '1234567890-wharf.apps.googleusercontent.com';
/** Tokens the fake Google knows: token → tokeninfo's answer. */
const googleTokens = new Map<string, Record<string, string>>();
const tokeninfo = googleTokeninfoEndpoint(googleTokens);

async function googleTokenBackend(outage?: Fault | 'refused'): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps();
  const config = googleTokenAuthnSchema.parse({ type: 'google-token', tokeninfoUrl: await serve(tokeninfo, outage), clientIds: [GOOGLE_CLIENT], allowedDomains: ['acme.com'], timeoutMs: 300, retries: 0 });
  const authenticator: PasswordAuthenticator = createAuthenticator(config, deps);
  const info = (email: string, client = GOOGLE_CLIENT) => ({ azp: client, aud: client, sub: '110169484474386276334', email, email_verified: 'true', exp: String(Math.floor(Date.now() / 1000) + 3600) });
  const alice = `ya29.a0${randomBytes(60).toString('base64url')}`;
  const otherApp = `ya29.a0${randomBytes(60).toString('base64url')}`;
  googleTokens.set(alice, info('alice@acme.com'));
  googleTokens.set(otherApp, info('alice@acme.com', 'someone-elses-app.apps.googleusercontent.com'));
  return {
    authenticator,
    hashKey,
    logs,
    valid: { username: 'oauth2accesstoken', password: alice },
    identity: { account: 'alice', provider: 'google-token', subject: '110169484474386276334' },
    // A token Google does not know, and a real one issued to another OAuth client.
    wrong: [
      { username: 'oauth2accesstoken', password: `ya29.a0${randomBytes(60).toString('base64url')}` },
      { username: 'oauth2accesstoken', password: otherApp },
    ],
    foreign: [
      { username: 'oauth2accesstoken', password: `ghp_${alnum(36)}` },
      { username: 'alice', password: `hunter2-${alnum(12)}` },
    ],
  };
}

passwordAuthenticatorContract('google-token', { wrongSecret: 'denied', recalls: true, make: () => googleTokenBackend(), outages: outagesOf(googleTokenBackend) });
