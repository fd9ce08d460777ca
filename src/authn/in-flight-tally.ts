/** One counter's verifications in this process. */
interface Tally {
  /** Reads of the counter under way. */
  reading: number;
  /** Verifications admitted and not settled yet. */
  underWay: number;
  /** Failures settled since the tally was made: a read that began before one may not show it. */
  failed: number;
}

/**
 * Verifications under way in this process per budget counter that is only counted after the
 * verdict (the per-account budgets): a counter read before verifying does not show the guesses
 * under way, so a burst of 200 concurrent guesses would all read "0 spent". Admitting a
 * verification only while `spent + under way + failed since the read began < budget` bounds what
 * this process verifies at once by the budget's remaining points; a failure that lands during a
 * read may be counted twice, which only refuses early (fail closed). Entries exist while a read
 * or a verification is under way, so the table is bounded by the verifications in flight.
 */
export class InFlightTally {
  private readonly tallies = new Map<string, Tally>();

  /** Marks a read of `key` as begun; pass the returned mark to `admit` once it answered. */
  reading(key: string): number {
    let tally = this.tallies.get(key);
    if (!tally) this.tallies.set(key, (tally = { reading: 0, underWay: 0, failed: 0 }));
    tally.reading++;
    return tally.failed;
  }

  /** Ends the read begun with `mark`; how many of the budget this process holds beyond what the read showed. */
  held(key: string, mark: number): number {
    const tally = this.tallies.get(key)!;
    tally.reading--;
    const held = tally.underWay + (tally.failed - mark);
    this.tidy(key, tally);
    return held;
  }

  /** Counts a verification of `key` as under way (call right after `held`, in the same turn). */
  start(key: string): void {
    let tally = this.tallies.get(key);
    if (!tally) this.tallies.set(key, (tally = { reading: 0, underWay: 0, failed: 0 }));
    tally.underWay++;
  }

  /** Settles one verification started with `start`; `failed` when it is about to be counted. */
  settle(key: string, failed: boolean): void {
    const tally = this.tallies.get(key);
    if (!tally) return;
    tally.underWay--;
    if (failed) tally.failed++;
    this.tidy(key, tally);
  }

  private tidy(key: string, tally: Tally): void {
    if (tally.reading === 0 && tally.underWay === 0) this.tallies.delete(key);
  }
}
