import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthorizationRequest, ScopeDecision } from '../../src/authz/authorizer.js';
import { RemoteAuthorizer } from '../../src/authz/remote-authorizer.js';
import { sageAuthzSchema, type SageAuthzConfig } from '../../src/authz/sage/sage-config.js';
import { SageDecider } from '../../src/authz/sage/sage-decider.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';
import { upstreamCircuit, upstreamClient } from '../../src/upstream/upstream-settings.js';
import { expectRetriesOf503AndReset, startFakePlatform, type FakeHandler, type FakePlatform, type Fault } from '../support/fake-platform.js';
import { captureLog } from '../support/log-capture.js';
import { ownSettings } from '../support/upstream-fields.js';

const TOKEN = `sage-${randomBytes(12).toString('hex')}`;
const PATH = '/authz/';

interface SageBody {
  account: string;
  type: string;
  name: string;
  service: string;
  ip: string;
  actions: string[];
  labels: Record<string, unknown>;
}

const alice: Identity = { account: 'alice', provider: 'introspection', subject: 'alice', attributes: { groups: ['sage'] } };

/** `identity` null = anonymous. */
function authzRequest(scopes: string[], identity: Identity | null = alice, extra: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return { identity: identity ?? undefined, service: 'registry', clientIp: '198.51.100.4', scopes: scopes.map(parseScope), ...extra };
}

/** SAGE's answer: the listed actions, as a plain-text comma list. */
const answer =
  (list: (body: SageBody) => string): FakeHandler =>
  (r) => ({ status: 200, body: list(r.json as SageBody), contentType: 'text/html; charset=utf-8' });
const allowAsked = answer((b) => b.actions.join(','));

let platform: FakePlatform;

beforeEach(async () => {
  platform = await startFakePlatform();
  platform.setHandler(PATH, allowAsked);
});

afterEach(async () => {
  await platform.close();
});

function setup(config: Partial<SageAuthzConfig> = {}) {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const { logger, lines } = captureLog('debug', { unredacted: true });
  const parsed = sageAuthzSchema.parse({ type: 'sage', url: `${platform.url}${PATH}`, ...config });
  const circuit = upstreamCircuit(parsed, now);
  const upstream = upstreamClient('authz-sage', parsed, { circuit, maxBodyBytes: SageDecider.maxAnswerBytes, now, sleep: async () => undefined });
  const decider = new SageDecider({ ...parsed, token: TOKEN }, { upstream, logger });
  const authorizer = new RemoteAuthorizer(decider, { cache: new MemoryCache({ maxEntries: 1000, now }), hashKey: randomBytes(32), circuit });
  return { authorizer, lines, advance: (seconds: number) => void (clock += seconds * 1000) };
}

const granted = (decisions: ScopeDecision[]) => decisions.map((d) => d.granted);

describe('SAGE authorization: the request', () => {
  it('POSTs one call per scope with the sage token and docker_auth-shaped JSON', async () => {
    const { authorizer } = setup();
    await authorizer.authorize(authzRequest(['repository:alice/a:pull,push', 'repository:alice/b:pull']));
    expect(platform.count(PATH)).toBe(2);
    for (const call of platform.calls) {
      expect(call.method).toBe('POST');
      expect(call.headers['authorization']).toBe(`sage ${TOKEN}`);
      expect(call.headers['content-type']).toBe('application/json');
    }
    const bodies = platform.calls.map((c) => c.json as SageBody).sort((x, y) => x.name.localeCompare(y.name));
    expect(bodies).toEqual([
      { account: 'alice', type: 'repository', name: 'alice/a', service: 'registry', ip: '198.51.100.4', actions: ['pull', 'push'], labels: { groups: ['sage'] } },
      { account: 'alice', type: 'repository', name: 'alice/b', service: 'registry', ip: '198.51.100.4', actions: ['pull'], labels: { groups: ['sage'] } },
    ]);
  });

  it('sends anonymous requests with an empty account and empty labels', async () => {
    const { authorizer } = setup();
    await authorizer.authorize(authzRequest(['repository:public/a:pull'], null));
    expect(platform.calls[0]!.json).toEqual({ account: '', type: 'repository', name: 'public/a', service: 'registry', ip: '198.51.100.4', actions: ['pull'], labels: {} });
  });

  it('asks about the scopes in parallel', async () => {
    let inFlight = 0;
    let most = 0;
    let allThere!: () => void;
    const together = new Promise<void>((resolve) => (allThere = resolve));
    platform.setHandler(PATH, async (r) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      if (inFlight === 3) allThere();
      // A fallback so a serial implementation fails the assertion instead of hanging.
      await Promise.race([together, new Promise((resolve) => setTimeout(resolve, 1000))]);
      inFlight -= 1;
      return allowAsked(r);
    });
    const { authorizer } = setup();
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:pull', 'repository:alice/c:pull']));
    expect(most).toBe(3);
    expect(granted(decisions)).toEqual([['pull'], ['pull'], ['pull']]);
  });
});

