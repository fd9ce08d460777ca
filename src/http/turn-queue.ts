/**
 * Work deferred to the end of the event loop's turn and then run back to back, in the order it came.
 *
 * Node reads every socket that is ready in one poll phase, and each request's handler runs in its
 * socket's own callback, between that socket's parsing and its neighbours'. Work queued here runs
 * instead in the check phase right after (setImmediate), once the turn's requests have all been
 * read: for the token endpoint, a turn's token requests are then decided one after another, so the
 * token path's code and tables stay in the CPU's caches from one request to the next, and the new
 * tokens of a turn reach the signing thread together. Under load a turn holds tens of requests;
 * alone, a request waits only for the rest of its own turn (no timer is involved).
 */
export class TurnQueue {
  private queued: Array<() => void> = [];
  private scheduled = false;
  private readonly runAll = () => {
    this.scheduled = false;
    const turn = this.queued;
    this.queued = [];
    for (const start of turn) start();
  };

  /** `work`'s outcome, with `work` started at the end of this turn. A throw from it rejects only its own promise. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push(() => {
        try {
          work().then(resolve, reject);
        } catch (err) {
          // Not out of runAll: the rest of the turn's work still starts.
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.runAll);
      }
    });
  }
}
