import { Cluster, type Redis } from 'ioredis';
import { connectRedis, whenReady, type RedisClient } from '../cache/redis-connection.js';
import { TemporarilyUnavailableError } from '../domain/errors.js';
import type { Store, StoreHealth } from './store.js';
import { WriteRefusals } from './write-refusals.js';

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** `redis://`, `rediss://`, `redis-sentinel://` or `redis-cluster://` URL (see connectRedis). */
  url: string;
  /** Prefix of every key. Default `wharf:`. */
  keyPrefix?: string;
  /** Per-command timeout in ms; a hung Redis answers 503 instead of hanging a request. Default 1000. */
  commandTimeoutMs?: number;
  /** Clock in ms (when a refusal began). */
  now?: () => number;
}

/** The key `health()` writes to learn whether Redis accepts writes (a few bytes, gone after 10 s). */
const PROBE_KEY = 'health:write-probe';

/** What `list` scans per round trip. */
const SCAN_COUNT = 500;

/** A TTL as Redis takes it: whole milliseconds, at least one (0 or a fraction is an error there). */
const ms = (ttlSeconds: number) => Math.max(1, Math.ceil(ttlSeconds * 1000));

/** Escapes the glob characters of SCAN's MATCH, so a prefix matches only itself. */
function literalGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * The store on Redis, shared by every replica. There is no in-process fallback: a write Redis did
 * not acknowledge throws `TemporarilyUnavailableError` (a 503 that changed nothing here), because a
 * revocation kept only in one process's memory would revert when Redis comes back.
 *
 * Redis keeps these records only if it is told to: `appendonly yes` (a snapshot loses what was
 * written since it, revocations included) and `maxmemory-policy noeviction` (any other policy may
 * drop a credential or a generation under memory pressure). `health()` checks both.
 */
export class RedisStore implements Store {
  private readonly redis: RedisClient;
  private readonly keyPrefix: string;
  /** Whether the last write went through; a full, read-only or failing Redis still answers PING. */
  private readonly writes: WriteRefusals;

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? 'wharf:';
    this.writes = new WriteRefusals(options.now);
    this.redis = connectRedis(options.url, {
      keyPrefix: this.keyPrefix,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // Fail fast while disconnected: a queued write would be acknowledged to nobody.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      enableAutoPipelining: true,
    });
    // ioredis emits 'error' on every failed reconnect; callers see the failed command, readiness the rest.
    this.redis.on('error', () => {});
  }

  /** Resolves once connected; rejects after `timeoutMs`. */
  async ready(timeoutMs = 5000): Promise<void> {
    await whenReady(this.redis, timeoutMs);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.run(() => this.redis.get(key))) ?? undefined;
  }

  async put(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.write(() => (ttlSeconds === undefined ? this.redis.set(key, value) : this.redis.set(key, value, 'PX', ms(ttlSeconds))));
  }

  async putIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<{ created: boolean; value: string }> {
    return this.write(async () => {
      // SET NX and GET are two commands; a claim that expires between them is claimed again.
      for (;;) {
        const set = ttlSeconds === undefined ? await this.redis.set(key, value, 'NX') : await this.redis.set(key, value, 'PX', ms(ttlSeconds), 'NX');
        if (set === 'OK') return { created: true, value };
        const existing = await this.redis.get(key);
        if (existing !== null) return { created: false, value: existing };
      }
    });
  }

  async delete(key: string): Promise<boolean> {
    return (await this.write(() => this.redis.del(key))) > 0;
  }

  async increment(key: string, ttlSeconds?: number): Promise<number> {
    if (ttlSeconds === undefined) return this.write(() => this.redis.incr(key));
    return this.write(async () => {
      // One transaction: the SET creates the counter with its expiry only when it is absent, so
      // later increments keep the window's end (INCR alone keeps an existing TTL).
      const replies = await this.redis.multi().set(key, '0', 'PX', ms(ttlSeconds), 'NX').incr(key).exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error('the counter transaction was discarded');
      return Number(replies[1]![1]);
    });
  }

  async list(prefix: string, limit = 1000): Promise<Array<{ key: string; value: string }>> {
    return this.run(async () => {
      // SCAN sees raw keys (ioredis adds the prefix to commands, not to MATCH patterns or replies).
      const match = `${literalGlob(this.keyPrefix + prefix)}*`;
      const nodes: Redis[] = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
      const keys = new Set<string>();
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
          for (const raw of batch) keys.add(raw.slice(this.keyPrefix.length));
          cursor = next;
        } while (cursor !== '0');
      }
      const sorted = [...keys].sort();
      // Read at once (auto-pipelined), not one round trip after another.
      const values = await Promise.all(sorted.map((key) => this.redis.get(key)));
      // A key that expired since the scan is simply left out.
      return sorted.flatMap((key, i) => (values[i] === null ? [] : [{ key, value: values[i]! }])).slice(0, limit);
    });
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.redis.ping();
    } catch {
      return { ok: false, warnings: [] };
    }
    // Redis out of memory under noeviction, a replica, a failing disk: it answers PING and
    // every read, and refuses every write. A probe finds out even while nobody writes.
    const refused = await this.writes.current(() => this.put(PROBE_KEY, '1', 10), true);
    return { ok: true, warnings: await this.risks(), ...(refused ? { refusesWrites: refused } : {}) };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  /**
   * What could make Redis lose a record: no append-only file, or an eviction policy. Asked with
   * CONFIG GET; where CONFIG is refused (managed Redis), with INFO; where both are, said so.
   */
  private async risks(): Promise<string[]> {
    let aof: string | undefined;
    let policy: string | undefined;
    try {
      aof = ((await this.redis.config('GET', 'appendonly')) as string[])[1];
      policy = ((await this.redis.config('GET', 'maxmemory-policy')) as string[])[1];
    } catch {
      try {
        const info = `${await this.redis.info('persistence')}\n${await this.redis.info('memory')}`;
        const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
        const enabled = field('aof_enabled');
        aof = enabled === undefined ? undefined : enabled === '1' ? 'yes' : 'no';
        policy = field('maxmemory_policy');
      } catch {
        // Neither command is allowed: reported below as unchecked.
      }
    }
    if (aof === undefined || policy === undefined) {
      return ['Redis persistence and eviction policy could not be checked (CONFIG and INFO refused); make sure appendonly is yes and maxmemory-policy is noeviction'];
    }
    const warnings: string[] = [];
    if (aof !== 'yes') warnings.push('Redis appendonly is off: a Redis restart loses records written since its last snapshot, revocations included');
    if (policy !== 'noeviction') warnings.push(`Redis maxmemory-policy is ${policy}, not noeviction: Redis may evict credentials, sessions and generations under memory pressure`);
    return warnings;
  }

  /** Runs a write command as `run` does, remembering whether Redis took it (health). */
  private async write<T>(command: () => Promise<T>): Promise<T> {
    try {
      const result = await this.run(command);
      this.writes.succeeded();
      return result;
    } catch (err) {
      this.writes.failed(err);
      throw err;
    }
  }

  /** Runs a command; a failure (down, timed out, out of memory) is a 503 that changed nothing here. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      throw new TemporarilyUnavailableError('the state store is unavailable; try again shortly', { cause: err });
    }
  }
}
