import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** A single Redis, a Sentinel-managed primary, or a Cluster: ioredis speaks the same commands to each. */
export type RedisClient = Redis | Cluster;

function hosts(list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':');
    if (!host) throw new Error(`bad host in Redis URL: ${JSON.stringify(entry)}`);
    return { host, port: port ? Number(port) : 6379 };
  });
}

/**
 * Connects from one URL:
 * - `redis://[:password@]host:port[/db]` and `rediss://…` (TLS): one server;
 * - `redis-sentinel://[:password@]host:port,host:port/<master name>`: the primary Sentinel names;
 * - `redis-cluster://[:password@]host:port,host:port`: a Redis Cluster from its seed nodes.
 * The password, when given, is the data nodes' password.
 */
export function connectRedis(url: string, options: RedisOptions): RedisClient {
  const match = /^(redis-sentinel|redis-cluster):\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/]+)(?:\/(.*))?$/.exec(url);
  if (!match) return new Redis(url, options);
  const [, scheme, password, list, name] = match;
  const auth = password ? { password: decodeURIComponent(password) } : {};
  if (scheme === 'redis-sentinel') {
    if (!name) throw new Error('redis-sentinel:// URLs end with /<master name>');
    return new Redis({ ...options, ...auth, sentinels: hosts(list!), name });
  }
  const { keyPrefix, ...redisOptions } = options;
  return new Cluster(hosts(list!), {
    ...(keyPrefix ? { keyPrefix } : {}),
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    redisOptions: { ...redisOptions, ...auth },
  });
}

/** Resolves once `redis` is connected; rejects after `timeoutMs` so a dead Redis is reported, not waited on. */
export async function whenReady(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
