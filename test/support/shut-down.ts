import { rm } from 'node:fs/promises';
import { Server } from 'node:net';

/**
 * Something a test file started: a process or server with `stop()` (Wharf, the registry, Redis),
 * one with `close()` (a browser, an IdP, a fake platform), a node server, a client with
 * `disconnect()`, or a scratch folder (its path). `undefined` when it never started.
 */
export type Started = { stop(): Promise<unknown> } | { close(): Promise<unknown> } | Server | { disconnect(): void } | string | undefined;

/**
 * Stops what a test file started, one after the other in the order given (what uses another goes
 * first), skipping what never started; a folder is removed with everything in it.
 */
export async function shutDown(...started: Started[]): Promise<void> {
  for (const thing of started) {
    if (thing === undefined) continue;
    if (typeof thing === 'string') await rm(thing, { recursive: true, force: true });
    else if (thing instanceof Server) await new Promise<void>((resolve) => thing.close(() => resolve()));
    else if ('stop' in thing) await thing.stop();
    else if ('close' in thing) await thing.close();
    else thing.disconnect();
  }
}
