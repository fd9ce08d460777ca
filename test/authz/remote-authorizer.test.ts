import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuthorizationRequest } from '../../src/authz/authorizer.js';
import type { Decider, Verdict } from '../../src/authz/decider.js';
import { DeciderChain } from '../../src/authz/decider-chain.js';
import { RemoteAuthorizer } from '../../src/authz/remote-authorizer.js';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { parseConfig } from '../../src/config/load.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import type { Identity } from '../../src/domain/identity.js';
import { formatScope, parseScope, type Scope } from '../../src/domain/scope.js';
import { CircuitBreaker } from '../../src/upstream/circuit-breaker.js';
import { RecordingCache } from '../support/recording-cache.js';
import { captureLog } from '../support/log-capture.js';

/*
 * The flow every remote decider (webhook, SAGE, command) goes through, with a decider scripted
 * per scope name: what is cached, what is granted, and how it fails closed whatever the decider does.
 */

const alice: Identity = { account: 'alice', provider: 'static', subject: 'alice', attributes: { groups: ['dev'] } };

function request(identity: Identity, ...scopes: string[]): AuthorizationRequest {
  return { identity, service: 'registry', clientIp: '192.0.2.1', scopes: scopes.map(parseScope) };
}

/** A decider answering each scope as `script` says; a scope named `throw/app` makes the whole call throw. */
function setup(script: (scope: Scope) => Verdict, options: Partial<ConstructorParameters<typeof RemoteAuthorizer>[1]> = {}) {
  const { logger, lines } = captureLog('debug', { unredacted: true });
  const calls: string[][] = [];
  const decider: Decider = {
    source: 'test',
    label: 'test decider',
    endpoint: 'test:',
    logger,
    async decide(_request, scopes) {
      calls.push(scopes.map(formatScope));
      if (scopes.some((s) => s.name === 'throw/app')) throw new Error('bug in the decider');
      return scopes.map(script);
    },
  };
  const circuit = new CircuitBreaker({ failureThreshold: 1, openMs: 10_000 });
  const authorizer = new RemoteAuthorizer(decider, { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32), circuit, ...options });
  return { authorizer, lines, calls, circuit };
}

const allowAll = (scope: Scope): Verdict => ({ kind: 'decided', granted: [...scope.actions], reason: 'ok', ttlSeconds: 60 });

