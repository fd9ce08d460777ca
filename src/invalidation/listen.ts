import type { Logger } from 'pino';
import type { Coherence } from '../cache/coherence.js';
import type { Invalidator } from './invalidator.js';
import { subscribeInvalidations, type InvalidationChannel } from './redis-channel.js';

/**
 * Joins the replicas' invalidation channel on Redis: platform messages and other replicas' drops
 * reach the invalidator, the coherence learns when copies may be trusted longer, and this
 * replica's own drops are announced on it.
 */
export async function listenForInvalidations(redis: { url: string; keyPrefix: string }, invalidator: Invalidator, coherence: Coherence, logger: Logger): Promise<InvalidationChannel> {
  const channel = await subscribeInvalidations(
    redis.url,
    `${redis.keyPrefix}invalidate`,
    {
      apply: (r) => invalidator.invalidate(r, 'redis'),
      dropLocal: (keys) => invalidator.heard(keys),
      listening: () => coherence.listeningFromNow(),
      deaf: () => coherence.deaf(),
    },
    logger,
  );
  invalidator.announceOn(channel);
  return channel;
}
