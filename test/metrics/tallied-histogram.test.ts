import { Histogram, Registry, type RegistryContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { TalliedHistogram, type HistogramSeries } from '../../src/metrics/tallied-histogram.js';

// The token latency histogram's settings, as they were when it was prom-client's own.
const name = 'wharf_token_request_duration_seconds';
const help = 'Token endpoint latency';
const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** A TalliedHistogram and a prom-client Histogram with the same settings, each in a registry of its own. */
function pair(contentType: RegistryContentType = Registry.PROMETHEUS_CONTENT_TYPE) {
  const ours = new Registry<RegistryContentType>();
  const theirs = new Registry<RegistryContentType>();
  ours.setContentType(contentType);
  theirs.setContentType(contentType);
  const tallied = new TalliedHistogram({ name, help, buckets }).registerIn(ours);
  const reference = new Histogram({ name, help, labelNames: ['grant_type'] as const, buckets, registers: [theirs] });
  const series = new Map<string, HistogramSeries>();
  return {
    ours,
    theirs,
    tallied,
    reference,
    /** A series made ahead of its first observation, as createMetrics makes one at its grant type's first request. */
    make(grant: string) {
      series.set(grant, tallied.series({ grant_type: grant }));
    },
    observe(grant: string, seconds: number) {
      if (!series.has(grant)) series.set(grant, tallied.series({ grant_type: grant }));
      series.get(grant)!.observe(seconds);
      reference.labels({ grant_type: grant }).observe(seconds);
    },
    /** Both scrapes, text and JSON, are the same. */
    async same() {
      const text = await ours.metrics();
      expect(text).toBe(await theirs.metrics());
      expect(await ours.getMetricsAsJSON()).toStrictEqual(await theirs.getMetricsAsJSON());
      return text;
    },
  };
}

/** Values on every bound, between them, below the first, 0, above the last, and sums that round. */
function observations(): [string, number][] {
  const grants = ['password', 'get', 'refresh_token', 'other'];
  const out: [string, number][] = [];
  for (const [i, bound] of buckets.entries()) out.push([grants[i % 4]!, bound], ['get', bound]);
  out.push(['get', 0], ['password', 0], ['get', 0.0001], ['other', 0.0004999], ['get', 1.0000001], ['refresh_token', 30], ['get', 0.1], ['get', 0.2], ['get', -0.001]);
  let seed = 42;
  for (let i = 0; i < 500; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    out.push([grants[seed % 4]!, (seed / 2 ** 31) ** 3 * 1.2]);
  }
  return out;
}

describe('the tallied token latency histogram', () => {
  it.each([
    ['Prometheus', Registry.PROMETHEUS_CONTENT_TYPE],
    ['OpenMetrics', Registry.OPENMETRICS_CONTENT_TYPE],
  ] as const)('scrapes byte for byte as prom-client Histogram does for the same observations (%s)', async (_format, contentType) => {
    const both = pair(contentType);
    expect(await both.same()).not.toContain('_bucket');
    // A series made before another but observed after it shows after it, as prom-client's would.
    both.make('other');
    for (const [grant, seconds] of observations()) both.observe(grant, seconds);
    const text = await both.same();
    // The comparison has something to compare: every grant type, every bucket, +Inf, sum and count.
    expect(text.split('\n').filter((line) => line.startsWith(`${name}_`))).toHaveLength(4 * (buckets.length + 3));
    expect(text).toContain(`${name}_bucket{le="0.0005",grant_type="password"} `);
    expect(text.indexOf('grant_type="get"')).toBeLessThan(text.indexOf('grant_type="other"'));
  });

  it('counts every observation once, however many scrapes fall between them', async () => {
    const both = pair();
    const all = observations();
    both.observe('get', 0.002);
    await both.same();
    for (const [grant, seconds] of all.slice(0, 200)) both.observe(grant, seconds);
    await both.same();
    await both.same();
    for (const [grant, seconds] of all.slice(200)) both.observe(grant, seconds);
    const text = await both.same();
    expect(await both.ours.metrics()).toBe(text);
    const counts = text.split('\n').filter((line) => line.startsWith(`${name}_count`)).map((line) => Number(line.split(' ')[1]));
    expect(counts.reduce((a, b) => a + b)).toBe(all.length + 1);
    // After a reset (the registry's resetMetrics) series show again from their next observation, in that order.
    both.ours.resetMetrics();
    both.theirs.resetMetrics();
    expect(await both.same()).not.toContain('_bucket');
    both.observe('refresh_token', 0.3);
    both.observe('get', 0.001);
    expect(await both.same()).toContain(`${name}_count{grant_type="refresh_token"} 1\n${name}_bucket{le="0.0005",grant_type="get"} 0`);
  });

  it('refuses a value that is not a finite number, as prom-client does, and stays unspoiled', async () => {
    const both = pair();
    const series = both.tallied.series({ grant_type: 'get' });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => series.observe(bad)).toThrow(new TypeError(`Value is not a valid number: ${bad}`));
      expect(() => both.reference.labels({ grant_type: 'get' }).observe(bad)).toThrow(new TypeError(`Value is not a valid number: ${bad}`));
    }
    expect(await both.same()).not.toContain('_bucket');
  });

  it('is what /metrics shows for token requests, with the settings it had as a prom-client Histogram', async () => {
    const metrics = createMetrics(false);
    const theirs = new Registry();
    const reference = new Histogram({ name, help, labelNames: ['grant_type'] as const, buckets, registers: [theirs] });
    for (const [grant, seconds] of observations()) {
      metrics.observeTokenRequest('issued', grant, seconds);
      reference.observe({ grant_type: grant }, seconds);
    }
    expect(await metrics.registry.getSingleMetricAsString(name)).toBe(await theirs.getSingleMetricAsString(name));
  });
});
