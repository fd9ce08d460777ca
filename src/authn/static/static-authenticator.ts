import bcrypt from 'bcrypt';
import type { Cache } from '../../cache/cache.js';
import { keyedHash } from '../../crypto/keyed-hash.js';
import type { Identity } from '../../domain/identity.js';
import type { AuthnResult, PasswordAuthenticator } from '../authenticator.js';
import { VerifiedCredentials } from '../verified-credentials.js';
import { DEFAULT_BCRYPT_COST } from './bcrypt-cost.js';
import type { StaticAuthnConfig } from './static-config.js';

/** Dependencies of the static backend. */
export interface StaticAuthenticatorDeps {
  cache: Cache;
  hashKey: Buffer;
  /**
   * When no backend follows, an unknown user costs one bcrypt check too, so timing does not tell
   * which usernames exist. With backends after it, that would put bcrypt on every one of their
   * requests, so unknown users pass on at once.
   */
  lastInChain?: boolean;
}

// Compared against when the user is unknown, so both paths cost one bcrypt check at the cost
// `wharf hash-password` gives users. Made on first use, off the event loop, rather than at import.
let dummyHash: Promise<string> | undefined;
const timingEqualiser = () => (dummyHash ??= bcrypt.hash('wharf-timing-equaliser', DEFAULT_BCRYPT_COST));

/**
 * Users with bcrypt hashes from the config. bcrypt costs 50-250 ms of CPU, so a success is
 * remembered under a keyed hash of (user, password, hash) for `verifiedCacheSeconds`, and
 * concurrent checks of the same credential share one bcrypt run. bcrypt's native binding runs
 * on the libuv threadpool, off the event loop.
 */
export class StaticAuthenticator implements PasswordAuthenticator {
  readonly type = 'static';
  /**
   * Right passwords only, stored as `1` under (user, password, hash): the hash is part of the
   * key, so a changed hash forgets.
   */
  private readonly verified: VerifiedCredentials<boolean, true>;
  /** Password hash → its fingerprint; only configured hashes, so bounded by the config. */
  private readonly fingerprints = new Map<string, string>();

  constructor(
    private readonly config: StaticAuthnConfig,
    private readonly deps: StaticAuthenticatorDeps,
  ) {
    this.verified = new VerifiedCredentials({
      cache: deps.cache,
      hashKey: deps.hashKey,
      prefix: 'static:',
      scope: ['static'],
      accepted: (right): right is true => right,
      acceptedSeconds: config.verifiedCacheSeconds,
      encode: () => '1',
      decode: () => true,
    });
  }

  async login(username: string, password: string): Promise<AuthnResult> {
    const user = this.user(username);
    if (!user) {
      if (this.deps.lastInChain !== false) await bcrypt.compare(password, await timingEqualiser());
      return { kind: 'no_match' };
    }
    const right = await this.verified.verdict([username, password, user.passwordHash], () => bcrypt.compare(password, user.passwordHash));
    return right ? this.ok(username, user.passwordHash) : { kind: 'denied', reason: 'invalid username or password', knownAccount: true };
  }

  async recall(username: string, password: string): Promise<AuthnResult | undefined> {
    const user = this.user(username);
    // An unknown user is no_match only when a backend follows: last in the chain, its answer
    // costs a bcrypt run (timing), which is a verification like any other.
    if (!user) return this.deps.lastInChain === false ? { kind: 'no_match' } : undefined;
    return (await this.verified.recall([username, password, user.passwordHash])) ? this.ok(username, user.passwordHash) : undefined;
  }

  configuredIdentities(): Identity[] {
    return Object.keys(this.config.users).map((u) => this.identity(u));
  }

  /** The user as configured now, while the password hash is the one the login was checked against. */
  async refresh(identity: Identity, binding: string | undefined): Promise<Identity | undefined> {
    const user = this.user(identity.account);
    if (!user || binding === undefined || binding !== this.fingerprint(user.passwordHash)) return undefined;
    return this.identity(identity.account);
  }

  private user(username: string) {
    return Object.hasOwn(this.config.users, username) ? this.config.users[username] : undefined;
  }

  private ok(username: string, passwordHash: string): AuthnResult {
    return { kind: 'ok', identity: this.identity(username), provenance: { binding: this.fingerprint(passwordHash) } };
  }

  private identity(username: string): Identity {
    const attributes = this.config.users[username]?.attributes ?? {};
    return { account: username, provider: this.type, subject: username, attributes, owner: { source: 'static', subject: username } };
  }

  /**
   * Names the password hash a login was checked against, so a password change ends refresh tokens;
   * reveals nothing of it. Remembered per hash: the recalled path runs it on every request.
   */
  private fingerprint(passwordHash: string): string {
    let print = this.fingerprints.get(passwordHash);
    if (print === undefined) {
      print = keyedHash(this.deps.hashKey, 'static-password', passwordHash).slice(0, 32);
      this.fingerprints.set(passwordHash, print);
    }
    return print;
  }
}
