import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuthorizationRequest, ScopeDecision } from '../../src/authz/authorizer.js';
import type { Decider, Verdict } from '../../src/authz/decider.js';
import { DECISION_KEY_PREFIX } from '../../src/authz/decision-cache.js';
import { RemoteAuthorizer } from '../../src/authz/remote-authorizer.js';
import type { Cache } from '../../src/cache/cache.js';
import { createCache, createCoherence } from '../../src/cache/create-cache.js';
import { cacheSchema } from '../../src/cache/cache-config.js';
import { InstrumentedCache } from '../../src/cache/instrumented-cache.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope, type Scope } from '../../src/domain/scope.js';
import { createMetrics } from '../../src/metrics.js';
import { CircuitBreaker } from '../../src/upstream/circuit-breaker.js';
import { waitUntil } from '../support/processes.js';
import { startRedis, type RedisHandle } from '../support/redis.js';

/*
 * Decisions held in the in-process first tier over a real Redis, composed as the service composes
 * its cache (lookup metrics around two tiers): they are answered at once, with no promise and no
 * Redis command, and counted as every lookup is; a copy an invalidation dropped is never answered.
 */

const alice: Identity = { account: 'alice', provider: 'static', subject: 'alice', attributes: { groups: ['dev'] } };
const request = (...scopes: string[]): AuthorizationRequest => ({ identity: alice, service: 'registry', clientIp: '192.0.2.1', scopes: scopes.map(parseScope) });
const anonymousRequest = (...scopes: string[]): AuthorizationRequest => ({ identity: undefined, service: 'registry', clientIp: '192.0.2.9', scopes: scopes.map(parseScope) });
const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(name));
const summary = (decisions: ScopeDecision[]) => decisions.map((d) => [d.source, d.granted]);

let redis: RedisHandle;
let client: Redis;
let opened: Cache[];
let asked: string[][];
let verdict: (scope: Scope) => Verdict;
let hashKey: Buffer;

/** Commands Redis ran since the last reset (INFO commandstats), by name, the test's own left out. */
async function commands(): Promise<Record<string, number>> {
  const stats: Record<string, number> = {};
  for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[m[1]!] = Number(m[2]);
  delete stats.info;
  delete stats['config|resetstat'];
  return stats;
}

/**
 * Asks `authorizer` again for what it decided just before (Redis's counters reset in between):
 * the answer must come with no promise and no Redis command. Returns its decisions, summarised.
 */
async function askedAgainInProcess(authorizer: RemoteAuthorizer, again: AuthorizationRequest) {
  await client.config('RESETSTAT');
  const answer = authorizer.authorize(again);
  expect(answer).not.toBeInstanceOf(Promise);
  expect(await commands()).toEqual({});
  return summary(answer as ScopeDecision[]);
}

