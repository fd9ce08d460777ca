import type { Histogram, Registry } from 'prom-client';

/** One label set's observations: counts per bucket, their sum and number. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is above every bound (+Inf only). */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** One line of a scrape. */
interface ScrapedValue {
  value: number;
  metricName: string;
  exemplar?: null;
  labels: Record<string, string | number>;
}

/** What a TalliedHistogram is made with, as prom-client's Histogram takes it. */
export interface TalliedHistogramConfig {
  name: string;
  help: string;
  /** Upper bounds of the buckets, ascending (`+Inf` is added). */
  buckets: readonly number[];
  registers: readonly Registry[];
}

/**
 * A histogram whose series count in plain numbers: `series(labels)` once per label set, then
 * `observe` is a few comparisons and additions. prom-client's Histogram builds and hashes a label
 * string and a label/value object on every observation, a bound child's too. The registry reads
 * it as it reads any metric (`get`), so the exposition is the same text: `_bucket` series with
 * `le` first then the labels, cumulative, `+Inf`, then `_sum` and `_count`, per label set in the
 * order first observed.
 */
export class TalliedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly made: HistogramSeries[] = [];

  constructor(config: TalliedHistogramConfig) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = [...config.buckets];
    // The registry needs only what a metric shows at a scrape (name, type, help, get, reset),
    // which prom-client's types spell as its own metric classes.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Histogram);
  }

  /** A new label set's series; look it up once and keep it. It shows from its first observation. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const series = new HistogramSeries(labels, this.bounds);
    this.made.push(series);
    return series;
  }

  /** The values of a scrape, as prom-client's Histogram gives them (the same fields in the same order). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: ScrapedValue[]; aggregator: 'sum' }> {
    const values: ScrapedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.made) {
      if (series.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += series.counts[i]!;
        values.push({ value: cumulative, metricName: bucket, exemplar: null, labels: { le: this.bounds[i]!, ...series.labels } });
      }
      values.push(
        { value: series.count, metricName: bucket, exemplar: null, labels: { le: '+Inf', ...series.labels } },
        { value: series.sum, metricName: `${this.name}_sum`, labels: { ...series.labels } },
        { value: series.count, metricName: `${this.name}_count`, labels: { ...series.labels } },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** Forgets every observation (the registry's resetMetrics); series handed out keep counting from zero. */
  reset(): void {
    for (const series of this.made) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
