import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { IntrospectionAuthenticator } from '../../src/authn/introspection/introspection-authenticator.js';
import { introspectionAuthnSchema, type IntrospectionAuthnConfig } from '../../src/authn/introspection/introspection-config.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { keyedHash } from '../../src/crypto/keyed-hash.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { UpstreamClient } from '../../src/upstream/upstream-client.js';
import { useFakePlatform } from '../support/fake-platform.js';
import { captureLog } from '../support/log-capture.js';
import { RecordingCache } from '../support/recording-cache.js';

const SECRET = randomBytes(12).toString('hex');
const ctx = { clientIp: '127.0.0.1', service: 'registry' };
/** Platform tokens the fake knows: token → claims. */
const tokens = new Map<string, Record<string, unknown>>();
const platform = useFakePlatform({
  '/introspect': (req) => {
    if (req.headers.authorization !== `Basic ${Buffer.from(`wharf:${SECRET}`).toString('base64')}` && req.headers.authorization !== `Bearer ${SECRET}`) {
      return { status: 401, body: { error: 'invalid_client' } };
    }
    const claims = tokens.get(req.form?.get('token') ?? '');
    return { status: 200, body: claims ? { active: true, ...claims } : { active: false } };
  },
  // SAGE: 410 for unknown tokens, 404 for expired ones.
  '/sage/token_info': (req) => {
    const token = req.form?.get('token') ?? '';
    if (token === 'expired-token') return { status: 404, body: 'token expired (2026-01-01)', contentType: 'text/plain' };
    const claims = tokens.get(token);
    return claims ? { status: 200, body: { active: true, ...claims } } : { status: 410, body: { error: 'token not found' } };
  },
});
beforeEach(() => tokens.clear());

function setup(overrides: Partial<IntrospectionAuthnConfig> & Record<string, unknown> = {}, clientSecret = SECRET) {
  let now = Date.UTC(2026, 10, 23, 12);
  const log = captureLog('info');
  const cache = new MemoryCache({ maxEntries: 1000, now: () => now });
  const config = introspectionAuthnSchema.parse({ type: 'introspection', url: `${platform.url}/introspect`, timeoutMs: 300, ...overrides });
  const upstream = new UpstreamClient({ name: 'introspection', timeoutMs: 300, retries: 1, sleep: async () => {}, now: () => now, failureThreshold: 3, openMs: 10_000 });
  const auth = new IntrospectionAuthenticator(config, { cache, hashKey: randomBytes(32), logger: log.logger, clientSecret, upstream, now: () => now });
  return { auth, cache, logs: log.text, advance: (ms: number) => void (now += ms), nowSeconds: () => Math.floor(now / 1000) };
}

