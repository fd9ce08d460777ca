import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthorizationRequest, ScopeDecision } from '../../src/authz/authorizer.js';
import type { DecisionRequest } from '../../src/authz/decision-protocol.js';
import { secretReader } from '../../src/config/secrets.js';
import { createRemoteAuthorizer } from '../../src/authz/registry.js';
import { RemoteAuthorizer } from '../../src/authz/remote-authorizer.js';
import { webhookAuthzSchema, type WebhookAuthzConfig } from '../../src/authz/webhook/webhook-config.js';
import { WebhookDecider } from '../../src/authz/webhook/webhook-decider.js';
import type { Cache } from '../../src/cache/cache.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';
import { upstreamCircuit, upstreamClient } from '../../src/upstream/upstream-settings.js';
import { expectRetriesOf503AndReset, startFakePlatform, verifyWharfSignature, type FakeHandler, type FakePlatform, type Fault } from '../support/fake-platform.js';
import { captureLog } from '../support/log-capture.js';
import { ownSettings } from '../support/upstream-fields.js';

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const PATH = '/authz';
const START = 1_700_000_000_000;

const alice: Identity = { account: 'alice', provider: 'static', subject: 'alice-id', attributes: { groups: ['dev'] } };

/** `identity` null = anonymous (undefined would pick the default). */
function authzRequest(scopes: string[], identity: Identity | null = alice, extra: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return { identity: identity ?? undefined, service: 'registry', clientIp: '203.0.113.7', scopes: scopes.map(parseScope), ...extra };
}

/** Allows every requested action of every scope, optionally with a ttl. */
const allowAsked =
  (ttl?: number): FakeHandler =>
  (r) => {
    const body = r.json as DecisionRequest;
    return { status: 200, body: { decisions: body.scopes.map((s) => ({ type: s.type, class: s.class, name: s.name, allowed: s.actions })), ...(ttl === undefined ? {} : { ttl }) } };
  };

let platform: FakePlatform;

beforeEach(async () => {
  platform = await startFakePlatform();
  platform.setHandler(PATH, allowAsked());
});

afterEach(async () => {
  await platform.close();
});

function setup(options: { config?: Partial<WebhookAuthzConfig>; cache?: Cache; generation?: (account: string) => Promise<string> } = {}) {
  let clock = START;
  const now = () => clock;
  const { logger, lines } = captureLog('debug', { unredacted: true });
  const config = webhookAuthzSchema.parse({ type: 'webhook', url: `${platform.url}${PATH}`, ...options.config });
  const sleeps: number[] = [];
  const circuit = upstreamCircuit(config, now);
  const upstream = upstreamClient('authz-webhook', config, { circuit, now, sleep: async (ms) => void sleeps.push(ms) });
  const cache = options.cache ?? new MemoryCache({ maxEntries: 1000, now });
  const decider = new WebhookDecider({ ...config, secret: SECRET }, { upstream, logger, now });
  const authorizer = new RemoteAuthorizer(decider, { cache, hashKey: randomBytes(32), circuit, generation: options.generation });
  return {
    authorizer,
    lines,
    sleeps,
    advance: (seconds: number) => void (clock += seconds * 1000),
    nowSeconds: () => Math.floor(clock / 1000),
  };
}

const granted = (decisions: ScopeDecision[]) => decisions.map((d) => d.granted);
const sentScopes = (index: number) => (platform.calls[index]!.json as DecisionRequest).scopes.map((s) => s.name);

