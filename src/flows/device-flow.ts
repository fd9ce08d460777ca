import { randomBytes, randomInt } from 'node:crypto';
import type { SealedUpstream } from '../credentials/registry/credential-store.js';
import type { Cache } from '../cache/cache.js';
import { MemoryCache } from '../cache/memory-cache.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import type { Identity } from '../domain/identity.js';
import type { Store } from '../store/store.js';
import type { StartLimiter } from './start-limiter.js';

/** RFC 8628 §6.1: consonants only, so codes spell no words, with no look-alike pairs. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** A device authorization between `/device/code` and its last poll. */
export interface DeviceGrant {
  userCode: string;
  clientId: string;
  /** The registry the CLI wants a credential for, as it said. */
  registry: string;
  /** Address the CLI asked from, shown on the approval page. */
  clientIp: string;
  status: 'pending' | 'approved' | 'denied';
  identity?: Identity;
  /** The approving session's sealed provider tokens, for credential re-checks. */
  upstream?: SealedUpstream;
  /** The polling interval given at the start, in seconds (slow_down adds to it in the poll record). */
  interval: number;
  expiresAt: number;
}

/** What a poll yields. */
export type DevicePoll =
  | { kind: 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied' }
  | { kind: 'approved'; grant: DeviceGrant };

/** Most pending device logins held in process when no shared cache is given (about 400 bytes each). */
const PENDING_DEVICE_LOGINS_IN_PROCESS = 10_000;

/** Settings of the flow. */
export interface DeviceFlowOptions {
  /** Where decided grants live: durable, so a restart between approval and the CLI's next poll loses nothing. */
  store: Store;
  /**
   * Where pending grants and their polling pace live until a signed-in person decides: evictable
   * (losing one only makes the CLI start again), shared by replicas when it is Redis. Default: an
   * in-process LRU of its own (10,000 grants).
   */
  pending?: Cache | undefined;
  /** Counts starts per address and overall (anyone may start one, and each is a pending record). */
  limiter?: StartLimiter | undefined;
  hashKey: Buffer;
  expiresInSeconds: number;
  intervalSeconds: number;
  now?: () => number;
}

/** Normalises what a person typed: case-insensitive, separators and spaces ignored. */
export function normaliseUserCode(typed: string): string {
  return typed.toUpperCase().replace(/[^A-Z]/g, '');
}

/**
 * The RFC 8628 device authorization grant. A start proves nothing, so what it writes is an
 * evictable pending record (the cache, or an in-process LRU of its own), never the store: a flood
 * of starts from many addresses wrote two store records each and filled the store's Redis. Only a
 * signed-in person's decision is recorded in the store, once (`putIfAbsent`), and handed to one
 * poll (the code is single-use). Polling faster than the interval answers `slow_down` and adds 5 s
 * for good.
 */
export class DeviceFlow {
  private readonly now: () => number;
  private readonly pending: Cache;

  constructor(private readonly options: DeviceFlowOptions) {
    this.now = options.now ?? Date.now;
    this.pending = options.pending ?? new MemoryCache({ maxEntries: PENDING_DEVICE_LOGINS_IN_PROCESS, now: this.now });
  }

  async start(request: { clientId: string; registry: string; clientIp: string }): Promise<{ deviceCode: string; userCode: string; expiresIn: number; interval: number }> {
    await this.options.limiter?.take(request.clientIp);
    const deviceCode = randomBytes(32).toString('base64url');
    const raw = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
    const userCode = `${raw.slice(0, 4)}-${raw.slice(4)}`;
    const now = this.now();
    const { expiresInSeconds: ttl, intervalSeconds: interval } = this.options;
    const grant: DeviceGrant = { ...request, userCode, status: 'pending', interval, expiresAt: now + ttl * 1000 };
    const key = this.deviceKey(deviceCode);
    await this.pending.set(this.pendingKey(key), JSON.stringify(grant), ttl);
    await this.pending.set(this.userKey(raw), key, ttl);
    return { deviceCode, userCode, expiresIn: ttl, interval };
  }

  async poll(deviceCode: string, clientId: string): Promise<DevicePoll> {
    const key = this.deviceKey(deviceCode);
    const decided = await this.load(this.options.store, key);
    if (decided) {
      if (decided.clientId !== clientId || decided.expiresAt <= this.now()) return { kind: 'expired_token' };
      // Single use: of two polls at once, only the one whose delete removed the grant gets it.
      const removed = await this.options.store.delete(key);
      if (!removed) return { kind: 'expired_token' };
      await this.forgetPending(key, decided);
      return decided.status === 'approved' ? { kind: 'approved', grant: decided } : { kind: 'access_denied' };
    }
    const grant = await this.load(this.pending, this.pendingKey(key));
    if (!grant || grant.clientId !== clientId || grant.expiresAt <= this.now()) return { kind: 'expired_token' };
    // The polling pace has a record of its own, beside the pending grant (evictable too: losing
    // it only forgets one slow_down).
    const pollKey = this.pollKey(key);
    const raw = await this.pending.get(pollKey);
    const paced = raw ? (JSON.parse(raw) as { lastPollAt: number; interval: number }) : { lastPollAt: 0, interval: grant.interval };
    const now = this.now();
    const tooSoon = now - paced.lastPollAt < paced.interval * 1000;
    const next = { lastPollAt: now, interval: tooSoon ? paced.interval + 5 : paced.interval };
    await this.pending.set(pollKey, JSON.stringify(next), this.secondsLeft(grant));
    return { kind: tooSoon ? 'slow_down' : 'authorization_pending' };
  }

  /** The pending grant a person's code names, for the approval page. */
  async lookup(typedCode: string): Promise<DeviceGrant | undefined> {
    const found = await this.pendingByUserCode(typedCode);
    return found && !(await this.options.store.get(found.key)) ? found.grant : undefined;
  }

  /** Approves or denies the pending grant; false when the code is unknown, used or expired. */
  async decide(typedCode: string, decision: { approve: true; identity: Identity; upstream?: DeviceGrant['upstream'] } | { approve: false }): Promise<boolean> {
    const found = await this.pendingByUserCode(typedCode);
    if (!found) return false;
    const { key, grant } = found;
    grant.status = decision.approve ? 'approved' : 'denied';
    if (decision.approve) {
      grant.identity = decision.identity;
      if (decision.upstream) grant.upstream = decision.upstream;
    }
    // The code cannot be decided twice: only the decision that created the record goes on.
    const { created } = await this.options.store.putIfAbsent(key, JSON.stringify(grant), this.secondsLeft(grant));
    if (created) await this.pending.delete(this.userKey(normaliseUserCode(grant.userCode)));
    return created;
  }

  private async pendingByUserCode(typedCode: string): Promise<{ key: string; grant: DeviceGrant } | undefined> {
    const key = await this.pending.get(this.userKey(normaliseUserCode(typedCode)));
    const grant = key ? await this.load(this.pending, this.pendingKey(key)) : undefined;
    return key && grant && grant.status === 'pending' && grant.expiresAt > this.now() ? { key, grant } : undefined;
  }

  private async load(from: Cache | Store, key: string): Promise<DeviceGrant | undefined> {
    const raw = await from.get(key);
    return raw ? (JSON.parse(raw) as DeviceGrant) : undefined;
  }

  private secondsLeft(grant: DeviceGrant): number {
    return Math.max(1, Math.ceil((grant.expiresAt - this.now()) / 1000));
  }

  /** Removes the pending grant, its user code and its pace (best effort: they expire anyway). */
  private async forgetPending(key: string, grant: DeviceGrant): Promise<void> {
    await Promise.all([this.pending.delete(this.pendingKey(key)), this.pending.delete(this.userKey(normaliseUserCode(grant.userCode))), this.pending.delete(this.pollKey(key))]).catch(() => undefined);
  }

  private deviceKey(deviceCode: string): string {
    return `device:${keyedHash(this.options.hashKey, 'device', deviceCode)}`;
  }

  private pendingKey(deviceKey: string): string {
    return `devpending:${deviceKey.slice('device:'.length)}`;
  }

  private pollKey(deviceKey: string): string {
    return `devpoll:${deviceKey.slice('device:'.length)}`;
  }

  private userKey(normalisedCode: string): string {
    return `usercode:${keyedHash(this.options.hashKey, 'user-code', normalisedCode)}`;
  }
}
