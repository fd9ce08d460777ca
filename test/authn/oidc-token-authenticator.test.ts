import { base64url, decodeJwt, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuthnResult } from '../../src/authn/authenticator.js';
import { OidcTokenAuthenticator } from '../../src/authn/oidc-token/oidc-token-authenticator.js';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { captureLog } from '../support/log-capture.js';
import { DISCOVERY_PATH, JWKS_PATH, makeIssuerKey, startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { shutDown } from '../support/shut-down.js';

const ctx = { clientIp: '127.0.0.1', service: 'registry' };
const START = Date.UTC(2026, 10, 23, 12);
/** The one clock: the issuer stamps tokens with it, the authenticator checks them with it. */
let now = START;
const clock = () => now;
const nowSeconds = () => Math.floor(now / 1000);

let issuer: OidcIssuer;
/** A second, real issuer that is not trusted by default. */
let stranger: OidcIssuer;
/** Every log line of every test, to prove no token ever reaches a log. */
const allLogs = captureLog();
const tokensSeen: string[] = [];

beforeAll(async () => {
  issuer = await startOidcIssuer({ now: clock });
  stranger = await startOidcIssuer({ now: clock });
});
afterAll(() => shutDown(issuer, stranger));
beforeEach(() => {
  now = START;
  for (const i of [issuer, stranger]) {
    i.platform.setFault(JWKS_PATH, undefined);
    i.platform.setFault(DISCOVERY_PATH, undefined);
    i.setDiscovery({});
  }
});

/** The trusted-publishing rule of the docs: acme's release workflow, from main, to production or staging. */
function acmeRule(overrides: Record<string, unknown> = {}) {
  return {
    issuer: issuer.url,
    account: '${repository_owner}',
    claims: { repository: 'acme/*', ref: 'refs/heads/main', workflow: 'release', environment: ['production', 'staging'] },
    namespace: 'acme/*',
    ...overrides,
  };
}

function setup(overrides: Record<string, unknown> = {}) {
  const log = captureLog('debug', { also: allLogs });
  const config = oidcTokenAuthnSchema.parse({
    type: 'oidc-token',
    issuers: [{ issuer: issuer.url, audiences: ['wharf'] }],
    rules: [acmeRule()],
    timeoutMs: 500,
    ...overrides,
  });
  const auth = new OidcTokenAuthenticator(config, { logger: log.logger, now: clock });
  const login = (token: string, username = 'ci') => {
    tokensSeen.push(token);
    return auth.login(username, token, ctx);
  };
  return { auth, login, logs: log.text, events: log.events };
}

const counts = (i: OidcIssuer = issuer) => ({ discovery: i.platform.count(DISCOVERY_PATH), jwks: i.platform.count(JWKS_PATH) });
const delta = (before: { discovery: number; jwks: number }, i: OidcIssuer = issuer) => {
  const after = counts(i);
  return { discovery: after.discovery - before.discovery, jwks: after.jwks - before.jwks };
};
const reasonOf = (result: AuthnResult) => (result.kind === 'denied' ? result.reason : `not denied: ${result.kind}`);

describe('OidcTokenAuthenticator: valid tokens', () => {
  it('turns a GitHub Actions ID token into the owner’s account, with the claims used and the token’s exp as expiresAt', async () => {
    const { login, events } = setup();
    const claims = issuer.githubActionsClaims();
    const token = await issuer.sign(claims);
    const result = await login(token);
    expect(result).toEqual({
      kind: 'ok',
      identity: {
        account: 'acme',
        provider: 'oidc-token',
        subject: 'repo:acme/app:ref:refs/heads/main',
        attributes: {
          issuer: issuer.url,
          audience: 'wharf',
          claims: { repository: 'acme/app', ref: 'refs/heads/main', workflow: 'release', environment: 'production', repository_owner: 'acme' },
          rule: 0,
          expiresAt: nowSeconds() + 300,
          jti: claims.jti,
          namespace: 'acme/*',
        },
        // The issuer owns the accounts its trust rules make, whichever workload signs in.
        owner: { source: `oidc-token:${issuer.url}` },
      },
    });
    expect(decodeJwt(token).exp).toBe(nowSeconds() + 300);
    const audit = events('oidc_token_login')[0];
    expect(audit).toMatchObject({ account: 'acme', rule: 0, claims: { repository: 'acme/app', ref: 'refs/heads/main' }, expiresAt: nowSeconds() + 300 });
  });

  it('ignores the docker username (any value logs in as the rule’s account)', async () => {
    const { login } = setup();
    const token = await issuer.sign(issuer.githubActionsClaims());
    for (const username of ['', 'ci', 'x-access-token', 'someone-else']) {
      const result = await login(token, username);
      expect(result.kind === 'ok' && result.identity.account).toBe('acme');
    }
  });

  it('lower-cases template values (GitHub names keep their case, registry names cannot)', async () => {
    const { login } = setup({ rules: [acmeRule({ account: 'gh-${repository_owner}', claims: { repository: 'Acme/*' } })] });
    const result = await login(await issuer.sign(issuer.githubActionsClaims({ repository: 'Acme/App', repository_owner: 'Acme' })));
    expect(result.kind === 'ok' && result.identity.account).toBe('gh-acme');
  });

  it('denies, rather than falls through, when a matching rule cannot make a valid account from the claims', async () => {
    const { login } = setup({ rules: [acmeRule({ account: '${sub}', claims: {} }), acmeRule({ account: 'fallback', claims: { repository: '*' } })] });
    const result = await login(await issuer.sign(issuer.githubActionsClaims()));
    expect(reasonOf(result)).toBe(
      'rule 0 matched but the account "repo:acme/app:ref:refs/heads/main" made from template "${sub}" is not a valid registry name',
    );
  });

  it('makes an account from the e-mail address only when email_verified is true', async () => {
    const { login } = setup({ rules: [acmeRule({ account: 'mail-${email}', claims: {} })] });
    const email = { email: 'deployer', email_verified: true };
    const verified = await login(await issuer.sign(issuer.githubActionsClaims(email)));
    expect(verified.kind === 'ok' && verified.identity.account).toBe('mail-deployer');
    for (const unverified of [{ ...email, email_verified: false }, { ...email, email_verified: 'false' }, { email: 'deployer' }]) {
      const result = await login(await issuer.sign(issuer.githubActionsClaims(unverified)));
      expect(reasonOf(result)).toBe('rule 0 matched but its account template uses "email" and the token\'s email_verified is not true');
    }
  });

  it('applies the first matching rule, and a later one when earlier ones do not match', async () => {
    const { login } = setup({
      rules: [
        acmeRule({ account: 'acme-release', claims: { repository: 'acme/app', ref: 'refs/tags/v*' } }),
        acmeRule({ account: 'acme-main', claims: { repository: 'acme/app', ref: 'refs/heads/main' } }),
        acmeRule({ account: 'acme-any', claims: { repository: 'acme/app' } }),
      ],
    });
    const tag = await login(await issuer.sign(issuer.githubActionsClaims({ ref: 'refs/tags/v1.2.0' })));
    const main = await login(await issuer.sign(issuer.githubActionsClaims()));
    const branch = await login(await issuer.sign(issuer.githubActionsClaims({ ref: 'refs/heads/feature/x' })));
    expect([tag, main, branch].map((r) => (r.kind === 'ok' ? [r.identity.account, r.identity.attributes.rule] : r))).toEqual([
      ['acme-release', 0],
      ['acme-main', 1],
      ['acme-any', 2],
    ]);
  });

  it('accepts a token whose exp passed within the clock tolerance', async () => {
    const { login } = setup();
    const late = await issuer.sign(issuer.githubActionsClaims(), { iat: nowSeconds() - 320 }); // expired 20 s ago, tolerance 30
    expect((await login(late)).kind).toBe('ok');
  });

  it('verifies a token without kid by trying each published key that fits its alg', async () => {
    await issuer.addKey('RS256'); // two RS256 keys published; the token names neither
    try {
      const noKid = await issuer.sign(issuer.githubActionsClaims(), { kid: null });
      expect((await setup().login(noKid)).kind).toBe('ok');
      const forged = await issuer.sign(issuer.githubActionsClaims(), { kid: null, key: await makeIssuerKey('RS256') });
      expect(reasonOf(await setup().login(forged))).toMatch(/^the ID token's signature does not verify with the issuer's key \(none\)/);
    } finally {
      await issuer.rotate({ retireOld: true });
    }
  });
});

describe('OidcTokenAuthenticator: hostile tokens', () => {
  /** Each case builds a token that differs from a valid one in exactly one way. */
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    [
      'forged: signed by an attacker key under the issuer’s kid',
      async () => issuer.sign(issuer.githubActionsClaims(), { key: await makeIssuerKey('RS256'), kid: issuer.current.kid }),
      /^the ID token's signature does not verify with the issuer's key "[^"]+": forged, tampered with, or signed by another key$/,
    ],
    [
      'tampered: claims swapped under a genuine signature',
      async () => {
        const [h, , s] = (await issuer.sign(issuer.githubActionsClaims())).split('.');
        const evil = base64url.encode(JSON.stringify({ ...issuer.githubActionsClaims({ repository: 'acme/app', repository_owner: 'acme-evil' }), iss: issuer.url, iat: nowSeconds(), exp: nowSeconds() + 300 }));
        return `${h}.${evil}.${s}`;
      },
      /^the ID token's signature does not verify/,
    ],
    [
      'wrong audience',
      () => issuer.sign(issuer.githubActionsClaims({ aud: 'https://github.com/acme' })),
      /^audience "https:\/\/github\.com\/acme" is not accepted for issuer http:\/\/127\.0\.0\.1:\d+ \(accepted: wharf\)$/,
    ],
    ['no audience', () => issuer.sign(issuer.githubActionsClaims({ aud: undefined })), /^the ID token has no "aud" claim$/],
    [
      'expired beyond the clock tolerance',
      () => issuer.sign(issuer.githubActionsClaims(), { iat: nowSeconds() - 331 }),
      /^the ID token expired at 2026-11-23T11:59:29\.000Z, 31 s ago \(clock tolerance 30 s\)$/,
    ],
    [
      'not yet valid (nbf beyond the tolerance)',
      () => issuer.sign({ ...issuer.githubActionsClaims(), nbf: nowSeconds() + 60 }),
      /^the ID token is not valid before 2026-11-23T12:01:00\.000Z \(clock tolerance 30 s\)$/,
    ],
    [
      'alg none',
      async () => new UnsecuredJWT(issuer.githubActionsClaims()).setIssuer(issuer.url).setIssuedAt(nowSeconds()).setExpirationTime(nowSeconds() + 300).encode(),
      /^the ID token is unsigned \(alg "none"\), which is never accepted$/,
    ],
    [
      'HS256 keyed with the issuer’s public key (algorithm confusion)',
      async () =>
        new SignJWT(issuer.githubActionsClaims())
          .setProtectedHeader({ alg: 'HS256', kid: issuer.current.kid })
          .setIssuer(issuer.url)
          .setIssuedAt(nowSeconds())
          .setExpirationTime(nowSeconds() + 300)
          .sign(new TextEncoder().encode(JSON.stringify(issuer.current.publicJwk))),
      /^the ID token uses HS256, a shared-secret algorithm, which is never accepted for ID tokens$/,
    ],
    [
      'wrong kid',
      async () => issuer.sign(issuer.githubActionsClaims(), { key: await makeIssuerKey('RS256'), kid: 'nope' }),
      /^no key in the JWKS of http:\/\/127\.0\.0\.1:\d+ matches kid "nope" and alg RS256 \(known kids: [0-9a-f-]{36}(, [0-9a-f-]{36})*\)$/,
    ],
    [
      'claims the trusted iss but is signed by another issuer’s key',
      () => issuer.sign(issuer.githubActionsClaims(), { key: stranger.current }),
      /^no key in the JWKS of http:\/\/127\.0\.0\.1:\d+ matches kid "[0-9a-f-]{36}"/,
    ],
    [
      'claim mismatch: another branch',
      () => issuer.sign(issuer.githubActionsClaims({ ref: 'refs/heads/dev' })),
      /^no trust rule matches the token: rule 0: claim "ref" is "refs\/heads\/dev", not "refs\/heads\/main"$/,
    ],
    [
      'claim mismatch: another owner’s repository',
      () => issuer.sign(issuer.githubActionsClaims({ repository: 'evil/app', repository_owner: 'evil' })),
      /^no trust rule matches the token: rule 0: claim "repository" is "evil\/app", not "acme\/\*"$/,
    ],
    [
      'claim mismatch: environment not in the list',
      () => issuer.sign(issuer.githubActionsClaims({ environment: 'dev' })),
      /^no trust rule matches the token: rule 0: claim "environment" is "dev", not "production" or "staging"$/,
    ],
    [
      'claim missing: no environment',
      () => issuer.sign(issuer.githubActionsClaims({ environment: undefined })),
      /^no trust rule matches the token: rule 0: claim "environment" is missing$/,
    ],
    ['no sub', () => issuer.sign(issuer.githubActionsClaims({ sub: undefined })), /^the ID token has no "sub" claim$/],
  ];

  it.each(cases)('denies %s, with a precise reason', async (_name, make, reason) => {
    const { login } = setup();
    const result = await login(await make());
    expect(result.kind).toBe('denied');
    expect(reasonOf(result)).toMatch(reason);
  });

  it('denies an algorithm the issuer is not configured for, even with a genuine published key', async () => {
    const ec = await issuer.addKey('ES256');
    const { login } = setup({ issuers: [{ issuer: issuer.url, audiences: ['wharf'], algorithms: ['RS256'] }] });
    const token = await issuer.sign(issuer.githubActionsClaims(), { key: ec });
    expect(reasonOf(await login(token))).toMatch(/^algorithm "ES256" is not allowed for issuer http:\/\/127\.0\.0\.1:\d+ \(allowed: RS256\)$/);
    // the same token is fine where ES256 is allowed (default)
    expect((await setup().login(token)).kind).toBe('ok');
  });

  it('passes on (no_match) a valid token from an issuer it does not trust, without fetching anyone’s keys', async () => {
    const { login, logs } = setup();
    const before = counts(stranger);
    const beforeTrusted = counts();
    const token = await stranger.sign(stranger.githubActionsClaims());
    expect(await login(token)).toEqual({ kind: 'no_match' });
    expect(delta(before, stranger)).toEqual({ discovery: 0, jwks: 0 });
    expect(delta(beforeTrusted)).toEqual({ discovery: 0, jwks: 0 });
    expect(logs()).toContain(`"iss":"${stranger.url}"`);
  });

  it('passes on passwords that are not JWTs at all', async () => {
    const { login } = setup();
    for (const password of ['hunter2', 'ghp_0123456789abcdefghijklmnopqrstuvwxyz', 'a.b.c', 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9', '', `${'a'.repeat(9000)}.${'b'.repeat(9000)}.c`]) {
      expect(await login(password)).toEqual({ kind: 'no_match' });
    }
  });

  it('denies a token of a trusted issuer that no rule names (iss differs from every rule’s issuer)', async () => {
    const { login } = setup({
      issuers: [
        { issuer: issuer.url, audiences: ['wharf'] },
        { issuer: stranger.url, audiences: ['wharf'] },
      ],
      rules: [acmeRule({ issuer: stranger.url })],
    });
    // the stranger's rule would match these claims, but the token is the other issuer's
    expect(reasonOf(await login(await issuer.sign(issuer.githubActionsClaims())))).toBe(`no trust rule names issuer ${issuer.url}`);
    expect((await login(await stranger.sign(stranger.githubActionsClaims()))).kind).toBe('ok');
  });

  it('honours a rule’s audience', async () => {
    const { login } = setup({
      issuers: [{ issuer: issuer.url, audiences: ['wharf', 'wharf-prod'] }],
      rules: [acmeRule({ audience: 'wharf-prod' })],
    });
    expect(reasonOf(await login(await issuer.sign(issuer.githubActionsClaims())))).toBe('no trust rule matches the token: rule 0: audience is not "wharf-prod"');
    expect((await login(await issuer.sign(issuer.githubActionsClaims({ aud: 'wharf-prod' })))).kind).toBe('ok');
  });
});

