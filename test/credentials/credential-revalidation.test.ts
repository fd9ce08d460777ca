import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialAuthenticator, type CredentialRevalidation } from '../../src/credentials/registry/credential-authenticator.js';
import { upstreamRechecks } from '../../src/credentials/registry/credential-revalidation.js';
import { CredentialStore } from '../../src/credentials/registry/credential-store.js';
import { githubLoginSchema } from '../../src/authn/github/github-config.js';
import { GithubLogin } from '../../src/authn/github/github-login.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { SealedBox } from '../../src/crypto/sealed-box.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import type { LmdbStore } from '../../src/store/lmdb-store.js';
import { createLogger } from '../../src/logging.js';
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

/** The re-checks services.ts builds, for these providers, every `everyMinutes`. */
function rechecksFor(login: GithubLogin, hashKey: Buffer, everyMinutes: number, now: () => number) {
  return upstreamRechecks({ everyMinutes, graceHours: 72, providers: [login], box: new SealedBox(hashKey), logger: createLogger('silent'), now });
}

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
    expect(result.upstream?.accessToken).toMatch(/^gho_/);

    const store = new CredentialStore({ store: tempStore(() => now), hashKey, maxLifetimeSeconds: 30 * 86_400, maxLifetimeWithoutRecheckSeconds: 86_400, now: () => now });
    const rechecks = rechecksFor(login, hashKey, 60, () => now);
    const auth = new CredentialAuthenticator(store, rechecks.revalidation);
    const upstream = rechecks.sealUpstream('github', result.upstream)!;
    expect(upstream.sealed).not.toContain(result.upstream!.accessToken.slice(4));
    expect(upstream.renewable).toBe(true); // an OAuth app's token does not expire
    const { secret } = await store.create(result.kind === 'ok' ? result.identity : (undefined as never), { label: 'laptop', lifetimeSeconds: 2 * 86_400, source: 'browser', upstream });

    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    octocat.orgs = ['elsewhere'];
    now += 30 * 60_000; // not yet due
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    now += 31 * 60_000; // due: GitHub now says the user left acme
    const refused = await auth.login('octocat', secret);
    expect(refused).toEqual({ kind: 'denied', reason: 'the github identity behind this credential is no longer valid (the GitHub user is not a member of an allowed organisation (acme)); the credential was revoked' });
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
    const store = new CredentialStore({ store: tempStore(() => now), hashKey, maxLifetimeSeconds: 86_400, now: () => now });
    const rechecks = rechecksFor(login, hashKey, 1, () => now);
    const auth = new CredentialAuthenticator(store, rechecks.revalidation);
    const { secret } = await store.create(result.kind === 'ok' ? result.identity : (undefined as never), { label: 'ci', lifetimeSeconds: 3600, source: 'device', upstream: rechecks.sealUpstream('github', result.upstream) });

    github.rateLimited(true);
    try {
      now += 61_000;
      expect((await auth.login('octocat', secret)).kind).toBe('ok');
      expect(await store.list('octocat')).toHaveLength(1);
    } finally {
      github.rateLimited(false);
    }
    octocat.orgs = ['elsewhere'];
    now += 61_000; // GitHub is asked at most once a minute per login while it does not answer
    expect((await auth.login('octocat', secret)).kind).toBe('denied'); // due again, and GitHub answers now
    octocat.orgs = ['acme'];
  });

  it('keeps a credential working when GitHub cannot be asked, asks again a minute later, and refuses it (503, not revoked) past the grace time', async () => {
    let now = 1_800_000_000_000;
    const hashKey = randomBytes(32);
    const unreachable = new GithubLogin(
      githubLoginSchema.parse({ type: 'github', clientId: 'x', webUrl: github.url, apiUrl: `http://127.0.0.1:${await freePort()}/api`, allowedOrgs: ['acme'] }),
      { method: 'client_secret_post', secret: 'secret' },
    );
    let checks = 0;
    const rechecks = rechecksFor(unreachable, hashKey, 1, () => now);
    const store = new CredentialStore({ store: tempStore(() => now), hashKey, maxLifetimeSeconds: 30 * 86_400, now: () => now });
    const auth = new CredentialAuthenticator(store, { ...rechecks.revalidation, check: async (u, i) => (checks++, rechecks.revalidation.check(u, i)) });
    const identity = { account: 'octocat', provider: 'github', subject: '1', attributes: {} };
    const { secret } = await store.create(identity, { label: 'x', lifetimeSeconds: 10 * 86_400, source: 'device', upstream: rechecks.sealUpstream('github', { accessToken: 'gho_whatever' }) });
    now += 61_000;
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect(checks).toBe(1); // not again within the minute
    now += 61_000;
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect(checks).toBe(2); // still due, since no check succeeded
    now += 72 * 3_600_000; // the grace time (72 h past the due check) is over
    await expect(auth.login('octocat', secret)).rejects.toThrow(TemporarilyUnavailableError);
    await expect(auth.login('octocat', secret)).rejects.toThrow('the sign-in provider github cannot be asked about this credential and last confirmed it 72 hours ago; it works again once the provider answers');
    expect(await store.list('octocat')).toHaveLength(1); // refused, not revoked
  });

  it('remembers a passed re-check, and never brings back a credential revoked while its re-check was under way', async () => {
    let now = 1_800_000_000_000;
    const store = new CredentialStore({ store: tempStore(() => now), hashKey: randomBytes(32), maxLifetimeSeconds: 30 * 86_400, now: () => now });
    let checks = 0;
    let release: () => void = () => {};
    const revalidation: CredentialRevalidation = {
      everyMs: 3_600_000,
      graceMs: 0,
      now: () => now,
      check: async (_upstream, identity) => {
        checks++;
        await new Promise<void>((resolve) => (release = resolve));
        return { kind: 'valid', identity };
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

  it('counts a re-check whose new tokens the store did not record as not done: the credential works, and the next check sends the tokens last recorded', async () => {
    let now = 1_800_000_000_000;
    const lmdb = tempStore(() => now);
    let refuseNotes = true;
    // The real store, refusing the note's write as a store that is full or read-only would.
    const store = Object.assign(Object.create(lmdb) as LmdbStore, {
      put: (key: string, value: string, ttl?: number) =>
        refuseNotes && key.startsWith('credval:') ? Promise.reject(new TemporarilyUnavailableError('the state store is unavailable')) : lmdb.put(key, value, ttl),
    });
    const credentials = new CredentialStore({ store, hashKey: randomBytes(32), maxLifetimeSeconds: 30 * 86_400, now: () => now });
    const sent: string[] = [];
    const auth = new CredentialAuthenticator(credentials, {
      everyMs: 3_600_000,
      graceMs: 3_600_000,
      now: () => now,
      check: async (upstream, identity) => (sent.push(upstream.sealed), { kind: 'valid', identity, sealed: `rotated-${sent.length}` }),
    });
    const identity = { account: 'octocat', provider: 'oidc', subject: '1', attributes: {} };
    const { secret } = await credentials.create(identity, { label: 'x', lifetimeSeconds: 86_400, source: 'browser', upstream: { provider: 'sso', sealed: 'first', grant: 'g1', renewable: true } });

    now += 3_600_000;
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    refuseNotes = false;
    now += 61_000; // still due: nothing was recorded
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    now += 3_600_000;
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect(sent).toEqual(['first', 'first', 'rotated-2']);
  });

  it('ends credentials made before logins kept provider tokens a day after their creation, since nothing can re-check them', async () => {
    let now = 1_800_000_000_000;
    const records = tempStore(() => now);
    const hashKey = randomBytes(32);
    const identity = { account: 'octocat', provider: 'oidc', subject: '1', attributes: { groups: ['devs'] } };
    // Written as the version before wrote it: 30 days, no provider tokens.
    const before = new CredentialStore({ store: records, hashKey, maxLifetimeSeconds: 90 * 86_400, now: () => now });
    const { secret } = await before.create(identity, { label: 'laptop', lifetimeSeconds: 30 * 86_400, source: 'browser' });
    const store = new CredentialStore({ store: records, hashKey, maxLifetimeSeconds: 90 * 86_400, maxLifetimeWithoutRecheckSeconds: 86_400, now: () => now });
    const auth = new CredentialAuthenticator(store);
    now += 86_400_000 - 1;
    expect((await auth.login('octocat', secret)).kind).toBe('ok');
    expect((await store.list('octocat'))[0]?.expiresAt).toBe(1_800_000_000_000 + 86_400_000);
    now += 1;
    expect((await auth.login('octocat', secret)).kind).toBe('denied');
    expect(await store.list('octocat')).toEqual([]);
  });

  it('refuses a tampered sealed box', () => {
    const box = new SealedBox(randomBytes(32));
    const sealed = box.seal('gho_secret');
    expect(box.open(sealed)).toBe('gho_secret');
    // Two characters changed, whatever they were (a fixed replacement was no change at all 1 time in 4096).
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(box.open(tampered)).toBeUndefined();
    expect(new SealedBox(randomBytes(32)).open(sealed)).toBeUndefined();
  });
});
