import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { GoogleTokenAuthenticator } from '../../src/authn/provider-token/google-token-authenticator.js';
import { googleTokenAuthnSchema } from '../../src/authn/provider-token/google-token-config.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { useFakePlatform } from '../support/fake-platform.js';
import { captureLog } from '../support/log-capture.js';
import { googleTokeninfoEndpoint } from '../support/token-platforms.js';

const ctx = { clientIp: '127.0.0.1', service: 'registry' };
const CLIENT = '1234567890-wharf.apps.googleusercontent.com';
const START = Date.UTC(2026, 10, 23, 12);
const accessToken = () => `ya29.a0${randomBytes(90).toString('base64url')}`;

/** Tokens the fake Google knows: token → tokeninfo answer. */
const tokens = new Map<string, Record<string, string>>();
const platform = useFakePlatform({ '/tokeninfo': googleTokeninfoEndpoint(tokens) });
beforeEach(() => tokens.clear());
/** Every log line of every test, to prove no token ever reaches a log. */
const allLogs = captureLog();
const tokensUsed: string[] = [];

/** tokeninfo's answer for an access token of `email`, in Google's shape (numbers and booleans as strings). */
function tokeninfo(email: string, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const info: Record<string, string | undefined> = {
    azp: CLIENT,
    aud: CLIENT,
    sub: '110169484474386276334',
    scope: 'openid https://www.googleapis.com/auth/userinfo.email',
    exp: String(Math.floor(START / 1000) + 3599),
    expires_in: '3599',
    email,
    email_verified: 'true',
    access_type: 'online',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(info).filter((e): e is [string, string] => e[1] !== undefined));
}

function setup(overrides: Record<string, unknown> = {}) {
  let now = START;
  const log = captureLog('debug', { also: allLogs });
  const config = googleTokenAuthnSchema.parse({
    type: 'google-token',
    tokeninfoUrl: `${platform.url}/tokeninfo`,
    clientIds: [CLIENT],
    allowedDomains: ['acme.com'],
    timeoutMs: 300,
    ...overrides,
  });
  const auth = new GoogleTokenAuthenticator(config, { cache: new MemoryCache({ maxEntries: 100, now: () => now }), hashKey: randomBytes(32), logger: log.logger, now: () => now });
  const login = (username: string, token: string) => {
    tokensUsed.push(token);
    return auth.login(username, token, ctx);
  };
  return { login, logs: log.text, advance: (ms: number) => void (now += ms) };
}

const calls = () => platform.count('/tokeninfo');
const reasonOf = (r: Awaited<ReturnType<ReturnType<typeof setup>['login']>>) => (r.kind === 'denied' ? r.reason : `not denied: ${r.kind}`);
/** Why `login` refuses a new token whose tokeninfo answer is that of `email` with `overrides`. */
async function refusalOf(login: ReturnType<typeof setup>['login'], email: string, overrides: Record<string, string | undefined> = {}) {
  const token = accessToken();
  tokens.set(token, tokeninfo(email, overrides));
  return reasonOf(await login('x', token));
}

