import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { GithubTokenAuthenticator } from '../../src/authn/provider-token/github-token-authenticator.js';
import { githubTokenAuthnSchema } from '../../src/authn/provider-token/github-token-config.js';
import type { Cache } from '../../src/cache/cache.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { keyedHash } from '../../src/crypto/keyed-hash.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { useFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { captureLog } from '../support/log-capture.js';
import { RecordingCache } from '../support/recording-cache.js';
import { githubOrgsEndpoint, githubUserEndpoint, type FakeGithubUser } from '../support/token-platforms.js';

const ctx = { clientIp: '127.0.0.1', service: 'registry' };
/** GitHub Enterprise Server layout, which also proves the base URL is configurable. */
const API = '/api/v3';
const alnum = (n: number) => randomBytes(n * 2).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, n);
const classic = () => `ghp_${alnum(36)}`;

/** Tokens the fake GitHub knows: token → user. */
const users = new Map<string, FakeGithubUser>();
const platform: FakePlatform = useFakePlatform({ [`${API}/user`]: githubUserEndpoint(users), [`${API}/user/orgs`]: githubOrgsEndpoint(users, () => platform.url) });
beforeEach(() => users.clear());
/** Every log line of every test, to prove no token ever reaches a log. */
const allLogs = captureLog();
const tokensUsed: string[] = [];

function setup(overrides: Record<string, unknown> = {}, shared?: { cache: Cache; hashKey: Buffer }) {
  let now = Date.UTC(2026, 10, 23, 12);
  const log = captureLog('debug', { also: allLogs });
  const cache = shared?.cache ?? new MemoryCache({ maxEntries: 1000, now: () => now });
  // The backend on its own: the config rule that an unrestricted GitHub needs an account prefix is
  // tested with the root config; here accounts stay the bare logins the assertions name.
  const parsed = githubTokenAuthnSchema.parse({ type: 'github-token', apiUrl: `${platform.url}${API}`, timeoutMs: 300, allowAnyAccount: true, accountPrefix: 'unused-', ...overrides });
  const { accountPrefix: _, ...bare } = parsed;
  const config = 'accountPrefix' in overrides ? parsed : bare;
  const auth = new GithubTokenAuthenticator(config, { cache, hashKey: shared?.hashKey ?? randomBytes(32), logger: log.logger, now: () => now });
  const login = (username: string, token: string) => {
    tokensUsed.push(token);
    return auth.login(username, token, ctx);
  };
  return { auth, login, logs: log.text, advance: (ms: number) => void (now += ms) };
}

const userCalls = () => platform.count(`${API}/user`);
const orgCalls = () => platform.count(`${API}/user/orgs`);

