import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/domain/identity.js';
import { googleLoginSchema, oidcLoginSchema } from '../../src/authn/oidc/oidc-config.js';
import { OidcLogin } from '../../src/authn/oidc/oidc-login.js';
import { awkwardSecret, signInAtIdp, startTestIdp, type IdpUser, type TestIdp } from '../support/oidc-idp.js';

// How an OIDC (or Google) login asks for the tokens that let it be re-checked, and what a re-check
// finds, against a real oidc-provider: with a refresh token, and with only an access token.
const REDIRECT = 'http://127.0.0.1:1/login/x/callback';
const users: Record<string, IdpUser> = {
  alice: { email: 'alice@example.com', email_verified: true, preferred_username: 'alice', groups: ['devs'] },
  gina: { email: 'gina@example.com', email_verified: true, hd: 'example.com' },
};
let idp: TestIdp;
const plainSecret = awkwardSecret();

beforeAll(async () => {
  idp = await startTestIdp({ redirectUris: [REDIRECT], users, clients: [{ clientId: 'plain', method: 'client_secret_basic', clientSecret: plainSecret, refreshTokens: false }] });
});
afterAll(async () => idp?.close());

function oidc(overrides: Record<string, unknown> = {}, now = () => Date.now()) {
  const config = oidcLoginSchema.parse({ type: 'oidc', issuer: idp.issuer, clientId: idp.clientId, ...overrides });
  const secret = config.clientId === 'plain' ? plainSecret : idp.clientSecret;
  return new OidcLogin(config, { method: 'client_secret_basic', secret }, now);
}

/** Signs `login` in through `provider` as Wharf's callback would; the identity and the tokens kept. */
async function signIn(provider: OidcLogin, login: string) {
  const pending = { state: randomBytes(16).toString('base64url'), secrets: provider.prepare() };
  const callback = await signInAtIdp(await provider.loginUrl(REDIRECT, pending), login);
  const result = await provider.handleCallback({ url: callback }, pending);
  if (result.kind !== 'ok') throw new Error(`sign-in refused: ${JSON.stringify(result)}`);
  return { identity: result.identity, tokens: result.upstream! };
}

describe('the authorization request', () => {
  it('asks for offline_access with prompt=consent by default, the scope alone with `scope`, and neither with `off`', async () => {
    const params = async (login: OidcLogin) => new URL(await login.loginUrl(REDIRECT, { state: 's', secrets: login.prepare() })).searchParams;
    const byDefault = await params(oidc());
    expect(byDefault.get('scope')).toBe('openid profile email offline_access');
    expect(byDefault.get('prompt')).toBe('consent');
    const scopeOnly = await params(oidc({ offlineAccess: 'scope' }));
    expect(scopeOnly.get('scope')).toBe('openid profile email offline_access');
    expect(scopeOnly.get('prompt')).toBeNull();
    const off = await params(oidc({ offlineAccess: 'off' }));
    expect(off.get('scope')).toBe('openid profile email');
    expect(off.get('prompt')).toBeNull();
  });

  it('asks Google for a refresh token its way: access_type=offline and prompt=consent', async () => {
    const google = new OidcLogin(googleLoginSchema.parse({ type: 'google', issuer: idp.issuer, clientId: idp.clientId, allowedDomains: ['example.com'] }), { method: 'client_secret_basic', secret: idp.clientSecret });
    const params = new URL(await google.loginUrl(REDIRECT, { state: 's', secrets: google.prepare() })).searchParams;
    expect(params.get('access_type')).toBe('offline');
    expect(params.get('prompt')).toBe('consent');
    expect(params.get('hd')).toBe('example.com');
  });
});

describe('re-checking a login', () => {
  it('keeps the refresh token, and refreshes to read the claims as they are now', async () => {
    const login = oidc();
    const { identity, tokens } = await signIn(login, 'alice');
    expect(tokens.refreshToken).toEqual(expect.any(String));
    users.alice!.groups = ['devs', 'ops'];
    const verdict = await login.revalidate(tokens, identity);
    expect(verdict).toMatchObject({ kind: 'valid', identity: { account: 'alice', attributes: { groups: ['devs', 'ops'] } } });
    users.alice!.groups = ['devs'];
  });

  it('asks UserInfo while the access token lives when there is no refresh token; an expired one cannot tell', async () => {
    let now = Date.now();
    const login = oidc({ name: 'plain', clientId: 'plain' }, () => now);
    const { identity, tokens } = await signIn(login, 'alice');
    expect(tokens.refreshToken).toBeUndefined();
    expect(tokens.expiresAt).toBeGreaterThan(now);
    expect(await login.revalidate(tokens, identity)).toMatchObject({ kind: 'valid', identity: { account: 'alice' } });

    const alice = users.alice!;
    delete users.alice;
    try {
      expect(await login.revalidate(tokens, identity)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('UserInfo refused') });
    } finally {
      users.alice = alice;
    }
    now = tokens.expiresAt! + 1;
    expect(await login.revalidate(tokens, identity)).toEqual({ kind: 'unknown', reason: 'the access token expired and the provider gave no refresh token' });
  });

  it('is unknown, never invalid, while the provider is down', async () => {
    const login = oidc();
    const { identity, tokens } = await signIn(login, 'alice');
    idp.setDown(true);
    try {
      expect(await login.revalidate(tokens, identity)).toMatchObject({ kind: 'unknown' });
    } finally {
      idp.setDown(false);
    }
    expect(await login.revalidate(tokens, identity)).toMatchObject({ kind: 'valid' });
  });

  it('refuses a Google account that left the allowed domain', async () => {
    const google = new OidcLogin(googleLoginSchema.parse({ type: 'google', issuer: idp.issuer, clientId: idp.clientId, allowedDomains: ['example.com'] }), { method: 'client_secret_basic', secret: idp.clientSecret });
    const { identity, tokens } = await signIn(google, 'gina');
    expect(tokens.refreshToken).toEqual(expect.any(String));
    users.gina!.hd = 'elsewhere.org';
    try {
      expect(await google.revalidate(tokens, identity as Identity)).toEqual({ kind: 'invalid', reason: 'the Google account is not in an allowed domain (example.com)' });
    } finally {
      users.gina!.hd = 'example.com';
    }
  });

  it('refuses sign-in, and later the re-check, outside allowedGroups', async () => {
    const login = oidc({ allowedGroups: ['ops'] });
    const pending = { state: 's', secrets: login.prepare() };
    const callback = await signInAtIdp(await login.loginUrl(REDIRECT, pending), 'alice');
    expect(await login.handleCallback({ url: callback }, pending)).toEqual({ kind: 'denied', reason: 'the user is in none of the allowed groups (ops)' });
    users.alice!.groups = ['ops'];
    try {
      const { identity, tokens } = await signIn(login, 'alice');
      users.alice!.groups = ['devs'];
      expect(await login.revalidate(tokens, identity)).toEqual({ kind: 'invalid', reason: 'the user is in none of the allowed groups (ops)' });
    } finally {
      users.alice!.groups = ['devs'];
    }
  });
});
