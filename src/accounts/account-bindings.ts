import { createHash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ROBOT_SOURCE } from '../domain/account-name.js';
import { ownerOf, type AccountOwner, type Identity } from '../domain/identity.js';
import { Coherence, type LocalCopy } from '../cache/coherence.js';
import type { Store } from '../store/store.js';

/** Store key prefix of bindings; the account name follows (names are not secrets, and `list` needs them). */
export const BINDING_PREFIX = 'account:';

/**
 * Store key prefix of what each person's identity source last proved (their groups), apart from
 * the binding: the store has no compare-and-set, and rewriting the binding itself could put back a
 * name unbound (and claimed by another source) between the read and the write.
 */
export const PROVEN_PREFIX = 'account-proven:';

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
  /** The groups the ACL reads from an identity (the backend registries'); what a proof is compared by. Default: none. */
  groupsOf?: (identity: Identity) => readonly string[];
}

/**
 * A person as their identity source last proved them (a login, a re-check with the provider), kept
 * for decisions made in their name without a proof of theirs at hand: their robots'.
 */
export interface ProvenIdentity {
  readonly identity: Identity;
  /** When the source first proved it so (milliseconds since the epoch): it is rewritten only when its groups change. */
  readonly since: number;
}

/** A memo entry of proofs: the owner it was read for, and the proof (none recorded: undefined). */
interface ProvenMemo {
  readonly owner: string;
  readonly fingerprint: string | undefined;
  readonly proven: ProvenIdentity | undefined;
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
  /** Account → the last proof read or written, under the same coherence as `memo`: a robot's token request reads its maker's. */
  private readonly provenMemo: LRUCache<string, ProvenMemo>;
  private readonly groupsOf: (identity: Identity) => readonly string[];

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
    this.provenMemo = new LRUCache<string, ProvenMemo>({
      maxSize: MEMO_BYTES,
      sizeCalculation: (entry, account) => 2 * (entry.owner.length + account.length) + (entry.proven ? JSON.stringify(entry.proven.identity).length * 2 : 0) + 128,
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
    });
    this.groupsOf = options.groupsOf ?? (() => []);
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

  /**
   * Records `identity` as its source proved it just now (a login or a re-check upstream, never a
   * copy Wharf kept: that is older and would undo a newer proof), for an account `claim` just found
   * to be its owner's. Written only when its groups (and provider) differ from the last proof's, so
   * steady traffic writes nothing. Throws TemporarilyUnavailableError when a change cannot be
   * recorded: a robot would otherwise keep a group its maker lost.
   */
  async noteProven(identity: Identity): Promise<void> {
    const { account } = identity;
    const owner = ownerKey(ownerOf(identity));
    const fingerprint = this.fingerprint(identity);
    const known = await this.provenEntry(account, owner);
    if (known.fingerprint === fingerprint) return;
    const epoch = this.coherence.epoch;
    const { credentialId: _copy, ...attributes } = identity.attributes;
    const proven: ProvenIdentity = { identity: { ...identity, attributes, owner: ownerOf(identity) }, since: this.clock() };
    await this.store.put(PROVEN_PREFIX + account, JSON.stringify({ owner, fingerprint, ...proven }));
    this.remember(account, { owner, fingerprint, proven }, epoch);
  }

  /** What the source of `owner` last proved about the person holding `account`; undefined when nothing was recorded for that owner. */
  async proven(account: string, owner: AccountOwner): Promise<ProvenIdentity | undefined> {
    return (await this.provenEntry(account, ownerKey(owner))).proven;
  }

  /**
   * The person who made a robot as their source last proved them (`since`: when), or `maker` itself
   * (`since` undefined) when nothing was proved since; undefined when they no longer hold their
   * account. What AccountGate.makerNow and explanations decide a robot's requests as.
   */
  async currentMaker(maker: Identity): Promise<{ identity: Identity; since: number | undefined } | undefined> {
    const owner = ownerOf(maker);
    const [held, proven] = await Promise.all([this.holds(maker.account, owner), this.proven(maker.account, owner)]);
    if (!held) return undefined;
    return proven ? { identity: proven.identity, since: proven.since } : { identity: maker, since: undefined };
  }

  /** The groups the ACL reads from `identity` (the registries' reader these bindings were given). */
  groupsIn(identity: Identity): readonly string[] {
    return this.groupsOf(identity);
  }

  private async provenEntry(account: string, owner: string): Promise<ProvenMemo> {
    const memo = this.provenMemo.get(account);
    if (memo?.owner === owner) return memo;
    const epoch = this.coherence.epoch;
    const entry = parseProven(owner, await this.store.get(PROVEN_PREFIX + account));
    this.remember(account, entry, epoch);
    return entry;
  }

  /** Kept as the bindings memo is: not when a forget was heard meanwhile. */
  private remember(account: string, entry: ProvenMemo, epoch: number): void {
    const ttl = this.coherence.trustMs();
    if (epoch === this.coherence.epoch && ttl >= 1) this.provenMemo.set(account, entry, { ttl });
  }

  /**
   * What a proof is compared by: the provider and the groups the ACL reads, not volatile attributes
   * (an ID token's expiry). A plain digest: it guards no secret (the groups are stored beside it),
   * it keeps the memo small.
   */
  private fingerprint(identity: Identity): string {
    const groups = [...new Set(this.groupsOf(identity))].sort();
    return createHash('sha256').update(JSON.stringify([identity.provider, groups])).digest('base64url');
  }

  /** Part of LocalCopy: another process unbound these names (keys are `account:<name>`). */
  forget(keys: readonly string[]): void {
    for (const key of keys) {
      if (!key.startsWith(BINDING_PREFIX)) continue;
      this.memo.delete(key.slice(BINDING_PREFIX.length));
      this.provenMemo.delete(key.slice(BINDING_PREFIX.length));
    }
  }

  forgetAll(): void {
    this.memo.clear();
    this.provenMemo.clear();
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
    // What the person's source proved goes with the name (first: a failure then changes nothing).
    await this.store.delete(PROVEN_PREFIX + account);
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

/** A stored proof, for the owner it was read for (another owner's proof is none of theirs). */
function parseProven(owner: string, value: string | undefined): ProvenMemo {
  const none = { owner, fingerprint: undefined, proven: undefined };
  if (value === undefined) return none;
  try {
    const parsed = JSON.parse(value) as { owner?: unknown; fingerprint?: unknown; identity?: Identity; since?: unknown };
    if (parsed.owner !== owner || typeof parsed.fingerprint !== 'string' || typeof parsed.identity?.account !== 'string' || typeof parsed.identity.provider !== 'string') return none;
    const { identity } = parsed;
    return { owner, fingerprint: parsed.fingerprint, proven: { identity: { ...identity, attributes: identity.attributes ?? {} }, since: typeof parsed.since === 'number' ? parsed.since : 0 } };
  } catch {
    return none;
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