describe('IntrospectionAuthenticator (RFC 7662)', () => {
  it('posts the token as a form with Wharf’s client credentials and maps the answer to an identity', async () => {
    const { auth, nowSeconds } = setup();
    tokens.set('tok-alice', { username: 'alice', sub: 'u-123', scope: 'registry:push', client_id: 'cli', exp: nowSeconds() + 3600, org: 'acme' });
    const result = await auth.login('alice', 'tok-alice', ctx);
    // `exp` becomes `expiresAt`, which caps the registry token's lifetime.
    const attributes = { username: 'alice', sub: 'u-123', scope: 'registry:push', client_id: 'cli', org: 'acme', expiresAt: nowSeconds() + 3600 };
    expect(result).toEqual({
      kind: 'ok',
      identity: { account: 'alice', provider: 'introspection', subject: 'u-123', attributes, owner: { source: `introspection:${platform.url}/introspect` } },
    });
    const call = platform.calls.at(-1)!;
    expect(call.method).toBe('POST');
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(call.form!)).toEqual({ token: 'tok-alice', token_type_hint: 'access_token' });
  });

  it('authenticates with a bearer secret when configured', async () => {
    const { auth } = setup({ clientAuth: 'bearer' });
    tokens.set('t', { username: 'alice' });
    expect((await auth.login('alice', 't', ctx)).kind).toBe('ok');
    expect(platform.calls.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  describe('client authentication against a server that decodes it as RFC 6749 §2.3.1 says', () => {
    // Characters a raw Basic header would garble: `+` decodes to a space, `%` starts an escape,
    // `:` in the id would split it early; `/` and `=` are base64 padding look-alikes.
    const ID = 'wharf:prod';
    const PASSWORD = `s3cr+t/${randomBytes(6).toString('base64')}=%41:x`;

    beforeEach(() => {
      platform.setHandler('/introspect-rfc', (req) => {
        const decode = (v: string) => new URLSearchParams(`v=${v}`).get('v');
        let client: { id: string | null; secret: string | null } | undefined;
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
        if (basic) {
          const pair = Buffer.from(basic[1]!, 'base64').toString();
          const colon = pair.indexOf(':');
          client = { id: decode(pair.slice(0, colon)), secret: decode(pair.slice(colon + 1)) };
        } else if (req.form?.has('client_id')) {
          client = { id: req.form.get('client_id'), secret: req.form.get('client_secret') };
        }
        if (client?.id !== ID || client.secret !== PASSWORD) return { status: 401, body: { error: 'invalid_client' } };
        return { status: 200, body: { active: true, username: 'alice' } };
      });
    });

    it('form-encodes id and secret before Basic by default, so a secret with + / = % works', async () => {
      const { auth } = setup({ url: `${platform.url}/introspect-rfc`, clientId: ID }, PASSWORD);
      expect((await auth.login('alice', 'tok', ctx)).kind).toBe('ok');
      expect(platform.calls.at(-1)!.headers.authorization).toMatch(/^Basic /);
    });

    it('sends them in the form body with client_secret_post, and no Authorization header', async () => {
      const { auth } = setup({ url: `${platform.url}/introspect-rfc`, clientId: ID, clientAuth: 'client_secret_post' }, PASSWORD);
      expect((await auth.login('alice', 'tok', ctx)).kind).toBe('ok');
      const call = platform.calls.at(-1)!;
      expect(call.headers.authorization).toBeUndefined();
      expect(Object.fromEntries(call.form!)).toEqual({ token: 'tok', token_type_hint: 'access_token', client_id: ID, client_secret: PASSWORD });
    });

    it('sends them as they are with `basic`, which such a server refuses (503, the operator’s fault)', async () => {
      const { auth } = setup({ url: `${platform.url}/introspect-rfc`, clientId: ID, clientAuth: 'basic' }, PASSWORD);
      await expect(auth.login('alice', 'tok', ctx)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    });
  });

  it('denies an inactive token, and a docker username that is not the token’s user', async () => {
    const { auth } = setup();
    tokens.set('tok', { username: 'alice' });
    expect(await auth.login('alice', 'nope', ctx)).toEqual({ kind: 'denied', reason: 'the token is not active (expired, revoked or unknown)' });
    expect(await auth.login('bob', 'tok', ctx)).toEqual({ kind: 'denied', reason: 'the username does not match the token’s user' });
  });

  it('accepts any docker username under the `any` policy and uses the token’s user, falling back to sub', async () => {
    const { auth } = setup({ usernamePolicy: 'any' });
    tokens.set('tok', { sub: 'carol' });
    const result = await auth.login('whatever', 'tok', ctx);
    expect(result.kind === 'ok' && result.identity.account).toBe('carol');
  });

  it('takes expiresAt only from exp, never from a claim of that name', async () => {
    const { auth } = setup();
    tokens.set('tok-claims', { username: 'alice', expiresAt: 1 });
    const result = await auth.login('alice', 'tok-claims', ctx);
    expect(result.kind === 'ok' && result.identity.attributes).toEqual({ username: 'alice' });
  });

  it('caches an active answer (no second call) until min(cacheSeconds, exp)', async () => {
    const { auth, advance, nowSeconds } = setup({ cacheSeconds: 60 });
    tokens.set('tok', { username: 'alice', exp: nowSeconds() + 30 });
    const before = platform.count('/introspect');
    await auth.login('alice', 'tok', ctx);
    await auth.login('alice', 'tok', ctx);
    expect(platform.count('/introspect') - before).toBe(1);
    advance(31_000); // past exp, before cacheSeconds
    tokens.delete('tok');
    expect((await auth.login('alice', 'tok', ctx)).kind).toBe('denied');
    expect(platform.count('/introspect') - before).toBe(2);
  });

  it('caches an inactive answer briefly, so a bad token cannot hammer the platform', async () => {
    const { auth, advance } = setup({ negativeCacheSeconds: 10 });
    const before = platform.count('/introspect');
    for (let i = 0; i < 5; i++) expect((await auth.login('alice', 'bad', ctx)).kind).toBe('denied');
    expect(platform.count('/introspect') - before).toBe(1);
    advance(11_000);
    tokens.set('bad', { username: 'alice' }); // it became valid
    expect((await auth.login('alice', 'bad', ctx)).kind).toBe('ok');
  });

  it('makes one upstream call for many concurrent logins with the same token', async () => {
    const { auth } = setup();
    tokens.set('tok', { username: 'alice' });
    platform.setFault('/introspect', { kind: 'slow', ms: 50 });
    const before = platform.count('/introspect');
    const results = await Promise.all(Array.from({ length: 25 }, () => auth.login('alice', 'tok', ctx)));
    expect(results.every((r) => r.kind === 'ok')).toBe(true);
    expect(platform.count('/introspect') - before).toBe(1);
  });

  it.each([
    ['slow', { kind: 'slow', ms: 1000 }],
    ['500', { kind: 'status', status: 500, body: '{"detail":"boom"}', contentType: 'application/json' }],
    ['503', { kind: 'status', status: 503 }],
    ['malformed JSON', { kind: 'malformed' }],
    ['connection reset', { kind: 'reset' }],
    ['wrong content type', { kind: 'wrong_content_type' }],
    ['huge body', { kind: 'huge' }],
  ] as const)('answers 503 (never 401) when the platform is %s, and logs why without the token', async (_name, fault) => {
    const { auth, logs } = setup();
    tokens.set('tok-secret-value', { username: 'alice' });
    platform.setFault('/introspect', fault);
    await expect(auth.login('alice', 'tok-secret-value', ctx)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(logs()).toMatch(/fail closed/);
    expect(logs()).not.toContain('tok-secret-value');
    expect(logs()).not.toContain(SECRET);
  });

  it('answers 503 and logs loudly when the platform refuses Wharf’s own credentials', async () => {
    const { auth, logs } = setup({}, 'wrong-secret');
    tokens.set('tok', { username: 'alice' });
    await expect(auth.login('alice', 'tok', ctx)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    const line = logs().split('\n').find((l) => l.includes('introspection_credentials_rejected'));
    expect(line && JSON.parse(line).level).toBe(50); // error
    expect(logs()).not.toContain('wrong-secret');
  });

  it('stops calling a dead platform once the circuit opens', async () => {
    const { auth } = setup();
    platform.setFault('/introspect', { kind: 'status', status: 503 });
    const before = platform.count('/introspect');
    for (let i = 0; i < 6; i++) await expect(auth.login('alice', `t${i}`, ctx)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    // 3 failures (each 2 attempts) open the circuit; the rest make no call.
    expect(platform.count('/introspect') - before).toBe(6);
    expect(auth.circuitState()).toBe('open');
  });

  it('keeps serving a cached user while the platform is down', async () => {
    const { auth } = setup();
    tokens.set('tok', { username: 'alice' });
    expect((await auth.login('alice', 'tok', ctx)).kind).toBe('ok');
    platform.setFault('/introspect', { kind: 'reset' });
    expect((await auth.login('alice', 'tok', ctx)).kind).toBe('ok');
    await expect(auth.login('bob', 'other', ctx)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
  });

  it('only claims passwords matching tokenPattern', async () => {
    const { auth } = setup({ tokenPattern: '^plat_[a-z0-9]+$' });
    const before = platform.count('/introspect');
    expect(await auth.login('alice', 'not-a-platform-token', ctx)).toEqual({ kind: 'no_match' });
    expect(platform.count('/introspect')).toBe(before);
  });

  it('keys its cache by a keyed hash, never the raw token', async () => {
    const { auth, cache } = setup();
    tokens.set('raw-token-value', { username: 'alice' });
    await auth.login('alice', 'raw-token-value', ctx);
    const keys = [...(cache as unknown as { lru: { keys(): Iterable<string> } }).lru.keys()];
    expect(keys).toEqual([auth.cacheKey('raw-token-value')]);
    expect(keys[0]).toMatch(/^intro:[0-9a-f]{64}$/);
  });
});

describe('IntrospectionAuthenticator cache format', () => {
  it('writes and reads entries in the format replicas of other versions share', async () => {
    const hashKey = randomBytes(32);
    const now = Date.UTC(2026, 10, 23, 12);
    const config = introspectionAuthnSchema.parse({ type: 'introspection', url: `${platform.url}/introspect`, cacheSeconds: 60, negativeCacheSeconds: 10 });
    const make = (cache: RecordingCache) => new IntrospectionAuthenticator(config, { cache, hashKey, logger: captureLog('silent').logger, clientSecret: SECRET, now: () => now });
    const keyOf = (token: string) => `intro:${keyedHash(hashKey, 'introspection', config.url, token)}`;
    const exp = now / 1000 + 30;
    tokens.set('tok', { username: 'alice', sub: 'u-1', exp });
    const cache = new RecordingCache();
    expect((await make(cache).login('alice', 'tok', ctx)).kind).toBe('ok');
    expect((await make(cache).login('alice', 'bad', ctx)).kind).toBe('denied');
    expect(cache.writes).toEqual([
      { key: keyOf('tok'), value: `{"active":true,"account":"alice","subject":"u-1","exp":${exp},"attributes":{"username":"alice","sub":"u-1"}}`, ttlSeconds: 30 },
      { key: keyOf('bad'), value: '{"active":false}', ttlSeconds: 10 },
    ]);
    // Another replica answers from those entries without asking the platform.
    const before = platform.count('/introspect');
    const other = new RecordingCache();
    for (const { key, value } of cache.writes) other.entries.set(key, value);
    expect((await make(other).recall('alice', 'tok', ctx))?.kind).toBe('ok');
    expect((await make(other).login('alice', 'tok', ctx)).kind).toBe('ok');
    expect((await make(other).login('alice', 'bad', ctx)).kind).toBe('denied');
    expect(platform.count('/introspect')).toBe(before);
  });
});

describe('IntrospectionAuthenticator (SAGE dialect)', () => {
  const sage = () => setup({ dialect: 'sage', url: `${platform.url}/sage/token_info` });

  it('sends SAGE’s request: token only, Accept with indent; the answer’s exp caps what the token buys', async () => {
    const { auth } = sage();
    tokens.set('sage-tok', { username: 'alice', scope: 'x', client_id: 'c', exp: 4_000_000_000 });
    const result = await auth.login('alice', 'sage-tok', ctx);
    expect(result.kind === 'ok' && result.identity.attributes.expiresAt).toBe(4_000_000_000);
    const call = platform.calls.at(-1)!;
    expect(Object.fromEntries(call.form!)).toEqual({ token: 'sage-tok' });
    expect(call.headers.accept).toBe('application/json; indent=4');
  });

  it('sends tokenInfoUser:tokenInfoPassword as they are in HTTP Basic, as SAGE reads them', async () => {
    const { auth } = setup({ dialect: 'sage', url: `${platform.url}/sage/token_info`, clientId: 'sage-user' }, 'p+ss/w=rd');
    tokens.set('sage-tok', { username: 'alice' });
    await auth.login('alice', 'sage-tok', ctx);
    expect(platform.calls.at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from('sage-user:p+ss/w=rd').toString('base64')}`);
  });

  it('treats 410 token not found and 404 token expired as a bad user token (401), not an outage', async () => {
    const { auth } = sage();
    expect((await auth.login('alice', 'unknown', ctx)).kind).toBe('denied');
    expect((await auth.login('alice', 'expired-token', ctx)).kind).toBe('denied');
  });

  it('accepts a docker username listed as sage_username:<user> in the token scope', async () => {
    const { auth } = sage();
    tokens.set('shared', { username: 'alice', scope: 'read sage_username:bob write' });
    const bob = await auth.login('bob', 'shared', ctx);
    expect(bob.kind === 'ok' && bob.identity.account).toBe('bob');
    const alice = await auth.login('alice', 'shared', ctx);
    expect(alice.kind === 'ok' && alice.identity.account).toBe('alice');
    expect((await auth.login('carol', 'shared', ctx)).kind).toBe('denied');
  });
});
