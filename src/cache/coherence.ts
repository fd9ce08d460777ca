/** Something that keeps in-process copies of shared entries (a cache tier, a memo). */
export interface LocalCopy {
  /** Drops the copies of these shared keys (another replica changed them). */
  forget(keys: readonly string[]): void;
  /** Drops every copy (invalidations may have been missed). */
  forgetAll(): void;
}

/** Options of the coherence. */
export interface CoherenceOptions {
  /** Longest a copy is trusted while invalidations arrive (the subscription is up). */
  maxStalenessMs: number;
  /** Longest a copy is trusted while they may not (no subscription, or it is down). Default 1000. */
  unsubscribedMs?: number;
}

/** How long a known absence is kept: another replica may fill the entry at any moment. */
const ABSENCE_MS = 1000;

/**
 * The one rule every in-process copy of shared state follows (the first cache tier, account
 * generations, account bindings, recent answers): a copy lives as long as the entry's own
 * lifetime allows, capped by `maxStalenessMs` while this process hears invalidations over the
 * subscription, and by a second while it may not. Whenever the subscription is lost or comes back
 * every copy is dropped, since messages may have been missed meanwhile.
 */
export class Coherence {
  private listening = false;
  private readonly copies: LocalCopy[] = [];
  private forgets = 0;

  constructor(private readonly options: CoherenceOptions) {}

  /**
   * How long a copy taken now may be trusted, given what remains of the entry's own life
   * (unknown: no limit of its own). Zero means: do not keep it.
   */
  trustMs(remainingMs = Number.POSITIVE_INFINITY): number {
    const cap = this.listening ? this.options.maxStalenessMs : (this.options.unsubscribedMs ?? 1000);
    return Math.max(0, Math.floor(Math.min(remainingMs, cap)));
  }

  /** How long a known absence may be trusted. */
  absenceMs(): number {
    return this.trustMs(ABSENCE_MS);
  }

  /**
   * Counts forgets: a copy read from the shared store is kept only if this did not move while
   * it was read, or a read that began before an invalidation would put back what it dropped.
   */
  get epoch(): number {
    return this.forgets;
  }

  /** Whether invalidations are being heard (for readiness and tests). */
  get subscribed(): boolean {
    return this.listening;
  }

  attach(copy: LocalCopy): void {
    this.copies.push(copy);
  }

  /** Drops the in-process copies of `keys` everywhere in this process. */
  forget(keys: readonly string[]): void {
    this.forgets++;
    for (const copy of this.copies) copy.forget(keys);
  }

  /** Drops every in-process copy. */
  forgetAll(): void {
    this.forgets++;
    for (const copy of this.copies) copy.forgetAll();
  }

  /** The subscription is in place (again): what came before it may have been missed, so it goes. */
  listeningFromNow(): void {
    this.listening = true;
    this.forgetAll();
  }

  /** The subscription is lost: copies are trusted for a second only, and what is held goes. */
  deaf(): void {
    this.listening = false;
    this.forgetAll();
  }
}