describe('GoogleTokenAuthenticator', () => {
  it('checks the token with tokeninfo and makes the email’s local part the account', async () => {
    const { login } = setup();
    const token = accessToken();
    tokens.set(token, tokeninfo('Alice.Smith@acme.com', { hd: 'acme.com' }));
    expect(await login('oauth2accesstoken', token)).toEqual({
      kind: 'ok',
      identity: {
        account: 'alice.smith',
        provider: 'google-token',
        subject: '110169484474386276334',
        attributes: { email: 'Alice.Smith@acme.com', client: CLIENT, google_sub: '110169484474386276334', hd: 'acme.com', expiresAt: Math.floor(START / 1000) + 3599 },
        owner: { source: 'google:accounts.google.com', subject: '110169484474386276334' },
      },
    });
    const call = platform.calls.filter((c) => c.path === '/tokeninfo').at(-1)!;
    // The token travels as a bearer header of a POST, never in the URL (proxies log URLs).
    expect(call.method).toBe('POST');
    expect(call.headers.authorization).toBe(`Bearer ${token}`);
    expect([...call.query.keys()]).toEqual([]);
  });

  it('makes a lossless account from the whole email with accountFrom: email, so domains cannot collide', async () => {
    const { login } = setup({ accountFrom: 'email', allowedDomains: [], allowAnyAccount: true, accountPrefix: 'g-' });
    const a = accessToken();
    const b = accessToken();
    tokens.set(a, tokeninfo('alice@acme.com'));
    tokens.set(b, tokeninfo('alice@gmail.com'));
    const accounts = await Promise.all([login('x', a), login('x', b)]);
    expect(accounts.map((r) => r.kind === 'ok' && r.identity.account)).toEqual(['g-alice_at_acme.com', 'g-alice_at_gmail.com']);
    // `alice_` would give `alice__at_acme.com`, a valid name, but the local part alone is not one.
    expect(await refusalOf(login, 'alice_@acme.com')).toBe('no valid registry account can be made from alice_@acme.com (email)');
  });

  it('refuses tokens issued to another OAuth client', async () => {
    const { login } = setup();
    expect(await refusalOf(login, 'alice@acme.com', { azp: 'other.apps.googleusercontent.com', aud: 'other.apps.googleusercontent.com' })).toBe('the token was issued to OAuth client "other.apps.googleusercontent.com", not one of clientIds');
  });

  it('refuses an unverified or missing email', async () => {
    const { login } = setup();
    expect(await refusalOf(login, 'alice@acme.com', { email_verified: 'false' })).toBe("the token's email alice@acme.com is not verified");
    expect(await refusalOf(login, 'alice@acme.com', { email: undefined, email_verified: undefined })).toBe('the token carries no email (it needs the email scope)');
  });

  it('enforces allowedDomains on the Workspace hd, else on the email’s domain', async () => {
    const { login } = setup();
    const secondaryDomain = accessToken();
    tokens.set(secondaryDomain, tokeninfo('bob@acme.io', { hd: 'acme.com' }));
    expect(await refusalOf(login, 'alice@gmail.com')).toBe('domain gmail.com is not one of allowedDomains (acme.com)');
    const ok = await login('x', secondaryDomain);
    expect(ok.kind === 'ok' && ok.identity.account).toBe('bob');
    expect(await refusalOf(login, 'carol@acme.com', { hd: 'evil.com' })).toBe('domain evil.com is not one of allowedDomains (acme.com)');
  });

  it('denies, rather than rewrites, an email that makes no valid registry name', async () => {
    const { login } = setup();
    expect(await refusalOf(login, "o'brien+ci@acme.com")).toBe("no valid registry account can be made from o'brien+ci@acme.com (email-local-part)");
  });

  it('denies a non-ASCII email or hosted domain before lower-casing it, so \u212Aevin never becomes kevin', async () => {
    const { login } = setup();
    expect(await refusalOf(login, '\u212Aevin@acme.com', { hd: 'acme.com' })).toBe('the token’s email "\\u212Aevin@acme.com" holds U+212A: account names must be ASCII');
    expect(await refusalOf(login, 'kevin@acme.com', { hd: 'ac\u217Fe.com' })).toBe('the token’s hosted domain "ac\\u217Fe.com" holds U+217F: account names must be ASCII');
  });

  it('denies a token Google rejects (400 invalid_token) and caches that briefly', async () => {
    const { login, advance } = setup({ negativeCacheSeconds: 30 });
    const token = accessToken();
    const before = calls();
    for (let i = 0; i < 3; i++) expect(reasonOf(await login('x', token))).toBe('Google rejected the token (400): unknown, expired or revoked');
    expect(calls() - before).toBe(1);
    advance(31_000);
    tokens.set(token, tokeninfo('alice@acme.com'));
    expect((await login('x', token)).kind).toBe('ok');
  });

  it('caches a valid answer for cacheSeconds, but never past the token’s exp', async () => {
    const { login, advance } = setup({ cacheSeconds: 300 });
    const token = accessToken();
    tokens.set(token, tokeninfo('alice@acme.com', { exp: String(Math.floor(START / 1000) + 60) }));
    const before = calls();
    expect((await login('x', token)).kind).toBe('ok');
    advance(59_000);
    expect((await login('x', token)).kind).toBe('ok');
    expect(calls() - before).toBe(1);
    advance(2_000);
    tokens.delete(token); // expired at Google too
    expect(reasonOf(await login('x', token))).toBe('Google rejected the token (400): unknown, expired or revoked');
    expect(calls() - before).toBe(2);
  });

  it('checks the docker username under usernamePolicy: match', async () => {
    const { login } = setup({ usernamePolicy: 'match' });
    const token = accessToken();
    tokens.set(token, tokeninfo('alice@acme.com'));
    expect((await login('alice', token)).kind).toBe('ok');
    expect((await login('Alice@Acme.com', token)).kind).toBe('ok');
    expect(reasonOf(await login('oauth2accesstoken', token))).toBe('the username "oauth2accesstoken" is neither the account alice nor the token\'s email');
  });

  it('claims only Google access tokens', async () => {
    const { login } = setup();
    const before = calls();
    for (const password of ['hunter2', 'ya29.short', `ghp_${'a'.repeat(36)}`, `1//${'a'.repeat(60)}`]) expect(await login('x', password)).toEqual({ kind: 'no_match' });
    expect(calls() - before).toBe(0);
  });

  it.each([
    ['down', { kind: 'status', status: 503 }],
    ['resetting connections', { kind: 'reset' }],
    ['slow', { kind: 'slow', ms: 1000 }],
    ['answering HTML', { kind: 'wrong_content_type' }],
  ] as const)('answers 503 when tokeninfo is %s', async (_name, fault) => {
    const { login, logs } = setup();
    const token = accessToken();
    tokens.set(token, tokeninfo('alice@acme.com'));
    platform.setFault('/tokeninfo', fault);
    await expect(login('x', token)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(logs()).toMatch(/fail closed/);
  });

  it('refuses accountFrom email-local-part without exactly one allowed domain (users of two domains would share accounts)', () => {
    const result = googleTokenAuthnSchema.safeParse({ type: 'google-token', clientIds: [CLIENT], allowedDomains: ['acme.com', 'acme.io'] });
    expect(result.success ? [] : result.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['allowedDomains', 'accountFrom email-local-part needs exactly one allowed domain, or users of different domains share accounts (use accountFrom: email otherwise)'],
    ]);
    expect(googleTokenAuthnSchema.safeParse({ type: 'google-token', clientIds: [], allowedDomains: ['acme.com'] }).success).toBe(false);
  });

  it('never logs a token', () => {
    expect(tokensUsed.length).toBeGreaterThan(15);
    expect(allLogs.text()).toMatch(/fail closed/);
    for (const token of tokensUsed) if (token.length > 30) expect(allLogs.text()).not.toContain(token.slice(5, 40));
  });
});
