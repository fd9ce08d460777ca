import type { Logger } from 'pino';
import { z } from 'zod';
import { connectRedis } from '../cache/redis-connection.js';
import type { InvalidationRequest } from './invalidator.js';

const message = z.strictObject({
  token: z.string().min(1).max(8192).optional(),
  account: z.string().min(1).max(255).optional(),
  /** Replica to replica: hashed keys whose in-process copies must go. */
  drop: z.array(z.string().max(300)).max(100).optional(),
});

/** What the channel tells its owner. */
export interface ChannelHandlers {
  /** A platform asked (through Redis) to invalidate a token or an account. */
  apply(request: InvalidationRequest): Promise<void>;
  /** Another replica changed these keys: drop their in-process copies. */
  dropLocal(keys: string[]): void;
  /** The subscription is confirmed (at start, or again after a reconnect). */
  listening(): void;
  /** The subscription's connection is gone: messages from now on are missed. */
  deaf(): void;
}

/** The invalidation channel: messages in, `drop` announcements out. */
export interface InvalidationChannel {
  publish(keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on the Redis channel `<keyPrefix>invalidate` for `{"token"?, "account"?}` messages (a
 * platform can revoke through Redis as well as through `POST /admin/invalidate`) and for other
 * replicas' `{"drop": [...]}`. Pub/sub delivers at most once and only to connected subscribers,
 * so the owner hears when the subscription is lost and when it is confirmed again.
 */
export async function subscribeInvalidations(url: string, channel: string, handlers: ChannelHandlers, logger: Logger): Promise<InvalidationChannel> {
  const subscriber = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: null });
  let closing = false;
  let heard = false;
  subscriber.on('error', () => {});
  subscriber.on('message', (_channel: string, raw: string) => {
    let parsed;
    try {
      parsed = message.safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (parsed?.success && parsed.data.drop) {
      handlers.dropLocal(parsed.data.drop);
      return;
    }
    if (!parsed?.success || (!parsed.data.token && !parsed.data.account)) {
      logger.warn({ event: 'invalidation_message_ignored', bytes: raw.length }, 'ignored a malformed invalidation message');
      return;
    }
    handlers.apply(parsed.data).catch((err: unknown) => logger.error({ event: 'invalidation_failed', err: String(err) }, 'invalidation failed'));
  });
  subscriber.on('close', () => {
    if (closing || !heard) return;
    heard = false;
    handlers.deaf();
    logger.warn({ event: 'invalidation_channel_lost' }, `lost the subscription to ${channel}; in-process copies are trusted for a second until it is back`);
  });
  // On every (re)connection: subscribe, and only once Redis confirms it count as listening. The
  // owner drops its copies then, so nothing published while the connection was down survives.
  const confirm = async () => {
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      logger.error({ event: 'invalidation_channel_unavailable', err: String(err) }, `cannot subscribe to ${channel}; HTTP invalidation still works`);
      return;
    }
    if (closing) return;
    heard = true;
    handlers.listening();
    logger.info({ event: 'invalidation_channel_listening' }, `listening on ${channel}`);
  };
  let confirming: Promise<void> | undefined;
  subscriber.on('ready', () => void (confirming = confirm()));
  try {
    // connect() resolves on 'ready', after the listener above: the first confirmation is under way.
    await subscriber.connect();
    await confirming;
  } catch (err) {
    logger.error({ event: 'invalidation_channel_unavailable', err: String(err) }, `cannot subscribe to ${channel} yet; in-process copies are trusted for a second until it works`);
  }
  const publisher = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  publisher.on('error', () => {});
  return {
    async publish(keys: string[]) {
      // At most 100 keys per message (what a receiver accepts).
      for (let i = 0; i < keys.length; i += 100) await publisher.publish(channel, JSON.stringify({ drop: keys.slice(i, i + 100) }));
    },
    async close() {
      closing = true;
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}

/**
 * Tells running replicas, from another process (the CLI), to drop their copies of `keys`. Resolves
 * to false when Redis could not take the message (they then follow within their staleness bound).
 */
export async function announceDrop(url: string, channel: string, keys: string[]): Promise<boolean> {
  const publisher = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 3000 });
  publisher.on('error', () => {});
  try {
    await publisher.connect();
    await publisher.publish(channel, JSON.stringify({ drop: keys }));
    return true;
  } catch {
    return false;
  } finally {
    publisher.disconnect();
  }
}
