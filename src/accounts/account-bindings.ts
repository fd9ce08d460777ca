import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ROBOT_SOURCE } from '../domain/account-name.js';
import type { AccountOwner } from '../domain/identity.js';
import { Coherence, type LocalCopy } from '../cache/coherence.js';
import type { Store } from '../store/store.js';

/** Store key prefix of bindings; the account name follows (names are not secrets, and `list` needs them). */
export const BINDING_PREFIX = 'account:';

/** Most bytes the in-process memo of matching bindings may hold (some 40,000 accounts). */
const MEMO_BYTES = 8 * 1024 * 1024;

/** One account's owner and when the claim was recorded. */
export interface AccountBinding extends AccountOwner {
  readonly account: string;
  /** Milliseconds since the epoch. */
  readonly boundAt: number;
  /** Set on a robot's binding: who made it (a person's account, or `admin`). */
  readonly robot?: { readonly maker: string };
}

/** The outcome of a claim: the name is the claimant's (now or already), or another owner has it. */
export type ClaimResult = { readonly kind: 'owned' } | { readonly kind: 'conflict'; readonly owner: AccountBinding };

/** Options of the bindings. */
export interface AccountBindingsOptions {
  /** Clock for `boundAt` and the memo. Default Date.now. */
  now?: () => number;
  /**
   * How long a matching binding is trusted in process, and what drops it when another process
   * unbinds the name. Default: a second, with no invalidations heard.
   */
  coherence?: Coherence;
}

/**
 * Account name → the identity source that first used it, kept in the store so it survives
 * restarts and is shared by every replica. The first claim wins atomically (`putIfAbsent`); a
 * claim by another source (or another subject of a source that binds subjects) is a conflict.
 */
export class AccountBindings implements LocalCopy {
  private readonly clock: () => number;
  /**
   * Account → owner key of a binding seen to match, as long as the coherence trusts it. Only
   * matches are remembered. A token request for a proven credential must not pay a store round
   * trip; an `unbind` elsewhere reaches it through the invalidation channel.
   */
  private readonly memo: LRUCache<string, string>;
  private readonly coherence: Coherence;

  constructor(
    private readonly store: Store,
    options: AccountBindingsOptions = {},
  ) {
    this.clock = options.now ?? Date.now;
    const now = options.now;
    this.memo = new LRUCache<string, string>({
      // Bounded by bytes, not a count: a fleet of 20,000 accounts must fit, or every request
      // past the count would go to the store again.
      maxSize: MEMO_BYTES,
      sizeCalculation: (owner, account) => 2 * (owner.length + account.length) + 64,
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
    });
    this.coherence = options.coherence ?? new Coherence({ maxStalenessMs: 1000 });
    this.coherence.attach(this);
  }

  /**
   * Claims `account` for `owner`, or reports who owns it. With `bind: false` (an owner inferred for
   * a record made before bindings existed) a name nobody holds is admitted but not bound: only a
   * fresh sign-in may bind it. Throws TemporarilyUnavailableError when the store cannot answer.
   */
  async claim(account: string, owner: AccountOwner, options: { bind?: boolean } = {}): Promise<ClaimResult> {
    const key = ownerKey(owner);
    if (this.memo.get(account) === key) return { kind: 'owned' };
    const epoch = this.coherence.epoch;
    // A name already bound costs a read, not a write: only a first claim writes.
    const bound = await this.store.get(BINDING_PREFIX + account);
    if (bound === undefined && options.bind === false) return { kind: 'owned' };
    const value = bound ?? (await this.store.putIfAbsent(BINDING_PREFIX + account, JSON.stringify(this.record(account, owner)))).value;
    const current = parseBinding(account, value);
    if (!current || ownerKey(current) !== key) {
      return { kind: 'conflict', owner: current ?? { account, source: 'unreadable binding', boundAt: 0 } };
    }
    const ttl = this.coherence.trustMs();
    // Not kept when an unbind was heard while reading: the name may be someone else's now.
    if (epoch === this.coherence.epoch && ttl >= 1) this.memo.set(account, key, { ttl });
    return { kind: 'owned' };
  }

