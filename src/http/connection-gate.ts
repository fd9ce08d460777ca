/** Which bound refused a connection. */
export type ConnectionBound = 'per_address' | 'total';

/** The two bounds on open connections (`server.connections`). */
export interface ConnectionLimits {
  /** Open connections from one client address group. */
  perAddress: number;
  /** Open connections from everyone together. */
  total: number;
}

/**
 * Counts the open connections of one process, per client address group and in total, and says
 * whether one more may open. A group's entry goes when its last connection closes, so the table
 * never holds more entries than there are open connections (at most `total`).
 */
export class ConnectionGate {
  private readonly perGroup = new Map<string, number>();
  private openCount = 0;

  constructor(private readonly limits: ConnectionLimits) {}

  /**
   * Takes a slot for a connection from `group` (`undefined`: a trusted proxy, bounded by the total
   * only), or says which bound refuses it; a refused connection takes nothing.
   */
  admit(group: string | undefined): ConnectionBound | undefined {
    if (this.openCount >= this.limits.total) return 'total';
    if (group !== undefined) {
      const held = this.perGroup.get(group) ?? 0;
      if (held >= this.limits.perAddress) return 'per_address';
      this.perGroup.set(group, held + 1);
    }
    this.openCount++;
    return undefined;
  }

  /** Gives back the slot an admitted connection from `group` took. */
  release(group: string | undefined): void {
    this.openCount--;
    if (group === undefined) return;
    const held = this.perGroup.get(group) ?? 0;
    if (held <= 1) this.perGroup.delete(group);
    else this.perGroup.set(group, held - 1);
  }

  /** Connections admitted and not yet closed. */
  get open(): number {
    return this.openCount;
  }

  /** Address groups holding at least one connection (the size of the table). */
  get groups(): number {
    return this.perGroup.size;
  }
}

/** What was refused over one interval, for the one log line that summarises it. */
export interface RefusalSummary {
  /** Refusals by bound. */
  refused: Record<ConnectionBound, number>;
  /** The address groups refused most, most first (at most `TOP_GROUPS`). */
  addresses: Array<{ address: string; refused: number }>;
}

/** Address groups named in a summary line. */
const TOP_GROUPS = 5;
/** Distinct groups tallied per interval; past it, refusals are counted by bound only (an attacker with many addresses must not grow the tally). */
const MAX_TALLIED_GROUPS = 1000;

/** Tallies refusals between two summary lines, in bounded memory. */
export class RefusalTally {
  private refused: Record<ConnectionBound, number> = { per_address: 0, total: 0 };
  private byGroup = new Map<string, number>();

  /** Counts one refusal; says whether it is the first since the last `drain` (time to schedule a line). */
  record(bound: ConnectionBound, group: string | undefined): boolean {
    const first = this.refused.per_address + this.refused.total === 0;
    this.refused[bound]++;
    const key = group ?? 'trusted proxies';
    const held = this.byGroup.get(key);
    if (held !== undefined) this.byGroup.set(key, held + 1);
    else if (this.byGroup.size < MAX_TALLIED_GROUPS) this.byGroup.set(key, 1);
    return first;
  }

  /** What was counted since the last drain (undefined when nothing was), and starts over. */
  drain(): RefusalSummary | undefined {
    if (this.refused.per_address + this.refused.total === 0) return undefined;
    const addresses = [...this.byGroup]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP_GROUPS)
      .map(([address, refused]) => ({ address, refused }));
    const summary = { refused: this.refused, addresses };
    this.refused = { per_address: 0, total: 0 };
    this.byGroup = new Map();
    return summary;
  }
}
