import { randomBytes, randomInt } from 'node:crypto';
import type { SealedUpstream } from '../authn/credential/credential-store.js';
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

/** Settings of the flow. */
export interface DeviceFlowOptions {
  /** Where grants live: durable, so a restart between approval and the CLI's next poll loses nothing. */
  store: Store;
  /** Counts starts per address and overall (anyone may start one, and each is a record in the store). */
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
 * The RFC 8628 device authorization grant, with its state in the store: codes are single-use,
 * expire, and polling faster than the interval answers `slow_down` and adds 5 s for good.
 */
export class DeviceFlow {
  private readonly now: () => number;

  constructor(private readonly options: DeviceFlowOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(request: { clientId: string; registry: string; clientIp: string }): Promise<{ deviceCode: string; userCode: string; expiresIn: number; interval: number }> {
    await this.options.limiter?.take(request.clientIp);
    const deviceCode = randomBytes(32).toString('base64url');
    const raw = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
    const userCode = `${raw.slice(0, 4)}-${raw.slice(4)}`;
    const now = this.now();
    const { expiresInSeconds: ttl, intervalSeconds: interval } = this.options;
    const grant: DeviceGrant = { ...request, userCode, status: 'pending', interval, expiresAt: now + ttl * 1000 };
    await this.options.store.put(this.deviceKey(deviceCode), JSON.stringify(grant), ttl);
    await this.options.store.put(this.userKey(raw), this.deviceKey(deviceCode), ttl);
    return { deviceCode, userCode, expiresIn: ttl, interval };
  }

  async poll(deviceCode: string, clientId: string): Promise<DevicePoll> {
    const key = this.deviceKey(deviceCode);
    const grant = await this.load(key);
    if (!grant || grant.clientId !== clientId || grant.expiresAt <= this.now()) return { kind: 'expired_token' };
    if (grant.status === 'denied') {
      await this.forget(key, grant);
      return { kind: 'access_denied' };
    }
    if (grant.status === 'approved') {
      // Single use: of two polls at once, only the one whose delete removed the grant gets the credential.
      return (await this.forget(key, grant)) ? { kind: 'approved', grant } : { kind: 'expired_token' };
    }
    // The polling pace has a record of its own: writing it into the grant could overwrite an
    // approval made between this poll's read and its write, and the code is single-use.
    const pollKey = this.pollKey(key);
    const raw = await this.options.store.get(pollKey);
    const paced = raw ? (JSON.parse(raw) as { lastPollAt: number; interval: number }) : { lastPollAt: 0, interval: grant.interval };
    const now = this.now();
    const tooSoon = now - paced.lastPollAt < paced.interval * 1000;
    const next = { lastPollAt: now, interval: tooSoon ? paced.interval + 5 : paced.interval };
    await this.options.store.put(pollKey, JSON.stringify(next), Math.max(1, Math.ceil((grant.expiresAt - now) / 1000)));
    return { kind: tooSoon ? 'slow_down' : 'authorization_pending' };
  }

  /** The pending grant a person's code names, for the approval page. */
  async lookup(typedCode: string): Promise<DeviceGrant | undefined> {
    const key = await this.options.store.get(this.userKey(normaliseUserCode(typedCode)));
    const grant = key ? await this.load(key) : undefined;
    return grant && grant.status === 'pending' && grant.expiresAt > this.now() ? grant : undefined;
  }

  /** Approves or denies the pending grant; false when the code is unknown, used or expired. */
  async decide(typedCode: string, decision: { approve: true; identity: Identity; upstream?: DeviceGrant['upstream'] } | { approve: false }): Promise<boolean> {
    const userKey = this.userKey(normaliseUserCode(typedCode));
    const key = await this.options.store.get(userKey);
    const grant = key ? await this.load(key) : undefined;
    if (!key || !grant || grant.status !== 'pending' || grant.expiresAt <= this.now()) return false;
    // The code cannot be decided twice: only the decision whose delete removed it goes on.
    if (!(await this.options.store.delete(userKey))) return false;
    grant.status = decision.approve ? 'approved' : 'denied';
    if (decision.approve) {
      grant.identity = decision.identity;
      if (decision.upstream) grant.upstream = decision.upstream;
    }
    await this.save(key, grant);
    return true;
  }

  private async load(key: string): Promise<DeviceGrant | undefined> {
    const raw = await this.options.store.get(key);
    return raw ? (JSON.parse(raw) as DeviceGrant) : undefined;
  }

  private async save(key: string, grant: DeviceGrant): Promise<void> {
    const ttl = Math.max(1, Math.ceil((grant.expiresAt - this.now()) / 1000));
    await this.options.store.put(key, JSON.stringify(grant), ttl);
  }

  /** Removes the grant and its user code; true when this call removed the grant. */
  private async forget(key: string, grant: DeviceGrant): Promise<boolean> {
    const removed = await this.options.store.delete(key);
    await this.options.store.delete(this.userKey(normaliseUserCode(grant.userCode)));
    await this.options.store.delete(this.pollKey(key));
    return removed;
  }

  private deviceKey(deviceCode: string): string {
    return `device:${keyedHash(this.options.hashKey, 'device', deviceCode)}`;
  }

  private pollKey(deviceKey: string): string {
    return `devpoll:${deviceKey.slice('device:'.length)}`;
  }

  private userKey(normalisedCode: string): string {
    return `usercode:${keyedHash(this.options.hashKey, 'user-code', normalisedCode)}`;
  }
}