describe('webhook authorization: the request', () => {
  it('sends one signed JSON POST with the documented body and headers', async () => {
    const { authorizer, nowSeconds } = setup();
    await authorizer.authorize(authzRequest(['repository:alice/app:pull,push', 'repository(plugin):alice/tool:pull']));

    expect(platform.count(PATH)).toBe(1);
    const call = platform.calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.headers['authorization']).toBe(`Bearer ${SECRET}`);
    expect(call.headers['x-wharf-timestamp']).toBe(String(START / 1000));
    expect(call.headers['x-wharf-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(call.json).toEqual({
      version: 1,
      account: 'alice',
      identity: { provider: 'static', subject: 'alice-id', attributes: { groups: ['dev'] } },
      service: 'registry',
      client_ip: '203.0.113.7',
      scopes: [
        { type: 'repository', class: null, name: 'alice/app', actions: ['pull', 'push'] },
        { type: 'repository', class: 'plugin', name: 'alice/tool', actions: ['pull'] },
      ],
    });

    // The platform's side: the signature verifies, and fails for a tampered body, another
    // secret, or a replay outside the five-minute window.
    expect(verifyWharfSignature(call, SECRET, nowSeconds())).toBe(true);
    expect(verifyWharfSignature({ ...call, body: call.body.replace('"pull","push"', '"pull","push","delete"') }, SECRET, nowSeconds())).toBe(false);
    expect(verifyWharfSignature({ ...call, body: `${call.body} ` }, SECRET, nowSeconds())).toBe(false);
    expect(verifyWharfSignature(call, `${SECRET}x`, nowSeconds())).toBe(false);
    expect(verifyWharfSignature(call, SECRET, nowSeconds() + 301)).toBe(false);
    expect(verifyWharfSignature({ ...call, headers: { ...call.headers, 'x-wharf-timestamp': String(nowSeconds() + 1) } }, SECRET, nowSeconds())).toBe(false);
  });

  it('sends anonymous requests with an empty account and a null identity, and caches their decisions too', async () => {
    platform.setHandler(PATH, (r) => {
      const body = r.json as DecisionRequest;
      return { status: 200, body: { decisions: body.scopes.filter((s) => s.name.startsWith('public/')).map((s) => ({ type: s.type, name: s.name, allowed: ['pull'] })) } };
    });
    const { authorizer } = setup();
    const request = authzRequest(['repository:public/base:pull,push', 'repository:private/x:pull'], null);
    const decisions = await authorizer.authorize(request);
    expect(platform.calls[0]!.json).toMatchObject({ account: '', identity: null });
    expect(granted(decisions)).toEqual([['pull'], []]);
    expect(decisions.map((d) => d.matched)).toEqual([true, true]);

    expect(granted(await authorizer.authorize(request))).toEqual([['pull'], []]);
    expect(platform.count(PATH)).toBe(1);
  });
});

describe('webhook authorization: the answer', () => {
  it('covers several scopes with one call; an omitted scope is denied, as an opinion', async () => {
    platform.setHandler(PATH, () => ({
      status: 200,
      body: { decisions: [{ type: 'repository', name: 'alice/a', allowed: ['pull'], reason: 'member of alice' }, { type: 'repository', name: 'alice/b', allowed: ['push', 'pull'] }] },
    }));
    const { authorizer } = setup();
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:pull,push', 'repository:alice/c:pull']));
    expect(platform.count(PATH)).toBe(1);
    expect(sentScopes(0)).toEqual(['alice/a', 'alice/b', 'alice/c']);
    expect(decisions.map(({ granted, source, matched, reason }) => ({ granted, source, matched, reason }))).toEqual([
      { granted: ['pull'], source: 'webhook', matched: true, reason: 'member of alice' },
      { granted: ['pull', 'push'], source: 'webhook', matched: true, reason: 'allowed by the webhook' },
      { granted: [], source: 'webhook', matched: true, reason: 'not in the webhook answer' },
    ]);
  });

  it('grants exactly the requested actions the platform allowed: no extras, no push-implies-pull, * for all', async () => {
    platform.setHandler(PATH, () => ({
      status: 200,
      body: {
        decisions: [
          { type: 'repository', name: 'x/extra', allowed: ['pull', 'push', 'delete'] },
          { type: 'repository', name: 'x/push-only', allowed: ['push'] },
          { type: 'repository', name: 'x/star', allowed: ['*'] },
          { type: 'repository', name: 'x/none', allowed: [] },
          { type: 'repository', name: 'x/dup', allowed: ['pull'] },
          { type: 'repository', name: 'x/dup', allowed: ['pull', 'push'] },
          { type: 'repository', name: 'x/unasked', allowed: ['*'] },
        ],
      },
    }));
    const { authorizer } = setup();
    const decisions = await authorizer.authorize(
      authzRequest(['repository:x/extra:pull', 'repository:x/push-only:pull,push', 'repository:x/star:push,delete', 'repository:x/none:pull', 'repository:x/dup:pull,push']),
    );
    expect(granted(decisions)).toEqual([['pull'], ['push'], ['push', 'delete'], [], ['pull']]);
    expect(decisions).toHaveLength(5);
  });

  it('matches decisions on type, class and name', async () => {
    platform.setHandler(PATH, () => ({
      status: 200,
      body: {
        decisions: [
          { type: 'repository', class: 'plugin', name: 'p/a', allowed: ['pull'] },
          { type: 'repository', name: 'p/b', allowed: ['pull'] }, // no class: does not match repository(plugin)
          { type: 'registry', name: 'catalog', allowed: ['*'] },
          { type: 'repository', class: null, name: 'p/c', allowed: ['pull'] },
        ],
      },
    }));
    const { authorizer } = setup();
    const decisions = await authorizer.authorize(authzRequest(['repository(plugin):p/a:pull', 'repository(plugin):p/b:pull', 'registry:catalog:*', 'repository:p/c:pull', 'repository:catalog:pull']));
    expect(granted(decisions)).toEqual([['pull'], [], ['*'], ['pull'], []]);
  });
});

