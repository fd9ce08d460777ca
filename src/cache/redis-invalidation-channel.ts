import { connectRedis } from './redis-connection.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { InvalidationRequest } from '../flows/invalidation.js';

const message = z.strictObject({
  token: z.string().min(1).max(8192).optional(),
  account: z.string().min(1).max(255).optional(),
  /** Replica to replica: hashed keys whose in-process copies must go. */
  drop: z.array(z.string().max(200)).max(100).optional(),
});

/**
 * Listens on the Redis channel `<keyPrefix>invalidate` for `{"token"?, "account"?}` messages, so a
 * platform can revoke through Redis as well as through `POST /admin/invalidate`.
 */
export async function subscribeInvalidations(
  url: string,
  channel: string,
  apply: (request: InvalidationRequest) => Promise<void>,
  logger: Logger,
  dropLocal: (keys: string[]) => void = () => {},
): Promise<{ close(): Promise<void>; publish(keys: string[]): Promise<void> }> {
  const subscriber = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: null });
  subscriber.on('error', () => {});
  subscriber.on('message', (_channel: string, raw: string) => {
    let parsed;
    try {
      parsed = message.safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (parsed?.success && parsed.data.drop) {
      dropLocal(parsed.data.drop);
      return;
    }
    if (!parsed?.success || (!parsed.data.token && !parsed.data.account)) {
      logger.warn({ event: 'invalidation_message_ignored', bytes: raw.length }, 'ignored a malformed invalidation message');
      return;
    }
    apply(parsed.data).catch((err: unknown) => logger.error({ event: 'invalidation_failed', err: String(err) }, 'invalidation failed'));
  });
  try {
    await subscriber.connect();
    await subscriber.subscribe(channel);
  } catch (err) {
    logger.error({ event: 'invalidation_channel_unavailable', err: String(err) }, `cannot subscribe to ${channel}; HTTP invalidation still works`);
  }
  const publisher = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  publisher.on('error', () => {});
  return {
    async publish(keys: string[]) {
      if (keys.length > 0) await publisher.publish(channel, JSON.stringify({ drop: keys }));
    },
    async close() {
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