describe('OidcTokenAuthenticator: keys', () => {
  it('fetches discovery and the JWKS once across many logins, concurrent and sequential', async () => {
    const { login } = setup();
    const before = counts();
    const tokens = await Promise.all(Array.from({ length: 30 }, (_, i) => issuer.sign(issuer.githubActionsClaims({ run_id: String(i) }))));
    const results = await Promise.all(tokens.map((t) => login(t)));
    expect(results.every((r) => r.kind === 'ok')).toBe(true);
    for (const t of tokens.slice(0, 10)) expect((await login(t)).kind).toBe('ok');
    expect(delta(before)).toEqual({ discovery: 1, jwks: 1 });
  });

  it('refetches after jwksCacheSeconds', async () => {
    const { login } = setup({ jwksCacheSeconds: 600 });
    const before = counts();
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    now += 599_000;
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    expect(delta(before)).toEqual({ discovery: 1, jwks: 1 });
    now += 2_000;
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    expect(delta(before)).toEqual({ discovery: 2, jwks: 2 });
  });

  it('uses a configured jwksUri without discovery', async () => {
    const { login } = setup({ issuers: [{ issuer: issuer.url, audiences: ['wharf'], jwksUri: `${issuer.url}${JWKS_PATH}` }] });
    const before = counts();
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    expect(delta(before)).toEqual({ discovery: 0, jwks: 1 });
  });

  it('picks up a key rotation (new kid) with one refetch, and refetches at most once per 30 s for unknown kids', async () => {
    const { login } = setup();
    const before = counts();
    const oldKey = issuer.current;
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    now += 31_000;
    await issuer.rotate({ retireOld: true });
    const newToken = await issuer.sign(issuer.githubActionsClaims());
    expect((await login(newToken)).kind).toBe('ok');
    expect(delta(before)).toEqual({ discovery: 1, jwks: 2 });
    // The old key is gone from the JWKS just fetched: its tokens no longer verify.
    expect(reasonOf(await login(await issuer.sign(issuer.githubActionsClaims(), { key: oldKey })))).toMatch(/^no key in the JWKS/);
    // Tokens with made-up kids cannot make Wharf hammer the issuer.
    const attacker = await makeIssuerKey('RS256');
    for (let i = 0; i < 10; i++) {
      expect((await login(await issuer.sign(issuer.githubActionsClaims(), { key: attacker, kid: `made-up-${i}` }))).kind).toBe('denied');
    }
    expect(delta(before)).toEqual({ discovery: 1, jwks: 2 });
    now += 31_000;
    expect((await login(await issuer.sign(issuer.githubActionsClaims(), { key: attacker, kid: 'made-up-late' }))).kind).toBe('denied');
    expect(delta(before)).toEqual({ discovery: 1, jwks: 3 });
  });

  it('answers 503 when the JWKS cannot be fetched and nothing is cached', async () => {
    const { login, logs } = setup();
    issuer.platform.setFault(JWKS_PATH, { kind: 'status', status: 503 });
    const token = await issuer.sign(issuer.githubActionsClaims());
    await expect(login(token)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(logs()).toMatch(/"event":"oidc_jwks_unavailable".*fail closed/);
  });

  it('answers 503 when the issuer is not listening at all', async () => {
    const gone = await startOidcIssuer({ now: clock });
    const token = await gone.sign(gone.githubActionsClaims());
    await gone.close();
    const { login } = setup({ issuers: [{ issuer: gone.url, audiences: ['wharf'] }], rules: [acmeRule({ issuer: gone.url })] });
    const error = await login(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporarilyUnavailableError);
    expect((error as TemporarilyUnavailableError).status).toBe(503);
  });

  it('answers 503, and logs an error, when discovery names another issuer', async () => {
    const { login, events } = setup();
    issuer.setDiscovery({ issuer: 'https://evil.example', jwks_uri: `${stranger.url}${JWKS_PATH}` });
    const before = counts(stranger);
    await expect(login(await issuer.sign(issuer.githubActionsClaims()))).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(delta(before, stranger).jwks).toBe(0);
    expect(events('oidc_jwks_unusable')[0]).toMatchObject({ level: 50, what: 'discovery' });
  });

  it('keeps verifying with the last good keys through an issuer outage, up to jwksMaxStaleSeconds', async () => {
    const { login, logs } = setup({ jwksCacheSeconds: 600, jwksMaxStaleSeconds: 3600 });
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    issuer.platform.setFault(DISCOVERY_PATH, { kind: 'reset' });
    issuer.platform.setFault(JWKS_PATH, { kind: 'reset' });
    now += 601_000;
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    expect(logs()).toContain('"event":"oidc_jwks_stale"');
    const beforeQuiet = counts();
    expect((await login(await issuer.sign(issuer.githubActionsClaims()))).kind).toBe('ok');
    expect(delta(beforeQuiet)).toEqual({ discovery: 0, jwks: 0 }); // no fetch per login while failing
    now += 3600_000; // 601 + 3600 s after the last good fetch: beyond 600 + 3600
    await expect(login(await issuer.sign(issuer.githubActionsClaims()))).rejects.toBeInstanceOf(TemporarilyUnavailableError);
  });

  it('never logs a token', async () => {
    expect(tokensSeen.length).toBeGreaterThan(40);
    expect(allLogs.text().length).toBeGreaterThan(0);
    const jwts = tokensSeen.filter((t) => t.startsWith('eyJ') && t.split('.').length === 3);
    expect(jwts.length).toBeGreaterThan(40);
    for (const token of jwts) {
      const [, payload, signature] = token.split('.');
      expect(allLogs.text()).not.toContain(payload!.slice(0, 40));
      if (signature) expect(allLogs.text()).not.toContain(signature.slice(0, 40));
    }
  });
});

