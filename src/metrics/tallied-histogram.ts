import type { Histogram, Registry, RegistryContentType } from 'prom-client';

/**
 * One label set's observations in plain numbers: a count per bucket (not cumulative; the last
 * slot is above every bound, counted in `+Inf` only), their sum and their number.
 */
export class HistogramSeries {
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
    private readonly shown: HistogramSeries[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts one value, as prom-client's `observe` does: in the first bucket whose bound is at least the value. */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    // Added one by one, in the order observed, so the sum is the very float prom-client's would be.
    this.sum += value;
    // A series shows from its first observation (since a reset), where prom-client's would.
    if (this.count++ === 0) this.shown.push(this);
  }

  /** Forgets every observation. */
  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** This series' lines of a scrape, as prom-client's Histogram `get` gives them. */
  scrape(name: string, bounds: readonly number[], into: ScrapedValue[]): void {
    const bucket = `${name}_bucket`;
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += this.counts[i]!;
      into.push({ value: cumulative, metricName: bucket, exemplar: null, labels: { le: bounds[i]!, ...this.labels } });
    }
    into.push(
      { value: this.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...this.labels } },
      { value: this.sum, metricName: `${name}_sum`, exemplar: undefined, labels: { ...this.labels } },
      { value: this.count, metricName: `${name}_count`, exemplar: undefined, labels: { ...this.labels } },
    );
  }
}

/** One line of a scrape, with the fields of prom-client's Histogram in the same order. */
interface ScrapedValue {
  value: number;
  metricName: string;
  exemplar: null | undefined;
  labels: Record<string, string | number>;
}

/** What a TalliedHistogram is made with, as prom-client's Histogram takes it. */
export interface TalliedHistogramConfig {
  name: string;
  help: string;
  /** Upper bounds of the buckets, ascending (`+Inf` is added). */
  buckets: readonly number[];
}

/**
 * A histogram for a hot path: `series(labels)` once per label set, then each `observe` is a few
 * comparisons and additions on plain numbers. prom-client's Histogram validates the labels, builds
 * and hashes a label string and indexes its buckets by the bound's decimal text on every
 * observation, a bound child's too (~0.5 us and ~100 B per call alone, more under load).
 *
 * The registry reads it as it reads any metric, through `get` at each scrape, and this returns
 * what prom-client's Histogram returns for the same observations: `_bucket` lines with `le` first
 * then the labels, cumulative, `+Inf`, then `_sum` and `_count`, series in the order first
 * observed. Nothing is folded or reset at a scrape, so none can count twice or go missing.
 * test/metrics/tallied-histogram.test.ts holds it to a prom-client Histogram, byte for byte.
 */
export class TalliedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly made: HistogramSeries[] = [];
  // The series observed since the last reset, in the order of their first observation.
  private readonly shown: HistogramSeries[] = [];

  constructor(config: TalliedHistogramConfig) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = [...config.buckets];
  }

  /** Adds this histogram to `registry`, after the metrics already there. */
  registerIn(registry: Registry<RegistryContentType>): this {
    // The registry uses only what every metric has (name, type, help, get, reset); prom-client's
    // types spell that as the union of its own metric classes, hence the cast.
    registry.registerMetric(this as unknown as Histogram);
    return this;
  }

  /** A new label set's series; look it up once and keep it. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const series = new HistogramSeries(labels, this.bounds, this.shown);
    this.made.push(series);
    return series;
  }

  /** What a scrape shows, in the shape prom-client's Histogram `get` gives. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: ScrapedValue[]; aggregator: 'sum' }> {
    const values: ScrapedValue[] = [];
    for (const series of this.shown) series.scrape(this.name, this.bounds, values);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** Forgets every observation (the registry's `resetMetrics`); the series handed out count on from zero. */
  reset(): void {
    for (const series of this.made) series.clear();
    this.shown.length = 0;
  }
}
