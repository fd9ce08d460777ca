import { afterAll, describe, expect, it } from 'vitest';
import { InstrumentedCache } from '../../src/cache/instrumented-cache.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { RedisCache } from '../../src/cache/redis-cache.js';
import { createMetrics } from '../../src/metrics.js';

/** The lines of a scrape that belong to `name` (its series, not its HELP and TYPE). */
const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(name));

describe('per-request metrics (counted as plain numbers, read at each scrape)', () => {
  it('show every token request by outcome and grant type, and its latency in cumulative buckets', async () => {
    const metrics = createMetrics(false);
    expect(series(await metrics.registry.metrics(), 'wharf_token_request')).toEqual([]);
    metrics.observeTokenRequest('unauthorized', 'get', 0.0003);
    metrics.observeTokenRequest('issued', 'get', 0.002);
    metrics.observeTokenRequest('issued', 'password', 0.3);
    metrics.observeTokenRequest('issued', 'get', 0.001);
    const first = await metrics.registry.metrics();
    expect(series(first, 'wharf_token_requests_total')).toEqual([
      'wharf_token_requests_total{outcome="unauthorized",grant_type="get"} 1',
      'wharf_token_requests_total{outcome="issued",grant_type="get"} 2',
      'wharf_token_requests_total{outcome="issued",grant_type="password"} 1',
    ]);
    const buckets = (le: number[], grant: string) => le.map((n, i) => `wharf_token_request_duration_seconds_bucket{le="${['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '1'][i]}",grant_type="${grant}"} ${n}`);
    expect(series(first, 'wharf_token_request_duration_seconds')).toEqual([
      ...buckets([1, 2, 3, 3, 3, 3, 3, 3, 3, 3], 'get'),
      'wharf_token_request_duration_seconds_bucket{le="+Inf",grant_type="get"} 3',
      'wharf_token_request_duration_seconds_sum{grant_type="get"} 0.0033',
      'wharf_token_request_duration_seconds_count{grant_type="get"} 3',
      ...buckets([0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 'password'),
      'wharf_token_request_duration_seconds_bucket{le="+Inf",grant_type="password"} 1',
      'wharf_token_request_duration_seconds_sum{grant_type="password"} 0.3',
      'wharf_token_request_duration_seconds_count{grant_type="password"} 1',
    ]);

    // A second scrape adds what came since, once: nothing is counted twice or lost.
    metrics.observeTokenRequest('issued', 'get', 2);
    const second = await metrics.registry.metrics();
    expect(series(second, 'wharf_token_requests_total{outcome="issued",grant_type="get"}')).toEqual(['wharf_token_requests_total{outcome="issued",grant_type="get"} 3']);
    expect(series(second, 'wharf_token_request_duration_seconds_bucket{le="1",grant_type="get"}')).toEqual(['wharf_token_request_duration_seconds_bucket{le="1",grant_type="get"} 3']);
    expect(series(second, 'wharf_token_request_duration_seconds_bucket{le="+Inf",grant_type="get"}')).toEqual(['wharf_token_request_duration_seconds_bucket{le="+Inf",grant_type="get"} 4']);
    expect(series(second, 'wharf_token_request_duration_seconds_count{grant_type="get"}')).toEqual(['wharf_token_request_duration_seconds_count{grant_type="get"} 4']);
    expect(await metrics.registry.metrics()).toBe(second);
  });

  describe('cache lookups', () => {
    const unreachable = new RedisCache({ url: 'redis://127.0.0.1:1' });
    afterAll(() => unreachable.close());

    it('are counted by kind and result, and a failed lookup still fails', async () => {
      const metrics = createMetrics(false);
      const memory = new MemoryCache({ maxEntries: 10 });
      await memory.set('static:a', 'yes', 60);
      await memory.set('nocolon', 'yes', 60);
      const cache = new InstrumentedCache(memory, metrics.lookupTally);
      expect(await cache.get('static:b')).toBeUndefined();
      expect(await cache.get('static:a')).toBe('yes');
      expect(await cache.get('static:a')).toBe('yes');
      expect(await cache.get('nocolon')).toBe('yes');
      expect(await cache.get(':empty')).toBeUndefined();
      const failing = new InstrumentedCache(unreachable, metrics.lookupTally);
      await expect(failing.get('intro:x')).rejects.toThrow();
      metrics.countFirstTier('local');
      metrics.countFirstTier('local');
      metrics.countFirstTier('shared');
      const text = await metrics.registry.metrics();
      expect(series(text, 'wharf_cache_lookups_total')).toEqual([
        'wharf_cache_lookups_total{kind="static",result="miss"} 1',
        'wharf_cache_lookups_total{kind="static",result="hit"} 2',
        'wharf_cache_lookups_total{kind="other",result="hit"} 1',
        'wharf_cache_lookups_total{kind="other",result="miss"} 1',
        'wharf_cache_lookups_total{kind="intro",result="error"} 1',
      ]);
      expect(series(text, 'wharf_cache_first_tier_total')).toEqual(['wharf_cache_first_tier_total{result="local"} 2', 'wharf_cache_first_tier_total{result="shared"} 1']);
    });
  });
});
