import type { Logger } from 'pino';
import type { Store } from './store.js';

/** How often expired records are removed from a store that does not expire them itself. */
const STORE_SWEEP_MS = 10 * 60_000;

/**
 * Expired device codes, sessions and refresh tokens would otherwise stay on disk for good in a
 * store without expiry of its own (the embedded one). Returns the stop function.
 */
export function startStoreSweep(store: Store, logger: Logger): () => void {
  if (!store.sweep) return () => {};
  const sweep = store.sweep.bind(store);
  const timer = setInterval(() => {
    sweep().then(
      (removed) => removed > 0 && logger.info({ event: 'store_swept', removed }, 'expired records removed'),
      (err: unknown) => logger.warn({ event: 'store_sweep_failed', err: err instanceof Error ? err.message : String(err) }, 'could not remove expired records; will try again'),
    );
  }, STORE_SWEEP_MS).unref();
  return () => clearInterval(timer);
}