/** One replica: its cache composed as the service composes it, its metrics, and a remote authorizer over them. */
async function replica() {
  const config = cacheSchema.parse({ type: 'redis', url: redis.url });
  const coherence = createCoherence(config);
  coherence.listeningFromNow();
  const metrics = createMetrics(false);
  const cache = new InstrumentedCache(createCache(config, { logger: pino({ level: 'silent' }), coherence, hotKeyPrefixes: [DECISION_KEY_PREFIX], onLookup: metrics.countFirstTier }), metrics.lookupTally);
  opened.push(cache);
  // Connected before the first request, or its writes would go to the fallback of an unreachable Redis.
  await waitUntil('redis connected', async () => ((await cache.healthy()) ? true : undefined));
  const decider: Decider = {
    source: 'test',
    label: 'test decider',
    endpoint: 'test:',
    logger: pino({ level: 'silent' }),
    async decide(_request, scopes) {
      asked.push(scopes.map((s) => s.name));
      return scopes.map((s) => verdict(s));
    },
  };
  const authorizer = new RemoteAuthorizer(decider, { cache, hashKey, circuit: new CircuitBreaker({ failureThreshold: 1, openMs: 10_000 }) });
  const scrape = async (name: string) => series(await metrics.registry.metrics(), name);
  return { authorizer, coherence, scrape };
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

beforeEach(async () => {
  await client.flushall();
  opened = [];
  asked = [];
  hashKey = randomBytes(32);
  verdict = (scope) => ({ kind: 'decided', granted: [...scope.actions], reason: 'own namespace', ttlSeconds: 600 });
});

afterEach(async () => {
  await Promise.all(opened.map((c) => c.close()));
});

describe('decisions held in the first tier', () => {
  it('are answered with no promise and no Redis command, and counted as hits as before', async () => {
    const { authorizer, scrape } = await replica();
    await authorizer.authorize(request('repository:alice/app:pull'));

    expect(await askedAgainInProcess(authorizer, request('repository:alice/app:pull'))).toEqual([['cache', ['pull']]]);
    expect(asked).toEqual([['alice/app']]);
    // The first request missed both tiers and read Redis; the second was a hit in process, counted alike.
    expect(await scrape('wharf_cache_lookups_total')).toEqual(['wharf_cache_lookups_total{kind="authz",result="miss"} 1', 'wharf_cache_lookups_total{kind="authz",result="hit"} 1']);
    expect(await scrape('wharf_cache_first_tier_total')).toEqual(['wharf_cache_first_tier_total{result="shared"} 1', 'wharf_cache_first_tier_total{result="local"} 1']);
  });

  it('answer with a decision only Redis holds read from it, every lookup counted once', async () => {
    const here = await replica();
    const other = await replica();
    await here.authorizer.authorize(request('repository:alice/a:pull'));
    // Another replica decided alice/b: Redis has it, this process holds no copy.
    await other.authorizer.authorize(request('repository:alice/b:pull'));

    const both = here.authorizer.authorize(request('repository:alice/a:pull', 'repository:alice/b:pull'));
    expect(both).toBeInstanceOf(Promise);
    expect(summary(await both)).toEqual([
      ['cache', ['pull']],
      ['cache', ['pull']],
    ]);
    const held = here.authorizer.authorize(request('repository:alice/a:pull', 'repository:alice/b:pull'));
    expect(held).not.toBeInstanceOf(Promise);
    expect(summary(held as ScopeDecision[])).toEqual(summary(await both));
    expect(asked).toEqual([['alice/a'], ['alice/b']]);
    // a: a miss, then three hits in process; b: a hit read from Redis, then one in process.
    expect(await here.scrape('wharf_cache_lookups_total')).toEqual(['wharf_cache_lookups_total{kind="authz",result="miss"} 1', 'wharf_cache_lookups_total{kind="authz",result="hit"} 4']);
    expect(await here.scrape('wharf_cache_first_tier_total')).toEqual(['wharf_cache_first_tier_total{result="shared"} 2', 'wharf_cache_first_tier_total{result="local"} 3']);
  });

  it('are not answered once an invalidation dropped them: Redis says what is decided now', async () => {
    const { authorizer, coherence } = await replica();
    await authorizer.authorize(request('repository:alice/app:pull,push'));
    // The decision changes in Redis (another replica's, after the platform revoked push) and the
    // invalidation is heard: this process's copy is dropped.
    const [stored] = await client.keys('wharf:authz:*');
    await client.set(stored!, JSON.stringify({ granted: ['pull'], reason: 'push revoked' }), 'EX', 600);
    coherence.forget([stored!.slice('wharf:'.length)]);

    const now = authorizer.authorize(request('repository:alice/app:pull,push'));
    expect(now).toBeInstanceOf(Promise);
    expect((await now).map((d) => [d.source, d.granted, d.reason])).toEqual([['cache', ['pull'], 'push revoked']]);
    expect(asked).toEqual([['alice/app']]);
  });

  it('include anonymous decisions, which stay in process', async () => {
    const { authorizer } = await replica();
    await authorizer.authorize(anonymousRequest('repository:hub/base:pull'));
    expect(await askedAgainInProcess(authorizer, anonymousRequest('repository:hub/base:pull'))).toEqual([['cache', ['pull']]]);
    expect(asked).toEqual([['hub/base']]);
  });
});