  /**
   * Binds a new robot account to the robot source, recording its maker; the owner its credentials
   * must carry, or undefined when the name is taken. The owner's subject is new for every robot
   * (`maker:random`), so a credential of a robot since deleted never stands for a robot made again
   * under its name, even by the same maker.
   */
  async claimRobot(account: string, maker: string): Promise<AccountOwner | undefined> {
    const owner = { source: ROBOT_SOURCE, subject: `${maker}:${randomBytes(6).toString('hex')}` };
    const record: AccountBinding = { account, ...owner, boundAt: this.clock(), robot: { maker } };
    return (await this.store.putIfAbsent(BINDING_PREFIX + account, JSON.stringify(record))).created ? owner : undefined;
  }

  /**
   * Whether `account` is bound to `owner` right now, binding nothing (a robot's maker must still
   * hold their name: a freed name is not taken back for them). Matches are remembered as `claim`'s.
   */
  async holds(account: string, owner: AccountOwner): Promise<boolean> {
    const key = ownerKey(owner);
    if (this.memo.get(account) === key) return true;
    const epoch = this.coherence.epoch;
    const bound = await this.get(account);
    if (!bound || ownerKey(bound) !== key) return false;
    const ttl = this.coherence.trustMs();
    if (epoch === this.coherence.epoch && ttl >= 1) this.memo.set(account, key, { ttl });
    return true;
  }

  /** Part of LocalCopy: another process unbound these names (keys are `account:<name>`). */
  forget(keys: readonly string[]): void {
    for (const key of keys) if (key.startsWith(BINDING_PREFIX)) this.memo.delete(key.slice(BINDING_PREFIX.length));
  }

  forgetAll(): void {
    this.memo.clear();
  }

  private record(account: string, owner: AccountOwner): AccountBinding {
    return { account, source: owner.source, ...(owner.subject !== undefined ? { subject: owner.subject } : {}), boundAt: this.clock() };
  }

  /** The binding of `account`, if any. */
  async get(account: string): Promise<AccountBinding | undefined> {
    const value = await this.store.get(BINDING_PREFIX + account);
    return value === undefined ? undefined : parseBinding(account, value);
  }

  /** Every binding, in account order (at most `limit`). */
  async list(limit = 10_000): Promise<AccountBinding[]> {
    const entries = await this.store.list(BINDING_PREFIX, limit);
    return entries.flatMap(({ key, value }) => parseBinding(key.slice(BINDING_PREFIX.length), value) ?? []);
  }

  /** Frees `account` for the next source that uses it; true when it was bound. */
  async unbind(account: string): Promise<boolean> {
    const removed = await this.store.delete(BINDING_PREFIX + account);
    this.coherence.forget([BINDING_PREFIX + account]);
    return removed;
  }
}

/** Owners compare by source and, where the source binds subjects, subject (in process only; runs per request). */
function ownerKey(owner: AccountOwner): string {
  return owner.subject === undefined ? `${owner.source}\0-` : `${owner.source}\0=${owner.subject}`;
}

function parseBinding(account: string, value: string): AccountBinding | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<AccountBinding>;
    if (typeof parsed.source !== 'string') return undefined;
    const robot = typeof parsed.robot?.maker === 'string' ? { robot: { maker: parsed.robot.maker } } : {};
    return { account, source: parsed.source, ...(typeof parsed.subject === 'string' ? { subject: parsed.subject } : {}), boundAt: typeof parsed.boundAt === 'number' ? parsed.boundAt : 0, ...robot };
  } catch {
    return undefined;
  }
}

/** The maker recorded for a robot an administrator made. */
export const ADMIN_MAKER = 'admin';

/**
 * Whether the person signed in as `account` made the robot bound as `binding`. `admin` is also a
 * name a person may hold: such a person is never the maker of an administrator's robots (they
 * would list, delete and rotate them, and take their rights).
 */
export function madeBy(binding: AccountBinding | undefined, account: string): boolean {
  return binding?.robot !== undefined && binding.robot.maker !== ADMIN_MAKER && binding.robot.maker === account;
}
