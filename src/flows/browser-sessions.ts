import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import type { LoginTransaction } from '../authn/authenticator.js';
import type { Cache } from '../cache/cache.js';
import { keyedHash } from '../cache/keyed-hash.js';
import type { Identity } from '../domain/identity.js';

/** A logged-in browser. */
export interface Session {
  identity: Identity;
  /** The login provider's access token, sealed, when the provider can re-check the identity later. */
  upstream?: { provider: string; sealed: string };
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

/**
 * Browser sessions and pending logins, in the cache (so any replica can serve the callback).
 * Session ids and states are random; only keyed hashes of them are used as keys.
 */
export class BrowserSessions {
  constructor(
    private readonly cache: Cache,
    private readonly hashKey: Buffer,
    private readonly sessionSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  async beginLogin(provider: string, returnTo: string): Promise<PendingLogin> {
    const pending: PendingLogin = { provider, returnTo, state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
    await this.cache.set(this.loginKey(pending.state), JSON.stringify(pending), LOGIN_TTL_SECONDS);
    return pending;
  }

  /** Takes a pending login by its state, once: a replayed callback finds nothing. */
  async takeLogin(state: string): Promise<PendingLogin | undefined> {
    const key = this.loginKey(state);
    const raw = await this.cache.get(key);
    if (!raw) return undefined;
    await this.cache.delete(key);
    return JSON.parse(raw) as PendingLogin;
  }

  async create(identity: Identity, upstream?: Session['upstream']): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const session: Session = { identity, csrf: randomBytes(24).toString('base64url'), createdAt: this.now(), ...(upstream ? { upstream } : {}) };
    await this.cache.set(this.sessionKey(id), JSON.stringify(session), this.sessionSeconds);
    return { id, session };
  }

  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || id.length > 100) return undefined;
    const raw = await this.cache.get(this.sessionKey(id));
    return raw ? (JSON.parse(raw) as Session) : undefined;
  }

  async destroy(id: string): Promise<void> {
    await this.cache.delete(this.sessionKey(id));
  }

  private loginKey(state: string): string {
    return `login:${keyedHash(this.hashKey, 'login', state)}`;
  }

  private sessionKey(id: string): string {
    return `session:${keyedHash(this.hashKey, 'session', id)}`;
  }
}