describe('GithubTokenAuthenticator', () => {
  it('asks GET /user with the token as bearer and makes the lower-cased login the account', async () => {
    const { login } = setup();
    const token = classic();
    users.set(token, { login: 'Alice-Smith', id: 583231, orgs: [] });
    expect(await login('alice-smith', token)).toEqual({
      kind: 'ok',
      identity: { account: 'alice-smith', provider: 'github-token', subject: '583231', attributes: { github_id: 583231, login: 'Alice-Smith' }, owner: { source: `github:${new URL(platform.url).host}`, subject: '583231' } },
    });
    const call = platform.calls.filter((c) => c.path === `${API}/user`).at(-1)!;
    expect(call.method).toBe('GET');
    expect(call.headers.authorization).toBe(`Bearer ${token}`);
    expect(call.headers.accept).toBe('application/vnd.github+json');
    expect(call.headers['x-github-api-version']).toBe('2022-11-28');
  });

  it('claims every GitHub user-token format and nothing else', async () => {
    const { login } = setup({ usernamePolicy: 'any' });
    const formats = [classic(), `gho_${alnum(36)}`, `ghu_${alnum(36)}`, `github_pat_${alnum(22)}_${alnum(59)}`];
    formats.forEach((t, i) => users.set(t, { login: `user${i}`, id: i + 1, orgs: [] }));
    for (const token of formats) expect((await login('x', token)).kind).toBe('ok');
    const before = userCalls();
    for (const password of ['hunter2', `ghs_${alnum(36)}`, 'ghp_short', `${classic()} `, 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln', `ya29.${alnum(100)}`]) {
      expect(await login('x', password)).toEqual({ kind: 'no_match' });
    }
    expect(userCalls() - before).toBe(0);
  });

  it('denies a token GitHub rejects (401), and remembers that for negativeCacheSeconds', async () => {
    const { login, advance } = setup({ negativeCacheSeconds: 30 });
    const token = classic();
    const before = userCalls();
    for (let i = 0; i < 5; i++) {
      expect(await login('alice', token)).toEqual({ kind: 'denied', reason: 'GitHub rejected the token at GET /user (401): unknown, expired or revoked' });
    }
    expect(userCalls() - before).toBe(1);
    advance(31_000);
    users.set(token, { login: 'alice', id: 1, orgs: [] });
    expect((await login('alice', token)).kind).toBe('ok');
    expect(userCalls() - before).toBe(2);
  });

  it('requires the docker username to be the login (case-insensitively) unless usernamePolicy is any', async () => {
    const token = classic();
    users.set(token, { login: 'Alice', id: 7, orgs: [] });
    const strict = setup();
    expect((await strict.login('ALICE', token)).kind).toBe('ok');
    expect(await strict.login('bob', token)).toEqual({ kind: 'denied', reason: 'the username "bob" is not the token\'s GitHub login "Alice"' });
    expect(await strict.login('', token)).toEqual({ kind: 'denied', reason: 'the username "" is not the token\'s GitHub login "Alice"' });
    const any = setup({ usernamePolicy: 'any' });
    const result = await any.login('x-access-token', token);
    expect(result.kind === 'ok' && result.identity.account).toBe('alice');
  });

  it('denies a login that is no registry name, rather than rewriting it', async () => {
    const { login } = setup({ usernamePolicy: 'any' });
    const token = classic();
    users.set(token, { login: 'octo_', id: 9, orgs: [] });
    expect(await login('x', token)).toEqual({ kind: 'denied', reason: 'GitHub login "octo_" is not a valid registry name' });
  });

  it('denies a non-ASCII login before lower-casing it, and never counts a non-ASCII organisation as an allowed one', async () => {
    const { login } = setup({ usernamePolicy: 'any' });
    const kelvin = classic();
    // KELVIN SIGN: lower-cased, "\u212Aevin" would have been the account kevin.
    users.set(kelvin, { login: '\u212Aevin', id: 10, orgs: [] });
    expect(await login('x', kelvin)).toEqual({ kind: 'denied', reason: 'GitHub login "\\u212Aevin" holds U+212A: account names must be ASCII' });
    const restricted = setup({ allowedOrgs: ['kelp'] });
    const member = classic();
    users.set(member, { login: 'mallory', id: 11, orgs: ['\u212Aelp'] });
    expect(await restricted.login('mallory', member)).toMatchObject({ kind: 'denied', reason: expect.stringContaining('is in none of the allowed organisations') });
  });

  it('lets in the listed users, besides members of allowed organisations', async () => {
    const { login } = setup({ allowedUsers: ['Alice'], allowedOrgs: ['acme'] });
    const [alice, member, outsider] = [classic(), classic(), classic()];
    users.set(alice, { login: 'alice', id: 7, orgs: [] });
    users.set(member, { login: 'carol', id: 8, orgs: ['acme'] });
    users.set(outsider, { login: 'mallory', id: 9, orgs: ['other'] });
    expect((await login('alice', alice)).kind).toBe('ok');
    expect((await login('carol', member)).kind).toBe('ok');
    expect(await login('mallory', outsider)).toEqual({ kind: 'denied', reason: 'GitHub user mallory is in none of the allowed organisations (acme)' });
    const { login: onlyUsers } = setup({ allowedUsers: ['alice'] });
    expect((await onlyUsers('alice', alice)).kind).toBe('ok');
    expect(await onlyUsers('carol', member)).toEqual({ kind: 'denied', reason: 'GitHub user carol is not one of allowedUsers' });
  });

  it('puts the account prefix before the login, and accepts the login or the prefixed name as username', async () => {
    const { login } = setup({ accountPrefix: 'gh-' });
    const token = classic();
    users.set(token, { login: 'Octocat', id: 583231, orgs: [] });
    const plain = await login('octocat', token);
    expect(plain.kind === 'ok' && plain.identity.account).toBe('gh-octocat');
    expect((await login('gh-octocat', token)).kind).toBe('ok');
  });

  it('adds the organisations when fetchOrgs is set', async () => {
    const { login } = setup({ fetchOrgs: true });
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: ['Acme', 'oss-friends'] });
    const result = await login('alice', token);
    expect(result.kind === 'ok' && result.identity.attributes).toEqual({ github_id: 7, login: 'alice', orgs: ['acme', 'oss-friends'] });
  });

  it('lets in members of an allowed organisation only, reading every page of /user/orgs', async () => {
    const { login } = setup({ allowedOrgs: ['ACME'] });
    const member = classic();
    const outsider = classic();
    users.set(member, { login: 'alice', id: 7, orgs: [...Array.from({ length: 150 }, (_, i) => `org-${i}`), 'acme'] });
    users.set(outsider, { login: 'mallory', id: 8, orgs: ['evil-corp'] });
    const before = orgCalls();
    const ok = await login('alice', member);
    expect(ok.kind === 'ok' && (ok.identity.attributes.orgs as string[]).length).toBe(151);
    expect(orgCalls() - before).toBe(2); // 100 + 51
    expect(await login('mallory', outsider)).toEqual({ kind: 'denied', reason: 'GitHub user mallory is in none of the allowed organisations (acme)' });
  });

  it('denies when the token may not list organisations and allowedOrgs needs them', async () => {
    const { login } = setup({ allowedOrgs: ['acme'] });
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: ['acme'], orgsForbidden: true });
    expect(await login('alice', token)).toEqual({ kind: 'denied', reason: 'GitHub refused to list the user’s organisations (403): the token needs read:org' });
  });

  it('caches GitHub’s answer for cacheSeconds under a keyed hash, never the token itself', async () => {
    const entries = new Map<string, string>();
    const recording: Cache = {
      get: async (k) => entries.get(k),
      set: async (k, v) => void entries.set(k, v),
      delete: async (k) => void entries.delete(k),
      healthy: async () => true,
      close: async () => undefined,
    };
    const { login } = setup({ cacheSeconds: 300 }, { cache: recording, hashKey: randomBytes(32) });
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: [] });
    const before = userCalls();
    for (let i = 0; i < 5; i++) expect((await login('alice', token)).kind).toBe('ok');
    expect(userCalls() - before).toBe(1);
    expect(entries.size).toBe(1);
    const [key, value] = [...entries][0]!;
    expect(key).toMatch(/^ptok:[0-9a-f]{64}$/);
    expect(`${key}${value}`).not.toContain(token);
    expect(`${key}${value}`).not.toContain(token.slice(4, 20));
  });

  it('writes and reads answers in the format replicas of other versions share', async () => {
    const hashKey = randomBytes(32);
    const cache = new RecordingCache();
    const { login } = setup({ cacheSeconds: 300, negativeCacheSeconds: 30 }, { cache, hashKey });
    const [good, bad] = [classic(), classic()];
    users.set(good, { login: 'Alice', id: 7, orgs: [] });
    expect((await login('alice', good)).kind).toBe('ok');
    expect((await login('alice', bad)).kind).toBe('denied');
    const keyOf = (token: string) => `ptok:${keyedHash(hashKey, 'github-token', `${platform.url}${API}`, token)}`;
    expect(cache.writes).toEqual([
      { key: keyOf(good), value: '{"valid":true,"facts":{"id":7,"login":"Alice"}}', ttlSeconds: 300 },
      { key: keyOf(bad), value: '{"valid":false,"reason":"GitHub rejected the token at GET /user (401): unknown, expired or revoked"}', ttlSeconds: 30 },
    ]);
    // Another replica answers from those entries without asking GitHub.
    const other = new RecordingCache();
    for (const { key, value } of cache.writes) other.entries.set(key, value);
    const replica = setup({}, { cache: other, hashKey });
    const before = userCalls();
    expect((await replica.auth.recall('alice', good, ctx))?.kind).toBe('ok');
    expect((await replica.login('alice', good)).kind).toBe('ok');
    expect((await replica.login('alice', bad)).kind).toBe('denied');
    expect(userCalls()).toBe(before);
  });

  it('expires the cached answer after cacheSeconds (a revoked token stops working)', async () => {
    const { login, advance } = setup({ cacheSeconds: 300 });
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: [] });
    expect((await login('alice', token)).kind).toBe('ok');
    users.delete(token); // revoked on GitHub
    advance(299_000);
    expect((await login('alice', token)).kind).toBe('ok');
    advance(2_000);
    expect((await login('alice', token)).kind).toBe('denied');
  });

  it('does not share cache entries between GitHub servers, and asks again when a cached answer lacks the orgs it needs', async () => {
    const shared = { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32) };
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: ['acme'] });
    const plain = setup({}, shared);
    const viaOtherHost = setup({ apiUrl: `${platform.url.replace('127.0.0.1', 'localhost')}${API}` }, shared);
    const withOrgs = setup({ allowedOrgs: ['acme'] }, shared);
    const before = userCalls();
    expect((await plain.login('alice', token)).kind).toBe('ok');
    expect((await viaOtherHost.login('alice', token)).kind).toBe('ok');
    expect(userCalls() - before).toBe(2);
    const orgsBefore = orgCalls();
    expect((await withOrgs.login('alice', token)).kind).toBe('ok');
    expect(orgCalls() - orgsBefore).toBe(1);
    expect(userCalls() - before).toBe(3);
  });

  it('makes one call for many concurrent logins with the same token', async () => {
    const { login } = setup();
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: [] });
    platform.setFault(`${API}/user`, { kind: 'slow', ms: 50 });
    const before = userCalls();
    const results = await Promise.all(Array.from({ length: 20 }, () => login('alice', token)));
    expect(results.every((r) => r.kind === 'ok')).toBe(true);
    expect(userCalls() - before).toBe(1);
  });

  it.each([
    ['down (503)', { kind: 'status', status: 503 }],
    ['failing (500)', { kind: 'status', status: 500, body: '{"message":"Server Error"}', contentType: 'application/json' }],
    ['slow', { kind: 'slow', ms: 1000 }],
    ['resetting connections', { kind: 'reset' }],
    ['answering garbage', { kind: 'malformed' }],
    ['rate limiting (403)', { kind: 'status', status: 403, body: '{"message":"API rate limit exceeded for user ID 7."}', contentType: 'application/json' }],
    ['rate limiting (429)', { kind: 'status', status: 429, body: '{"message":"You have exceeded a secondary rate limit."}', contentType: 'application/json' }],
  ] as const)('answers 503, not 401, when GitHub is %s, and does not cache that', async (_name, fault) => {
    const { login, logs } = setup();
    const token = classic();
    users.set(token, { login: 'alice', id: 7, orgs: [] });
    platform.setFault(`${API}/user`, fault);
    const error = await login('alice', token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporarilyUnavailableError);
    expect((error as TemporarilyUnavailableError).status).toBe(503);
    expect(logs()).toMatch(/fail closed/);
    platform.setFault(`${API}/user`, undefined);
    expect((await login('alice', token)).kind).toBe('ok');
  });

  it('recalls only what it verified before, without asking GitHub, and applies its policy to it again', async () => {
    const { auth, login } = setup({ allowedOrgs: ['acme'], usernamePolicy: 'match' });
    const token = classic();
    users.set(token, { login: 'carol', id: 77, orgs: ['acme'] });
    const before = userCalls();
    // Not this backend's: another backend may be asked.
    expect(await auth.recall('carol', 'not-a-github-token', ctx)).toEqual({ kind: 'no_match' });
    // Never verified: only a verification can tell.
    expect(await auth.recall('carol', token, ctx)).toBeUndefined();
    expect(userCalls()).toBe(before);
    const verified = await login('carol', token);
    expect(verified.kind).toBe('ok');
    const calls = userCalls() + orgCalls();
    expect(await auth.recall('carol', token, ctx)).toEqual(verified);
    // The same token under another name is not recalled (the verification refuses it, with its reason).
    expect(await auth.recall('mallory', token, ctx)).toBeUndefined();
    expect(userCalls() + orgCalls()).toBe(calls);
    // A rejected token is not recalled either: refusals go through the limits.
    const bad = classic();
    expect((await login('carol', bad)).kind).toBe('denied');
    expect(await auth.recall('carol', bad, ctx)).toBeUndefined();
  });

  it('never logs a token', () => {
    expect(tokensUsed.length).toBeGreaterThan(20);
    expect(allLogs.text()).toMatch(/fail closed/);
    for (const token of tokensUsed) if (token.length > 20) expect(allLogs.text()).not.toContain(token.slice(4));
  });
});