describe('webhook authorization: caching', () => {
  it('answers cached decisions without a call, and asks only for the scopes not cached', async () => {
    const { authorizer } = setup();
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:push']));
    expect(platform.count(PATH)).toBe(2);
    expect(sentScopes(1)).toEqual(['alice/b']);
    expect(decisions.map((d) => [d.source, d.matched, d.granted])).toEqual([
      ['cache', true, ['pull']],
      ['webhook', true, ['push']],
    ]);
    // Same action set in another order: the same entry.
    const again = await authorizer.authorize(authzRequest(['repository:alice/b:push', 'repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(2);
    expect(again.map((d) => d.source)).toEqual(['cache', 'cache']);
  });

  it('reuses a decision only for the identity that was decided: a pull-request job does not get the main-branch job’s push', async () => {
    // The platform lets the same CI account push from refs/heads/main only.
    platform.setHandler(PATH, (r) => {
      const body = r.json as DecisionRequest;
      const main = body.identity?.attributes['ref'] === 'refs/heads/main';
      return { status: 200, body: { decisions: body.scopes.map((s) => ({ type: s.type, class: s.class, name: s.name, allowed: main ? s.actions : ['pull'] })), ttl: 300 } };
    });
    const { authorizer } = setup();
    const job = (ref: string): Identity => ({ account: 'acme', provider: 'oidc-token', subject: 'repo:acme/app', attributes: { ref } });
    const scopes = ['repository:acme/app:pull,push'];
    expect(granted(await authorizer.authorize(authzRequest(scopes, job('refs/heads/main'))))).toEqual([['pull', 'push']]);
    const pullRequest = await authorizer.authorize(authzRequest(scopes, job('refs/pull/7/merge')));
    expect(pullRequest.map((d) => [d.source, d.granted])).toEqual([['webhook', ['pull']]]);
    expect(platform.count(PATH)).toBe(2);
    // Each job's own answer is still reused.
    expect((await authorizer.authorize(authzRequest(scopes, job('refs/pull/7/merge'))))[0]).toMatchObject({ source: 'cache', granted: ['pull'] });
    expect((await authorizer.authorize(authzRequest(scopes, job('refs/heads/main'))))[0]).toMatchObject({ source: 'cache', granted: ['pull', 'push'] });
    expect(platform.count(PATH)).toBe(2);
  });

  it('keys the cache on account, provider, subject, attributes, service, resource and action set', async () => {
    const { authorizer } = setup();
    const base = authzRequest(['repository:shared/app:pull']);
    await authorizer.authorize(base);
    const variants: AuthorizationRequest[] = [
      authzRequest(['repository:shared/app:pull'], { ...alice, account: 'bob' }),
      authzRequest(['repository:shared/app:pull'], { ...alice, provider: 'oidc' }),
      authzRequest(['repository:shared/app:pull'], { ...alice, subject: 'other-id' }),
      authzRequest(['repository:shared/app:pull'], { ...alice, attributes: { groups: ['dev', 'ops'] } }),
      authzRequest(['repository:shared/app:pull'], null),
      authzRequest(['repository:shared/app:pull'], alice, { service: 'other' }),
      authzRequest(['repository:shared/app:pull,push']),
      authzRequest(['repository(plugin):shared/app:pull']),
      authzRequest(['repository:shared/app2:pull']),
    ];
    for (const [i, variant] of variants.entries()) {
      await authorizer.authorize(variant);
      expect(platform.count(PATH), `variant ${i}`).toBe(i + 2);
    }
    await authorizer.authorize(base);
    expect(platform.count(PATH)).toBe(variants.length + 1);
  });

  it.each([
    ['caches for cacheSeconds when the answer has no ttl', undefined, { cacheSeconds: 60 }, 60],
    ['honours the ttl of the answer', 30, { cacheSeconds: 600 }, 30],
    ['caps the ttl of the answer at maxCacheSeconds', 1_000_000, { maxCacheSeconds: 3600 }, 3600],
  ] as const)('%s', async (_name, ttl, config, keptSeconds) => {
    platform.setHandler(PATH, allowAsked(ttl));
    const { authorizer, advance } = setup({ config });
    const request = authzRequest(['repository:alice/a:pull']);
    await authorizer.authorize(request);
    advance(keptSeconds - 1);
    await authorizer.authorize(request);
    expect(platform.count(PATH)).toBe(1);
    advance(2);
    expect((await authorizer.authorize(request))[0]!.source).toBe('webhook');
    expect(platform.count(PATH)).toBe(2);
  });

  it('does not cache when the ttl is 0, or when cacheSeconds is 0 and no ttl comes', async () => {
    platform.setHandler(PATH, allowAsked(0));
    const first = setup();
    const request = authzRequest(['repository:alice/a:pull']);
    await first.authorizer.authorize(request);
    await first.authorizer.authorize(request);
    expect(platform.count(PATH)).toBe(2);

    platform.setHandler(PATH, allowAsked());
    const second = setup({ config: { cacheSeconds: 0 } });
    await second.authorizer.authorize(request);
    await second.authorizer.authorize(request);
    expect(platform.count(PATH)).toBe(4);
  });

  it('puts the account generation in the key, so bumping it forgets the account at once', async () => {
    const generations = new Map<string, string>();
    const { authorizer } = setup({ generation: async (account) => generations.get(account) ?? '0' });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    await authorizer.authorize(authzRequest(['repository:alice/a:pull'], { ...alice, account: 'bob' }));
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(2);
    generations.set('alice', '1');
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    await authorizer.authorize(authzRequest(['repository:alice/a:pull'], { ...alice, account: 'bob' }));
    expect(platform.count(PATH)).toBe(3);
  });

  it('still decides when the cache or the generation cannot be read', async () => {
    const broken: Cache = {
      get: async () => {
        throw new Error('redis down');
      },
      set: async () => {
        throw new Error('redis down');
      },
      delete: async () => undefined,
      healthy: async () => false,
      close: async () => undefined,
    };
    const { authorizer, lines } = setup({ cache: broken });
    expect(granted(await authorizer.authorize(authzRequest(['repository:alice/a:pull'])))).toEqual([['pull']]);
    expect(lines.filter((l) => l.event === 'authz_cache_error').length).toBeGreaterThanOrEqual(2);

    const noGeneration = setup({
      generation: async () => {
        throw new Error('redis down');
      },
    });
    expect(granted(await noGeneration.authorizer.authorize(authzRequest(['repository:alice/a:pull'])))).toEqual([['pull']]);
    await noGeneration.authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(3); // nothing cached without a generation
  });

  it('shares one call between concurrent identical requests, but not between different ones', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const first = new Promise<void>((resolve) => (arrived = resolve));
    const answer = allowAsked();
    platform.setHandler(PATH, async (r) => {
      arrived();
      await gate;
      return answer(r);
    });
    const { authorizer } = setup();
    const request = authzRequest(['repository:alice/a:pull', 'repository:alice/b:pull']);
    const calls = [authorizer.authorize(request), authorizer.authorize(request), authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:pull'], { ...alice, account: 'bob' }))];
    await first;
    // Let every caller reach the network or the shared flight before the platform answers.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    release();
    const results = await Promise.all(calls);
    expect(results.map(granted)).toEqual([
      [['pull'], ['pull']],
      [['pull'], ['pull']],
      [['pull'], ['pull']],
    ]);
    expect(platform.count(PATH)).toBe(2);
    expect(platform.calls.map((c) => (c.json as DecisionRequest).account).sort()).toEqual(['alice', 'bob']);
  });
});

describe('webhook authorization: failing closed', () => {
  const faults: { name: string; fault?: Fault; handler?: FakeHandler; why: string; level?: number }[] = [
    { name: 'slow (timeout)', fault: { kind: 'slow', ms: 2000 }, why: 'no answer within 200 ms' },
    { name: '500', fault: { kind: 'status', status: 500, body: 'boom' }, why: 'answered 500' },
    { name: '503', fault: { kind: 'status', status: 503 }, why: 'answered 503' },
    { name: '404', fault: { kind: 'status', status: 404, body: '{"error":"no route"}', contentType: 'application/json' }, why: 'unexpected status 404' },
    { name: '400', fault: { kind: 'status', status: 400 }, why: 'unexpected status 400' },
    { name: '204', fault: { kind: 'status', status: 204 }, why: 'unexpected status 204' },
    { name: 'malformed JSON', fault: { kind: 'malformed' }, why: 'answer is not valid JSON' },
    { name: 'connection reset', fault: { kind: 'reset' }, why: 'connection failed' },
    { name: 'wrong content type', fault: { kind: 'wrong_content_type' }, why: 'answer is not application/json' },
    { name: 'huge body', fault: { kind: 'huge' }, why: 'answer larger than' },
    { name: 'wrong shape', handler: () => ({ status: 200, body: { decisions: 'all of them' } }), why: 'answer does not follow the contract' },
    { name: 'allowed not a list', handler: () => ({ status: 200, body: { decisions: [{ type: 'repository', name: 'alice/a', allowed: 'pull' }] } }), why: 'answer does not follow the contract' },
    { name: 'negative ttl', handler: () => ({ status: 200, body: { decisions: [], ttl: -1 } }), why: 'answer does not follow the contract' },
    { name: 'JSON that is not an object', handler: () => ({ status: 200, body: '[]', contentType: 'application/json' }), why: 'answer does not follow the contract' },
    { name: '401', fault: { kind: 'status', status: 401 }, why: "webhook refused Wharf's credentials (401)", level: 50 },
    { name: '403', fault: { kind: 'status', status: 403 }, why: "webhook refused Wharf's credentials (403)", level: 50 },
  ];

  it.each(faults)('$name: no grant, source unavailable, no exception', async ({ fault, handler, why, level }) => {
    if (fault) platform.setFault(PATH, fault);
    if (handler) platform.setHandler(PATH, handler);
    // Only the slow fault needs the short budget; the others get room for a loaded machine.
    const { authorizer, lines } = setup({ config: { timeoutMs: fault?.kind === 'slow' ? 200 : 5000 } });
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:push']));
    for (const d of decisions) {
      expect(d).toMatchObject({ granted: [], source: 'unavailable', matched: false });
      expect(d.reason).toContain(`authorization webhook unavailable: ${why}`);
    }
    expect(decisions.map((d) => d.scope.name)).toEqual(['alice/a', 'alice/b']);
    expect(lines.find((l) => l.event === 'authz_failed_closed')).toMatchObject({ level: 40, why: expect.stringContaining(why) });
    if (level) {
      expect(lines.find((l) => l.level === level && l.event === 'authz_webhook_credentials_refused')?.msg).toContain('shared secret');
    }
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('fails closed when the platform is not listening at all', async () => {
    const { authorizer } = setup();
    await platform.close();
    const [decision] = await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(decision).toMatchObject({ granted: [], source: 'unavailable', matched: false });
    expect(decision!.reason).toContain('connection failed');
  });

  it('does not cache a failure: the next request asks again', async () => {
    platform.setFault(PATH, { kind: 'status', status: 500, times: 1 });
    const { authorizer } = setup();
    const request = authzRequest(['repository:alice/a:pull']);
    expect((await authorizer.authorize(request))[0]!.source).toBe('unavailable');
    expect((await authorizer.authorize(request))[0]).toMatchObject({ source: 'webhook', granted: ['pull'] });
    expect(platform.count(PATH)).toBe(2);
  });

  it('keeps granting still-valid cached decisions while the platform is down, and only those', async () => {
    const { authorizer, advance } = setup({ config: { cacheSeconds: 60 } });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull,push']));
    platform.setFault(PATH, { kind: 'status', status: 503 });
    advance(30);
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:push,pull', 'repository:alice/b:pull']));
    expect(decisions.map((d) => [d.source, d.granted])).toEqual([
      ['cache', ['push', 'pull']],
      ['unavailable', []],
    ]);
    expect(sentScopes(1)).toEqual(['alice/b']);
    advance(31);
    expect((await authorizer.authorize(authzRequest(['repository:alice/a:pull,push'])))[0]).toMatchObject({ source: 'unavailable', granted: [] });
  });
});

describe('webhook authorization: retries and the circuit', () => {
  it('retries 503 and connection resets (after a backoff), and then succeeds', async () => {
    const { authorizer, sleeps } = setup({ config: { retries: 1 } });
    await expectRetriesOf503AndReset(platform, PATH, async (repository) => granted(await authorizer.authorize(authzRequest([`repository:${repository}:pull`]))));
    expect(sleeps).toHaveLength(2);
  });

  it('makes 1 + retries attempts on a persistent 503', async () => {
    platform.setFault(PATH, { kind: 'status', status: 503 });
    const { authorizer } = setup({ config: { retries: 2 } });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(3);
  });

  it.each([
    { name: '500', fault: { kind: 'status', status: 500 } as Fault },
    { name: '404', fault: { kind: 'status', status: 404 } as Fault },
    { name: '401', fault: { kind: 'status', status: 401 } as Fault },
    { name: 'timeout', fault: { kind: 'slow', ms: 2000 } as Fault },
    { name: 'garbage', fault: { kind: 'malformed' } as Fault },
  ])('does not retry a $name', async ({ fault }) => {
    platform.setFault(PATH, fault);
    const { authorizer, sleeps } = setup({ config: { retries: 3, timeoutMs: 200 } });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('opens the circuit after failureThreshold failed calls, then calls nobody until openSeconds pass', async () => {
    platform.setFault(PATH, { kind: 'status', status: 500 });
    const { authorizer, advance } = setup({ config: { failureThreshold: 3, openSeconds: 10 } });
    expect(authorizer.circuitState()).toBe('closed');
    for (let i = 0; i < 3; i++) await authorizer.authorize(authzRequest([`repository:alice/a${i}:pull`]));
    expect(platform.count(PATH)).toBe(3);
    expect(authorizer.circuitState()).toBe('open');

    const [refused] = await authorizer.authorize(authzRequest(['repository:alice/z:pull']));
    expect(refused).toMatchObject({ source: 'unavailable', granted: [] });
    expect(refused!.reason).toContain('circuit open');
    expect(platform.count(PATH)).toBe(3);

    platform.setFault(PATH, undefined);
    advance(10);
    expect(authorizer.circuitState()).toBe('half_open');
    expect(granted(await authorizer.authorize(authzRequest(['repository:alice/z:pull'])))).toEqual([['pull']]);
    expect(platform.count(PATH)).toBe(4);
    expect(authorizer.circuitState()).toBe('closed');
  });

  it('is built from the config, secret from the environment, by the registry', async () => {
    platform.setFault(PATH, { kind: 'status', status: 503 });
    const config = webhookAuthzSchema.parse({ type: 'webhook', url: `${platform.url}${PATH}`, retries: 0, failureThreshold: 1 });
    const authorizer = createRemoteAuthorizer(config, {
      cache: new MemoryCache({ maxEntries: 10 }),
      hashKey: randomBytes(32),
      logger: pino({ level: 'silent' }),
      readSecret: secretReader({ WHARF_AUTHZ_WEBHOOK_SECRET: SECRET }),
      generation: async () => '0',
    });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(1);
    expect(platform.calls[0]!.headers['authorization']).toBe(`Bearer ${SECRET}`);
    expect(authorizer.circuitState()).toBe('open');
  });
});

describe('webhookAuthzSchema', () => {
  it('fills every default of its own and reads no secret (the upstream settings: test/config/upstream-settings.test.ts)', () => {
    expect(ownSettings(webhookAuthzSchema.parse({ type: 'webhook', url: 'https://platform.example/authz' }))).toEqual({
      type: 'webhook',
      url: 'https://platform.example/authz',
      secretEnv: 'WHARF_AUTHZ_WEBHOOK_SECRET',
      cacheSeconds: 60,
      maxCacheSeconds: 3600,
    });
  });

  it('rejects non-http URLs, unknown keys and an inline secret', () => {
    for (const bad of [
      { type: 'webhook', url: 'ftp://platform.example/authz' },
      { type: 'webhook', url: 'not a url' },
      { type: 'webhook', url: 'https://platform.example/authz', secret: 'inline' },
    ]) {
      expect(webhookAuthzSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