describe('SAGE authorization: the answer', () => {
  it.each([
    { body: 'pull,push', asked: 'pull,push', expected: ['pull', 'push'] },
    { body: ' pull , push\n', asked: 'pull,push', expected: ['pull', 'push'] },
    { body: 'push,pull', asked: 'pull,push', expected: ['pull', 'push'] },
    { body: 'pull,push,delete', asked: 'pull', expected: ['pull'] },
    { body: 'push', asked: 'pull,push', expected: ['push'] },
    { body: 'pull,', asked: 'pull,push', expected: ['pull'] },
    { body: '*', asked: 'pull,push', expected: ['pull', 'push'] },
    { body: '', asked: 'pull', expected: [] },
    { body: '\n', asked: 'pull', expected: [] },
  ])('answer $body for $asked grants $expected', async ({ body, asked, expected }) => {
    platform.setHandler(PATH, answer(() => body));
    const { authorizer } = setup();
    const [decision] = await authorizer.authorize(authzRequest([`repository:alice/a:${asked}`]));
    expect(decision).toMatchObject({ granted: expected, source: 'sage', matched: true });
  });

  it.each([401, 403])('treats %i as a decision: nothing granted, matched, cached, no outage', async (status) => {
    platform.setFault(PATH, { kind: 'status', status, body: '{"detail":"not allowed"}', contentType: 'application/json' });
    const { authorizer, lines } = setup();
    const request = authzRequest(['repository:bob/a:pull']);
    const [decision] = await authorizer.authorize(request);
    expect(decision).toMatchObject({ granted: [], source: 'sage', matched: true });
    expect(decision!.reason).toContain(String(status));
    expect((await authorizer.authorize(request))[0]).toMatchObject({ granted: [], source: 'cache', matched: true });
    expect(platform.count(PATH)).toBe(1);
    expect(authorizer.circuitState()).toBe('closed');
    expect(lines.some((l) => l.event === 'authz_failed_closed')).toBe(false);
  });
});

describe('SAGE authorization: failing closed', () => {
  const faults: { name: string; fault?: Fault; handler?: FakeHandler; why: string }[] = [
    { name: '500', fault: { kind: 'status', status: 500 }, why: 'answered 500' },
    { name: '503', fault: { kind: 'status', status: 503 }, why: 'answered 503' },
    { name: '404', fault: { kind: 'status', status: 404 }, why: 'unexpected status 404' },
    { name: '400', fault: { kind: 'status', status: 400, body: '{"detail":"bad"}' }, why: 'unexpected status 400' },
    { name: 'timeout', fault: { kind: 'slow', ms: 2000 }, why: 'no answer within 200 ms' },
    { name: 'reset', fault: { kind: 'reset' }, why: 'connection failed' },
    { name: 'huge', fault: { kind: 'huge' }, why: 'answer larger than' },
    { name: 'an HTML page', handler: () => ({ status: 200, body: '<html><body>Login</body></html>', contentType: 'text/html' }), why: 'answer is not a comma list of actions' },
    { name: 'a JSON list', handler: () => ({ status: 200, body: ['pull'] }), why: 'answer is not a comma list of actions' },
  ];

  it.each(faults)('$name: nothing granted, unavailable, no exception', async ({ fault, handler, why }) => {
    if (fault) platform.setFault(PATH, fault);
    if (handler) platform.setHandler(PATH, handler);
    // Only the slow fault needs the short budget; the others get room for a loaded machine.
    const { authorizer, lines } = setup({ timeoutMs: fault?.kind === 'slow' ? 200 : 5000 });
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:push']));
    for (const d of decisions) {
      expect(d).toMatchObject({ granted: [], source: 'unavailable', matched: false });
      expect(d.reason).toContain(`SAGE authorization unavailable: ${why}`);
    }
    expect(lines.find((l) => l.event === 'authz_failed_closed')).toMatchObject({ level: 40 });
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });

  it('retries a 503 once and a reset once, not a 500', async () => {
    const { authorizer } = setup({ retries: 1 });
    const pull = async (repository: string) => granted(await authorizer.authorize(authzRequest([`repository:${repository}:pull`])));
    await expectRetriesOf503AndReset(platform, PATH, pull);
    platform.setFault(PATH, { kind: 'status', status: 500, times: 1 });
    expect(await pull('alice/c')).toEqual([[]]);
    expect(platform.count(PATH)).toBe(5);
  });

  it('opens the circuit after failureThreshold failed calls and then calls nobody', async () => {
    platform.setFault(PATH, { kind: 'status', status: 500 });
    const { authorizer, advance } = setup({ failureThreshold: 2, openSeconds: 5 });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:pull']));
    expect(platform.count(PATH)).toBe(2);
    expect(authorizer.circuitState()).toBe('open');
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/c:pull', 'repository:alice/d:pull']));
    expect(platform.count(PATH)).toBe(2);
    expect(decisions.every((d) => d.source === 'unavailable' && d.reason.includes('circuit open'))).toBe(true);
    platform.setFault(PATH, undefined);
    advance(5);
    expect(granted(await authorizer.authorize(authzRequest(['repository:alice/c:pull'])))).toEqual([['pull']]);
    expect(authorizer.circuitState()).toBe('closed');
  });
});