describe('RemoteAuthorizer', () => {
  it('never grants an action that was not asked for, whatever the decider says', async () => {
    const { authorizer } = setup(() => ({ kind: 'decided', granted: ['push', 'pull', 'delete'], reason: 'generous', ttlSeconds: 60 }));
    const [fresh] = await authorizer.authorize(request(alice, 'repository:alice/app:pull'));
    const [cached] = await authorizer.authorize(request(alice, 'repository:alice/app:pull'));
    expect([fresh!.source, fresh!.granted]).toEqual(['test', ['pull']]);
    expect([cached!.source, cached!.granted]).toEqual(['cache', ['pull']]);
  });

  it('caches the scopes the decider decided and asks again only about the others', async () => {
    const { authorizer, calls, lines } = setup((scope) => (scope.name === 'down/app' ? { kind: 'unavailable', why: 'its database is down' } : allowAll(scope)));
    const first = await authorizer.authorize(request(alice, 'repository:alice/app:pull', 'repository:down/app:pull'));
    expect(first.map((d) => [d.source, d.granted, d.matched, d.reason])).toEqual([
      ['test', ['pull'], true, 'ok'],
      ['unavailable', [], false, 'test decider unavailable: its database is down'],
    ]);
    expect(lines.filter((l) => l.event === 'authz_failed_closed')).toEqual([
      expect.objectContaining({ level: 40, account: 'alice', why: 'its database is down', scopes: ['repository:down/app:pull'], circuit: 'closed' }),
    ]);
    const second = await authorizer.authorize(request(alice, 'repository:alice/app:pull', 'repository:down/app:pull'));
    expect(second.map((d) => d.source)).toEqual(['cache', 'unavailable']);
    expect(calls).toEqual([['repository:alice/app:pull', 'repository:down/app:pull'], ['repository:down/app:pull']]);
  });

  it('fails closed on every scope when the decider throws, and caches nothing', async () => {
    const { authorizer, lines, calls } = setup(allowAll);
    for (let i = 0; i < 2; i++) {
      const decisions = await authorizer.authorize(request(alice, 'repository:alice/app:pull', 'repository:throw/app:pull'));
      expect(decisions.map((d) => [d.source, d.granted, d.reason])).toEqual([
        ['unavailable', [], 'test decider unavailable: unexpected error'],
        ['unavailable', [], 'test decider unavailable: unexpected error'],
      ]);
    }
    expect(calls).toHaveLength(2);
    expect(lines.find((l) => l.event === 'authz_test_error')).toMatchObject({ level: 50 });
  });

  it('does not ask about an identity whose attributes cannot be sent, and says why', async () => {
    const { authorizer, calls, lines } = setup(allowAll);
    const [decision] = await authorizer.authorize(request({ ...alice, attributes: { big: 1n } }, 'repository:alice/app:pull'));
    expect([decision!.source, decision!.granted, decision!.reason]).toEqual(['unavailable', [], 'test decider unavailable: identity attributes cannot be sent as JSON']);
    expect(calls).toEqual([]);
    expect(lines.map((l) => l.event)).toEqual(['authz_test_error', 'authz_failed_closed']);
  });

  it('reports the circuit it was given, and names its state when failing closed', async () => {
    const { authorizer, circuit, lines } = setup(() => ({ kind: 'unavailable', why: 'circuit open after repeated failures' }));
    circuit.failure();
    expect(authorizer.circuitState()).toBe('open');
    await authorizer.authorize(request(alice, 'repository:alice/app:pull'));
    expect(lines.find((l) => l.event === 'authz_failed_closed')).toMatchObject({ circuit: 'open' });
  });

  it('past the anonymous budget, leaves scopes `limited` without a call, and webhook-first lets the ACL still decide them', async () => {
    let clock = 0;
    const shared = new RecordingCache();
    const { authorizer, calls, lines } = setup(allowAll, { cache: shared, now: () => clock, anonymous: { cacheMegabytes: 1, webhookScopesPerMinute: 1, webhookScopesPerMinuteTotal: 100 } });
    const anonymous = (...scopes: string[]): AuthorizationRequest => ({ identity: undefined, service: 'registry', clientIp: '192.0.2.9', scopes: scopes.map(parseScope) });
    const [first] = await authorizer.authorize(anonymous('repository:fresh/one:pull'));
    expect(first!.source).toBe('test');
    // Cached in the authorizer's own cache, not in the shared one.
    expect((await authorizer.authorize(anonymous('repository:fresh/one:pull')))[0]!.source).toBe('cache');
    expect([shared.writes, shared.reads]).toEqual([[], 0]);

    clock = 10_000;
    const acl = new StaticAclAuthorizer(parseConfig({ authz: { acl: { anonymous: { pull: ['public/*'] } } } }, {}).authz.acl);
    const webhookFirst = new DeciderChain([authorizer, acl]);
    const decisions = await webhookFirst.authorize(anonymous('repository:public/base:pull', 'repository:fresh/two:pull'));
    expect(decisions.map((d) => [d.source, d.granted, d.reason, d.retryAfterSeconds])).toEqual([
      ['acl', ['pull'], expect.any(String), undefined],
      ['limited', [], 'over 1 anonymous scopes per minute for the test decider from this address', 50],
    ]);
    expect(calls).toEqual([['repository:fresh/one:pull']]);
    expect(lines.filter((l) => l.event === 'authz_failed_closed')).toEqual([]);
    // A proven user is not counted, and is cached in the shared cache.
    expect((await authorizer.authorize(request(alice, 'repository:alice/app:pull')))[0]!.source).toBe('test');
    expect(shared.writes).toHaveLength(1);
  });
});
