/*
 * Bounds how many configured commands run at once (shared by the command authenticator and the
 * command authorizer, like command-runner.ts).
 */

/** Raised when no slot frees up in time, or the queue is full. */
export class CommandBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandBusyError';
  }
}

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout;
}

/** At most `max` runs at once; at most `maxQueued` wait, each for at most its `waitMs`. */
export class CommandSlots {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  async run<T>(fn: () => Promise<T>, waitMs: number): Promise<T> {
    await this.take(waitMs);
    try {
      return await fn();
    } finally {
      this.running -= 1;
      this.queue.shift()?.start();
    }
  }

  private take(waitMs: number): Promise<void> {
    if (this.running < this.max) {
      this.running += 1;
      return Promise.resolve();
    }
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new CommandBusyError(`${this.max} runs in progress and ${this.queue.length} waiting`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          this.running += 1;
          resolve();
        },
        timer: setTimeout(() => {
          this.queue.splice(this.queue.indexOf(waiter), 1);
          reject(new CommandBusyError(`no free slot within ${waitMs} ms (${this.max} runs in progress)`));
        }, waitMs),
      };
      this.queue.push(waiter);
    });
  }
}
