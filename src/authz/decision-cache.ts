import type { Logger } from 'pino';
import { z } from 'zod';
import { NOT_HELD, type Cache } from '../cache/cache.js';
import { storedKeyedHash } from '../crypto/keyed-hash.js';
import type { Identity } from '../domain/identity.js';
import type { Scope } from '../domain/scope.js';
import type { AuthorizationRequest } from './authorizer.js';

/** What a cached decision holds: the grant on exactly the requested action set, and why. */
export const cachedDecisionSchema = z.strictObject({ granted: z.array(z.string()), reason: z.string() });
export type CachedDecision = z.infer<typeof cachedDecisionSchema>;

/**
 * Who was decided, as part of a decision's cache key: the provider, the subject and the
 * attributes exactly as the decider is shown them. A decider may answer differently for two jobs
 * of one account (a push from `refs/heads/main`, a pull request's pull), so a decision is reused
 * only for the same identity with the same attributes. Undefined when the attributes cannot be
 * serialised (nothing is then cached, and the decider is not asked either).
 */
export function decidedIdentity(identity: Identity | undefined): string | undefined {
  if (identity === undefined) return 'null';
  // Identities are immutable, and one proof stands behind a client's requests for a second
  // (RecentProofs): each is serialised once, not once per request.
  const known = serialisedIdentities.get(identity);
  if (known !== undefined) return known === UNSERIALISABLE ? undefined : known;
  let serialised: string | typeof UNSERIALISABLE;
  try {
    // One JSON array: no provider or subject text can shift the boundary between the parts.
    serialised = JSON.stringify([identity.provider, identity.subject, identity.attributes]);
  } catch {
    serialised = UNSERIALISABLE;
  }
  serialisedIdentities.set(identity, serialised);
  return serialised === UNSERIALISABLE ? undefined : serialised;
}

const UNSERIALISABLE = Symbol('unserialisable');
const serialisedIdentities = new WeakMap<Identity, string | typeof UNSERIALISABLE>();

/**
 * What every decision's cache key starts with. Every token request reads such keys, and each is
 * written once and dropped by deletion, so the composition root names this prefix hot: kept in
 * the in-process first tier over Redis.
 */
export const DECISION_KEY_PREFIX = 'authz:';

/** Stored decisions up to this length are parsed once per process (a decider's reasons are short). */
const MAX_REMEMBERED_LENGTH = 512;
const MAX_REMEMBERED_DECISIONS = 1024;

/** Dependencies of the decision cache. */
export interface DecisionCacheDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** A per-account generation that is part of every key: bumping it orphans the account's entries. Default `0`. */
  generation?: ((account: string) => string | Promise<string>) | undefined;
}

/**
 * The decisions of a RemoteAuthorizer's decider (webhook, SAGE, command): keys are keyed
 * hashes of everything a decision depends on plus the account's generation, and a cache that
 * misbehaves never blocks a decision (it is then treated as empty, and logged).
 */
export class DecisionCache {
  private readonly generation: (account: string) => string | Promise<string>;
  /** Decisions already parsed, by their stored text; emptied when full, so distinct texts cannot grow it. */
  private readonly parsed = new Map<string, CachedDecision>();
  /** Names a decision: keyed by the hash key and by this cache's namespace and endpoint. */
  private readonly name: (text: string) => string;

  constructor(
    private readonly deps: DecisionCacheDeps,
    /** Separates the authorizers' entries, e.g. `authz-webhook`. */
    namespace: string,
    /** Where decisions come from (URL or command), so two endpoints never share entries. */
    endpoint: string,
    /** How log lines name the decider: `authorization webhook`. */
    private readonly what: string,
  ) {
    this.generation = deps.generation ?? (() => '0');
    this.name = storedKeyedHash(deps.hashKey, `decision\0${namespace}\0${endpoint}`);
  }

  /**
   * The account's generation, or undefined (cache bypassed) when it cannot be read. As is when
   * the generations hold it in process (every busy account's case): no promise of its own.
   */
  generationOf(account: string): string | undefined | Promise<string | undefined> {
    try {
      const generation = this.generation(account);
      // The handler is made only for a promise: a closure made on every call was a request's garbage.
      return typeof generation === 'string' ? generation : generation.catch((err: unknown) => this.generationUnreadable(err));
    } catch (err) {
      return this.generationUnreadable(err);
    }
  }

  private generationUnreadable(err: unknown): undefined {
    this.deps.logger.warn({ event: 'authz_cache_error', err: (err as Error).message }, `cannot read the account generation; asking the ${this.what} without the cache`);
    return undefined;
  }

  /**
   * The key of one scope's decision; `identity` is the request's decidedIdentity(). The parts are
   * joined by NUL, which none of them can hold (names and accounts refuse control characters, and
   * the identity is JSON); the actions are sorted, so `push,pull` and `pull,push` share a decision.
   */
  key(request: AuthorizationRequest, account: string, generation: string, identity: string, scope: Scope): string {
    const actions = scope.actions.length === 1 ? scope.actions[0]! : [...scope.actions].sort().join(',');
    return `${DECISION_KEY_PREFIX}${this.name(`${generation}\0${request.service}\0${account}\0${identity}\0${scope.type}\0${scope.class ?? ''}\0${scope.name}\0${actions}`)}`;
  }

  /** The decision under `key`, undefined when there is none or it cannot be read (logged). */
  async read(key: string): Promise<CachedDecision | undefined> {
    try {
      const raw = await this.deps.cache.get(key);
      return raw === undefined ? undefined : this.decoded(raw);
    } catch (err) {
      return this.unreadable(err);
    }
  }

  /**
   * The decision as this process holds it (the cache's `peek`), read with no promise: every token
   * request reads one so. `NOT_HELD` when only `read` can tell; then nothing was counted, and the
   * caller reads it.
   */
  held(key: string): CachedDecision | undefined | typeof NOT_HELD {
    const cache = this.deps.cache;
    if (cache.peek === undefined) return NOT_HELD;
    try {
      const raw = cache.peek(key);
      return raw === undefined || raw === NOT_HELD ? raw : this.decoded(raw);
    } catch (err) {
      return this.unreadable(err);
    }
  }

  /** A stored decision's text, parsed and checked; undefined when it is not a decision. Throws on bad JSON. */
  private decoded(raw: string): CachedDecision | undefined {
    // A fleet's decisions are a handful of distinct texts over many keys: each is parsed and
    // checked once, not on every request. The parsed decision is frozen, as it is shared.
    const known = this.parsed.get(raw);
    if (known !== undefined) return known;
    const parsed = cachedDecisionSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) return undefined;
    if (raw.length <= MAX_REMEMBERED_LENGTH) {
      if (this.parsed.size >= MAX_REMEMBERED_DECISIONS) this.parsed.clear();
      this.parsed.set(raw, Object.freeze({ granted: Object.freeze(parsed.data.granted) as string[], reason: parsed.data.reason }));
    }
    return parsed.data;
  }

  private unreadable(err: unknown): undefined {
    this.deps.logger.warn({ event: 'authz_cache_error', err: (err as Error).message }, `cannot read a cached ${this.what} decision; treating it as absent`);
    return undefined;
  }

  async write(key: string, decision: CachedDecision, ttlSeconds: number): Promise<void> {
    if (ttlSeconds < 1) return;
    try {
      await this.deps.cache.set(key, JSON.stringify({ granted: decision.granted, reason: decision.reason }), ttlSeconds);
    } catch (err) {
      this.deps.logger.warn({ event: 'authz_cache_error', err: (err as Error).message }, `cannot cache a ${this.what} decision`);
    }
  }
}
