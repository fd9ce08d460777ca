/**
 * Why a store refused a write, in the words /readyz shows: one line an operator can act on.
 * Redis answers a write it refuses with an error whose first word names the cause.
 */
export function writeRefusalCause(err: unknown): string {
  // A store wraps what the client threw as the `cause` of its TemporarilyUnavailableError.
  const inner = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const message = inner instanceof Error ? inner.message : String(inner);
  const code = (inner as { code?: unknown } | undefined)?.code;
  if (message.startsWith('OOM')) return 'Redis is out of memory (used memory > maxmemory, noeviction): give it memory, or move the cache to a Redis of its own';
  if (message.startsWith('READONLY')) return 'Redis is a read-only replica: point the store at the primary';
  if (message.startsWith('MISCONF')) return 'Redis cannot persist to disk (MISCONF): check its disk and its log';
  if (message.startsWith('NOREPLICAS')) return 'Redis has too few replicas for min-replicas-to-write';
  if (/connection is closed|stream isn't writeable|command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/i.test(message)) return 'connection to Redis lost';
  if (code === 'ENOSPC' || /MDB_MAP_FULL|ENOSPC|no space/i.test(message)) return 'disk or database map full';
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return `the state directory cannot be written (${String(code)})`;
  return `write failed: ${message.replace(/\s+/g, ' ').slice(0, 120)}`;
}

/** How often a write probe may run, at most. */
const PROBE_EVERY_MS = 1000;

/**
 * Whether a store accepts writes now: the last write's outcome (a refused one names its cause,
 * the next one that succeeds clears it) and, when asked, a small probe write at most once a
 * second, so a store that refuses writes shows even while nobody writes.
 */
export class WriteRefusals {
  private refused: { cause: string; since: number } | undefined;
  private lastProbe = Number.NEGATIVE_INFINITY;
  private probing: Promise<void> | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** A write failed with `err`. */
  failed(err: unknown): void {
    const cause = writeRefusalCause(err);
    if (this.refused?.cause !== cause) this.refused = { cause, since: this.now() };
  }

  /** A write was recorded. */
  succeeded(): void {
    this.refused = undefined;
  }

  /**
   * Why writes are refused now, or undefined while they are accepted. Runs `probe` (a write
   * whose outcome reaches `failed`/`succeeded`, e.g. through the store's own write path) when
   * the last one is over a second old, or only while a refusal is remembered when `always` is false.
   */
  async current(probe: () => Promise<unknown>, always: boolean): Promise<string | undefined> {
    const due = this.now() - this.lastProbe >= PROBE_EVERY_MS && (always || this.refused !== undefined);
    if (due && !this.probing) {
      this.lastProbe = this.now();
      this.probing = probe().then(
        () => undefined,
        () => undefined,
      );
      await this.probing.finally(() => (this.probing = undefined));
    } else if (this.probing) {
      await this.probing;
    }
    return this.refused?.cause;
  }
}
