import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging.js';
import { subscribeInvalidations, announceDrop, type InvalidationChannel } from '../../src/invalidation/redis-channel.js';
import { Coherence } from '../../src/cache/coherence.js';
import { waitUntil } from '../support/processes.js';
import { startRedis } from '../support/redis.js';

let redis: Awaited<ReturnType<typeof startRedis>>;
let admin: Redis;
const channels: InvalidationChannel[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close()));
  admin?.disconnect();
  await redis?.stop();
});

/** A replica's channel with a coherence, recording what it was told, in order. */
async function replica(name: string) {
  const events: string[] = [];
  const coherence = new Coherence({ maxStalenessMs: 300_000 });
  coherence.attach({ forget: (keys) => events.push(`forget ${keys.join(',')}`), forgetAll: () => events.push('forget all') });
  const channel = await subscribeInvalidations(
    redis.url,
    `${name}:invalidate`,
    {
      apply: async (request) => void events.push(`apply ${JSON.stringify(request)}`),
      dropLocal: (keys) => coherence.forget(keys),
      listening: () => (events.push('listening'), coherence.listeningFromNow()),
      deaf: () => (events.push('deaf'), coherence.deaf()),
    },
    createLogger('silent'),
  );
  channels.push(channel);
  return { events, coherence, channel };
}

describe('the Redis invalidation channel', () => {
  it('is listening once started, and hears other replicas, platforms and the CLI', async () => {
    const a = await replica('one');
    const b = await replica('one');
    expect(a.coherence.subscribed).toBe(true);
    expect(a.events).toEqual(['listening', 'forget all']);
    await a.channel.publish(['intro:x', 'generation:y']);
    await admin.publish('one:invalidate', JSON.stringify({ account: 'alice' }));
    expect(await announceDrop(redis.url, 'one:invalidate', ['account:bob'])).toBe(true);
    await waitUntil('b heard all three', async () => (b.events.length >= 5 ? true : undefined), { timeoutMs: 2000, intervalMs: 10 });
    expect(b.events.slice(2)).toEqual(['forget intro:x,generation:y', 'apply {"account":"alice"}', 'forget account:bob']);
  });

  it('drops every copy when its connection is lost and again once the subscription is back, with no gap after it', async () => {
    const r = await replica('two');
    r.events.length = 0;
    // Keep the subscriber from reconnecting for a while: what is published meanwhile is lost.
    const connected = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    const subscribers = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string).trim().split('\n').length;
    await admin.config('SET', 'maxclients', String(connected - subscribers));
    try {
      await admin.client('KILL', 'TYPE', 'pubsub');
      await waitUntil('the replica knows it is deaf', async () => (r.events.includes('deaf') ? true : undefined), { timeoutMs: 2000, intervalMs: 5 });
      expect(r.coherence.subscribed).toBe(false);
      expect(r.coherence.trustMs()).toBe(1000);
      await admin.publish('two:invalidate', JSON.stringify({ drop: ['authz:missed'] }));
    } finally {
      await admin.config('SET', 'maxclients', '10000');
    }
    await waitUntil('the subscription is back', async () => (r.coherence.subscribed ? true : undefined), { timeoutMs: 10_000, intervalMs: 10 });
    // Lost, then back: both drop everything (the missed message is not replayed, its effect is had).
    expect(r.events).toEqual(['deaf', 'forget all', 'listening', 'forget all']);
    expect(r.coherence.trustMs()).toBe(300_000);
    // Once it counts as listening, a message published at once is heard.
    await admin.publish('two:invalidate', JSON.stringify({ drop: ['authz:after'] }));
    await waitUntil('heard', async () => (r.events.includes('forget authz:after') ? true : undefined), { timeoutMs: 2000, intervalMs: 5 });
  });

  it('ignores malformed messages', async () => {
    const r = await replica('three');
    r.events.length = 0;
    await admin.publish('three:invalidate', 'not json');
    await admin.publish('three:invalidate', JSON.stringify({ drop: 'x' }));
    await admin.publish('three:invalidate', JSON.stringify({ drop: ['ok'] }));
    await waitUntil('the good one', async () => (r.events.length > 0 ? true : undefined), { timeoutMs: 2000, intervalMs: 5 });
    expect(r.events).toEqual(['forget ok']);
  });
});
