import { randomBytes } from 'node:crypto';
import type { LoginTransaction } from '../authn/authenticator.js';
import type { SealedUpstream } from '../credentials/registry/credential-store.js';
import type { Cache } from '../cache/cache.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import type { Identity } from '../domain/identity.js';
import type { Store } from '../store/store.js';
import type { StartLimiter } from './start-limiter.js';

/** A logged-in browser. */
export interface Session {
  identity: Identity;
  /** The login provider's tokens, sealed, when the provider can re-check the identity later. */
  upstream?: SealedUpstream;
  /** Token every form of this session must carry (CSRF). */
  csrf: string;
  createdAt: number;
}

/** A login between redirect and callback. */
export interface PendingLogin extends LoginTransaction {
  provider: string;
  returnTo: string;
}

/** How long a user may take at the identity provider. */
const LOGIN_TTL_SECONDS = 600;

/** Options of the browser sessions. */
export interface BrowserSessionsOptions {
  /** Where sessions live: durable, never evicted, kept across restarts. */
  store: Store;
  /**
   * Where pending logins live: a space of their own, never the LRU of anything durable, because
   * anyone may start a login without signing in; losing one only means signing in again.
   */
  pending: Cache;
  /** Counts login starts per address (and overall); undefined = unlimited. */
  limiter?: StartLimiter | undefined;
  hashKey: Buffer;
  sessionSeconds: number;
  now?: () => number;
}

/**
 * Browser sessions (in the store, so a restart keeps them and logout is durable) and pending
 * logins (in their own bounded space, shared by replicas through Redis when the cache is Redis).
 * Session ids and states are random; only keyed hashes of them are used as keys.
 */
export class BrowserSessions {
  private readonly now: () => number;

  constructor(private readonly options: BrowserSessionsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts a login for `clientIp`; throws `TooManyRequestsError` past the per-address limit. */
  async beginLogin(provider: string, returnTo: string, clientIp: string, secrets: Readonly<Record<string, string>>): Promise<PendingLogin> {
    await this.options.limiter?.take(clientIp);
    const pending: PendingLogin = { provider, returnTo, state: randomBytes(32).toString('base64url'), secrets };
    await this.options.pending.set(this.loginKey(pending.state), JSON.stringify(pending), LOGIN_TTL_SECONDS);
    return pending;
  }

  /** Takes a pending login by its state, once: a replayed callback finds nothing. */
  async takeLogin(state: string): Promise<PendingLogin | undefined> {
    const key = this.loginKey(state);
    const raw = await this.options.pending.get(key);
    if (!raw) return undefined;
    await this.options.pending.delete(key);
    const pending = JSON.parse(raw) as PendingLogin & { nonce?: string; codeVerifier?: string };
    // Started by a replica of the version before `secrets` (an upgrade under way): its OAuth fields.
    if (!pending.secrets) return { provider: pending.provider, returnTo: pending.returnTo, state: pending.state, secrets: { nonce: pending.nonce ?? '', codeVerifier: pending.codeVerifier ?? '' } };
    return pending;
  }

  async create(identity: Identity, upstream?: Session['upstream']): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const session: Session = { identity, csrf: randomBytes(24).toString('base64url'), createdAt: this.now(), ...(upstream ? { upstream } : {}) };
    await this.options.store.put(this.sessionKey(id), JSON.stringify(session), this.options.sessionSeconds);
    return { id, session };
  }

  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || id.length > 100) return undefined;
    const raw = await this.options.store.get(this.sessionKey(id));
    return raw ? (JSON.parse(raw) as Session) : undefined;
  }

  /** Ends a session; throws `TemporarilyUnavailableError` (the session still stands) when the store did not record it. */
  async destroy(id: string): Promise<void> {
    await this.options.store.delete(this.sessionKey(id));
  }

  private loginKey(state: string): string {
    return `login:${keyedHash(this.options.hashKey, 'login', state)}`;
  }

  private sessionKey(id: string): string {
    return `session:${keyedHash(this.options.hashKey, 'session', id)}`;
  }
}
