import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialAuthenticator, type CredentialRevalidation } from '../../src/authn/credential/credential-authenticator.js';
import { CredentialStore } from '../../src/authn/credential/credential-store.js';
import { githubLoginSchema } from '../../src/authn/github/github-config.js';
import { GithubLogin } from '../../src/authn/github/github-login.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { SealedBox } from '../../src/crypto/sealed-box.js';
import { BrowserSessions } from '../../src/flows/browser-sessions.js';
import { freePort } from '../support/ports.js';
import { tempStore } from '../support/store.js';
import { startGithubStandIn, type GithubStandIn, type GithubUser } from '../support/github-standin.js';

const octocat: GithubUser = { login: 'octocat', id: 1, orgs: ['acme'] };
let github: GithubStandIn;

beforeAll(async () => {
  github = await startGithubStandIn([octocat]);
});
afterAll(async () => github?.close());

/** A real GitHub-style login against the stand-in, as the browser would do it, without a browser. */
async function loginWithGithub(login: GithubLogin, sessions: BrowserSessions) {
  const redirectUri = 'http://127.0.0.1:1/login/github/callback';
  const pending = await sessions.beginLogin('github', '/account', '127.0.0.1', login.prepare());
  const authorize = await login.loginUrl(redirectUri, pending);
  const approved = await fetch(authorize, { method: 'POST', body: new URLSearchParams({ login: 'octocat' }), headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
  return login.handleCallback({ url: new URL(approved.headers.get('location')!) }, pending);
}

describe('credentials re-check the GitHub identity behind them', () => {
  it('keeps working while the user is in the allowed organisation, and is revoked once they leave', async () => {
    let now = 1_800_000_000_000;
    const hashKey = randomBytes(32);
    const cache = new MemoryCache({ maxEntries: 100, now: () => now });
    const login = new GithubLogin(githubLoginSchema.parse({ type: 'github', clientId: github.clientId, webUrl: github.url, apiUrl: github.apiUrl, allowedOrgs: ['acme'] }), { method: 'client_secret_post', secret: github.clientSecret });
    const result = await loginWithGithub(login, new BrowserSessions({ store: tempStore(() => now), pending: cache, hashKey, sessionSeconds: 3600, now: () => now }));
    expect(result.kind).toBe('ok');
    expect(result.upstreamToken).toMatch(/^gho_/);

    const box = new SealedBox(hashKey);
    const store = new CredentialStore({ store: tempStore(() => now), hashKey, maxLifetimeSeconds: 30 * 86_400, now: () => now });
    const revalidation: CredentialRevalidation = { everyMs: 3_600_000, now: () => now, check: async (_p, sealed) => login.revalidate(box.open(sealed)!) };
    const auth = new CredentialAuthenticator(store, revalidation);
    const sealed = box.seal(result.upstreamToken!);
    expect(sealed).not.toContain(result.upstreamToken!.slice(4));
    const { secret } = await store.create(result.kind === 'ok' ? result.identity : (undefined as never), { label: 'laptop', lifetimeSeconds: 86_400, source: 'browser', upstream: { provider: 'github', sealed } });

    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    octocat.orgs = ['elsewhere'];
    now += 30 * 60_000; // not yet due
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    now += 31 * 60_000; // due: GitHub now says the user left acme
    const refused = await auth.login('octocat', secret);
    expect(refused).toEqual({ kind: 'denied', reason: 'the github identity behind this credential is no longer valid; the credential was revoked' });
    octocat.orgs = ['acme'];
    expect((await auth.login('octocat', secret)).kind).toBe('denied'); // revoked for good
    expect(await store.list('octocat')).toEqual([]);
  });

  it('does not revoke a credential while GitHub rate-limits Wharf, and still revokes it when the user has left', async () => {
    let now = 1_800_000_000_000;
    const hashKey = randomBytes(32);
    const cache = new MemoryCache({ maxEntries: 100, now: () => now });
    const login = new GithubLogin(githubLoginSchema.parse({ type: 'github', clientId: github.clientId, webUrl: github.url, apiUrl: github.apiUrl, allowedOrgs: ['acme'] }), { method: 'client_secret_post', secret: github.clientSecret });
    octocat.orgs = ['acme'];
    const result = await loginWithGithub(login, new BrowserSessions({ store: tempStore(() => now), pending: cache, hashKey, sessionSeconds: 3600, now: () => now }));
    expect(result.kind).toBe('ok');
    const box = new SealedBox(hashKey);
    const store = new CredentialStore({ store: tempStore(() => now), hashKey, maxLifetimeSeconds: 86_400, now: () => now });
    const auth = new CredentialAuthenticator(store, { everyMs: 60_000, now: () => now, check: async (_p, sealed) => login.revalidate(box.open(sealed)!) });
    const { secret } = await store.create(result.kind === 'ok' ? result.identity : (undefined as never), { label: 'ci', lifetimeSeconds: 3600, source: 'device', upstream: { provider: 'github', sealed: box.seal(result.upstreamToken!) } });

    github.rateLimited(true);
    try {
      now += 61_000;
      expect((await auth.login('octocat', secret)).kind).toBe('ok');
      expect(await store.list('octocat')).toHaveLength(1);
    } finally {
      github.rateLimited(false);
    }
    octocat.orgs = ['elsewhere'];
    expect((await auth.login('octocat', secret)).kind).toBe('denied'); // due again, and GitHub answers now
    octocat.orgs = ['acme'];
  });

  it('keeps a credential working when GitHub cannot be asked, and asks again next time', async () => {
    let now = 1_800_000_000_000;
    const hashKey = randomBytes(32);
    const unreachable = new GithubLogin(
      githubLoginSchema.parse({ type: 'github', clientId: 'x', webUrl: github.url, apiUrl: `http://127.0.0.1:${await freePort()}/api`, allowedOrgs: ['acme'] }),
      { method: 'client_secret_post', secret: 'secret' },
    );
    let checks = 0;
    const box = new SealedBox(hashKey);
    const store = new CredentialStore({ store: tempStore(() => now), hashKey, maxLifetimeSeconds: 86_400, now: () => now });
    const auth = new CredentialAuthenticator(store, { everyMs: 60_000, now: () => now, check: async (_p, sealed) => (checks++, unreachable.revalidate(box.open(sealed)!)) });
    const identity = { account: 'octocat', provider: 'github', subject: '1', attributes: {} };
    const { secret } = await store.create(identity, { label: 'x', lifetimeSeconds: 3600, source: 'device', upstream: { provider: 'github', sealed: box.seal('gho_whatever') } });
    now += 61_000;
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect(checks).toBe(2); // still due, since no check succeeded
  });

  it('remembers a passed re-check, and never brings back a credential revoked while its re-check was under way', async () => {
    let now = 1_800_000_000_000;
    const store = new CredentialStore({ store: tempStore(() => now), hashKey: randomBytes(32), maxLifetimeSeconds: 30 * 86_400, now: () => now });
    let checks = 0;
    let release: () => void = () => {};
    const revalidation: CredentialRevalidation = {
      everyMs: 3_600_000,
      now: () => now,
      check: async () => {
        checks++;
        await new Promise<void>((resolve) => (release = resolve));
        return 'valid';
      },
    };
    const auth = new CredentialAuthenticator(store, revalidation);
    const checking = async (n: number) => {
      while (checks < n) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    const identity = { account: 'octocat', provider: 'github', subject: '1', attributes: {} };
    const { secret, record } = await store.create(identity, { label: 'laptop', lifetimeSeconds: 86_400, source: 'browser', upstream: { provider: 'github', sealed: 'x' } });

    now += 2 * 3_600_000; // due
    const first = auth.login('octocat', secret);
    await checking(1);
    release();
    expect((await first).kind).toBe('ok');
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect(checks).toBe(1); // the passed re-check was noted

    now += 2 * 3_600_000; // due again; the user revokes it from the account page meanwhile
    const racing = auth.login('octocat', secret);
    await checking(2);
    expect(await store.revoke('octocat', record.id)).toBe(true);
    release();
    await racing;
    expect((await auth.login('octocat', secret)).kind).toBe('denied');
    expect(await store.list('octocat')).toEqual([]);
  });

  it('refuses a tampered sealed box', () => {
    const box = new SealedBox(randomBytes(32));
    const sealed = box.seal('gho_secret');
    expect(box.open(sealed)).toBe('gho_secret');
    expect(box.open(`${sealed.slice(0, -2)}AA`)).toBeUndefined();
    expect(new SealedBox(randomBytes(32)).open(sealed)).toBeUndefined();
  });
});