describe('SAGE authorization: caching', () => {
  it('caches for cacheSeconds and then asks again', async () => {
    const { authorizer, advance } = setup({ cacheSeconds: 60 });
    const request = authzRequest(['repository:alice/a:pull,push']);
    await authorizer.authorize(request);
    advance(59);
    expect((await authorizer.authorize(authzRequest(['repository:alice/a:push,pull'])))[0]).toMatchObject({ source: 'cache', granted: ['push', 'pull'] });
    expect(platform.count(PATH)).toBe(1);
    advance(2);
    expect((await authorizer.authorize(request))[0]!.source).toBe('sage');
    expect(platform.count(PATH)).toBe(2);
  });

  it('keys the cache on account, provider, subject, labels, service, resource and action set', async () => {
    const { authorizer } = setup();
    await authorizer.authorize(authzRequest(['repository:x/a:pull']));
    await authorizer.authorize(authzRequest(['repository:x/a:pull'], { ...alice, account: 'bob' }));
    await authorizer.authorize(authzRequest(['repository:x/a:pull'], { ...alice, provider: 'static' }));
    await authorizer.authorize(authzRequest(['repository:x/a:pull'], { ...alice, subject: 'alice-2' }));
    await authorizer.authorize(authzRequest(['repository:x/a:pull'], { ...alice, attributes: { groups: ['sage', 'admin'] } }));
    await authorizer.authorize(authzRequest(['repository:x/a:pull'], null));
    await authorizer.authorize(authzRequest(['repository:x/a:pull'], alice, { service: 'other' }));
    await authorizer.authorize(authzRequest(['repository:x/a:pull,push']));
    await authorizer.authorize(authzRequest(['repository:x/b:pull']));
    expect(platform.count(PATH)).toBe(9);
    await authorizer.authorize(authzRequest(['repository:x/a:pull']));
    expect(platform.count(PATH)).toBe(9);
  });

  it('does not give one job’s cached push to another job of the same account with other labels', async () => {
    // SAGE lets the account push only from its main branch.
    platform.setHandler(PATH, answer((b) => (b.labels['ref'] === 'refs/heads/main' ? b.actions.join(',') : 'pull')));
    const { authorizer } = setup();
    const job = (ref: string): Identity => ({ ...alice, attributes: { ref } });
    expect(granted(await authorizer.authorize(authzRequest(['repository:alice/app:pull,push'], job('refs/heads/main'))))).toEqual([['pull', 'push']]);
    expect((await authorizer.authorize(authzRequest(['repository:alice/app:pull,push'], job('refs/pull/7/merge'))))[0]).toMatchObject({ source: 'sage', granted: ['pull'] });
    expect(platform.count(PATH)).toBe(2);
  });

  it('does not cache when cacheSeconds is 0', async () => {
    const { authorizer } = setup({ cacheSeconds: 0 });
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    expect(platform.count(PATH)).toBe(2);
  });

  it('keeps granting still-valid cached decisions while SAGE is down', async () => {
    const { authorizer } = setup();
    await authorizer.authorize(authzRequest(['repository:alice/a:pull']));
    platform.setFault(PATH, { kind: 'reset' });
    const decisions = await authorizer.authorize(authzRequest(['repository:alice/a:pull', 'repository:alice/b:pull']));
    expect(decisions.map((d) => [d.source, d.granted])).toEqual([
      ['cache', ['pull']],
      ['unavailable', []],
    ]);
  });

  it('shares one call between concurrent identical requests', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const first = new Promise<void>((resolve) => (arrived = resolve));
    platform.setHandler(PATH, async (r) => {
      arrived();
      await gate;
      return allowAsked(r);
    });
    const { authorizer } = setup();
    const request = authzRequest(['repository:alice/a:pull']);
    const pending = [authorizer.authorize(request), authorizer.authorize(request)];
    await first;
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    release();
    expect((await Promise.all(pending)).map(granted)).toEqual([[['pull']], [['pull']]]);
    expect(platform.count(PATH)).toBe(1);
  });
});

describe('sageAuthzSchema', () => {
  it('fills every default of its own (the upstream settings: test/config/upstream-settings.test.ts)', () => {
    expect(ownSettings(sageAuthzSchema.parse({ type: 'sage', url: 'http://sage-ecr:5000/authz' }))).toEqual({ type: 'sage', url: 'http://sage-ecr:5000/authz', tokenEnv: 'ecrAuthZToken', cacheSeconds: 60 });
    expect(sageAuthzSchema.safeParse({ type: 'sage', url: 'http://sage-ecr:5000/authz', token: 'inline' }).success).toBe(false);
  });
});
