/**
 * Collapses concurrent calls for the same key into one: the first caller runs `fn`, the others
 * wait for its result. Nothing is remembered once it settles (caching is the Cache's job).
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const promise = fn().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  /** Calls currently in flight (for tests and metrics). */
  size(): number {
    return this.inFlight.size;
  }
}
