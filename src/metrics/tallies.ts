import type { Counter } from 'prom-client';

/** One label set's count since its counter last read it: a plain number the hot path adds to. */
export class Tally<L extends string = string> {
  count = 0;

  constructor(readonly labels: Readonly<Record<L, string>>) {}
}

/**
 * A counter's label sets counted in plain numbers, added to the prom-client counter when it is
 * read (from its `collect`, before every scrape). prom-client's `inc` builds and hashes a label
 * string on every call, a bound child's too: ~0.15 us and 250 B per call, several per token request.
 * A scrape shows the same series, in the order they were first counted, with the same values.
 */
export class Tallies<L extends string> {
  private readonly made: Tally<L>[] = [];

  /** A new label set's tally; look it up once and keep it. */
  add(labels: Readonly<Record<L, string>>): Tally<L> {
    const tally = new Tally<L>(labels);
    this.made.push(tally);
    return tally;
  }

  /** Adds what was counted since the last call to `counter`: what its `collect` does. */
  fold(counter: Counter<L>): void {
    for (const tally of this.made) {
      if (tally.count === 0) continue;
      counter.inc(tally.labels, tally.count);
      tally.count = 0;
    }
  }
}
