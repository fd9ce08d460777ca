import { describe, expect, it } from 'vitest';
import { TurnQueue } from '../../src/http/turn-queue.js';

describe('TurnQueue', () => {
  it('starts a turn’s work only once the turn is over, back to back in the order it came, each outcome to its own caller', async () => {
    const queue = new TurnQueue();
    const started: string[] = [];
    const work = (name: string, outcome: () => Promise<string>) => () => {
      started.push(name);
      return outcome();
    };
    const ok = queue.run(work('a', async () => 'answer a'));
    const refused = queue.run(work('b', () => Promise.reject(new Error('refused b'))));
    const thrown = queue.run(
      work('c', () => {
        throw new Error('thrown by c');
      }),
    );
    const late = queue.run(work('d', async () => 'answer d'));
    // Nothing runs within the turn that queued it (a socket's callback, for the token route).
    expect(started).toEqual([]);
    await expect(ok).resolves.toBe('answer a');
    await expect(refused).rejects.toThrow('refused b');
    // A throw instead of a rejection reaches its caller alone; what came after it still runs.
    await expect(thrown).rejects.toThrow('thrown by c');
    await expect(late).resolves.toBe('answer d');
    expect(started).toEqual(['a', 'b', 'c', 'd']);
  });

  it('never starts work inside the work that queued it: later, once that work has returned', async () => {
    const queue = new TurnQueue();
    const order: string[] = [];
    let inner: Promise<void> | undefined;
    await queue.run(async () => {
      order.push('first turn');
      inner = queue.run(async () => {
        order.push('next turn');
      });
      order.push('first turn ends');
    });
    await inner;
    expect(order).toEqual(['first turn', 'first turn ends', 'next turn']);
  });
});
