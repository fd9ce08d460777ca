import type { Cache } from '../cache/cache.js';
import { keyedHash } from '../crypto/keyed-hash.js';
import { SingleFlight } from '../upstream/single-flight.js';

/** How one password backend remembers the credentials it verified. */
export interface VerifiedCredentialsOptions<V, A extends V> {
  cache: Cache;
  /** The key of the keyed hash that names a credential in the cache. */
  hashKey: Buffer;
  /**
   * Starts every key (`static:`, `ldap:`...). Never change a backend's: replicas of other
   * versions share Redis and read these keys, and the two-tier cache keeps in process the
   * entries whose prefix it lists.
   */
  prefix: string;
  /**
   * The keyed hash's parts before the credential: the backend's name and what it verifies
   * against (URL, base DN, argv...), so two configurations never share an entry.
   */
  scope: readonly string[];
  /** Whether a verdict accepts the credential (a right password, an active token): only these are recalled. */
  accepted: (verdict: V) => verdict is A;
  /** Seconds an accepted verdict is remembered; 0 remembers none, and recalls nothing. */
  acceptedSeconds: number;
  /**
   * Seconds a refusal is remembered, so a bad token cannot hammer the upstream. Default 0:
   * refusals are verified every time (a remembered wrong password would only save its guesser time).
   */
  refusedSeconds?: number;
  /** When an accepted verdict stops standing (unix seconds, e.g. the token's `exp`): its entry lives no longer, and is not recalled after. */
  expiresAt?: (verdict: A) => number | undefined;
  /** The stored text of an accepted verdict. Default JSON; refusals are always stored as JSON. */
  encode?: (verdict: A) => string;
  /** A verdict from its stored text; must read whatever `encode` (and, when refusals are remembered, JSON) wrote. Default JSON. */
  decode?: (stored: string) => V;
  /** Clock in ms, for `expiresAt`. Default Date.now. */
  now?: () => number;
}

/**
 * The verified-credential cache every password backend shares (static, LDAP, command,
 * introspection, provider tokens): a backend says only how to verify and what a verdict means.
 * Verdicts are remembered under `prefix` + a keyed hash of the scope and the credential, never
 * the secret itself; concurrent checks of one credential share one verification; an accepted
 * verdict is remembered for `acceptedSeconds` (capped by `expiresAt`), a refusal for
 * `refusedSeconds`; a verification that throws (upstream down) is remembered not at all.
 * `recall` is the cache half of PasswordAuthenticator.recall: accepted verdicts only.
 */
export class VerifiedCredentials<V, A extends V = V> {
  private readonly flights = new SingleFlight<V>();
  private readonly now: () => number;
  private readonly encode: (verdict: V) => string;
  private readonly decode: (stored: string) => V;
  private readonly refusedSeconds: number;

  constructor(private readonly options: VerifiedCredentialsOptions<V, A>) {
    this.now = options.now ?? Date.now;
    this.refusedSeconds = options.refusedSeconds ?? 0;
    const { encode } = options;
    this.encode = (verdict) => (encode && options.accepted(verdict) ? encode(verdict) : JSON.stringify(verdict));
    this.decode = options.decode ?? ((stored) => JSON.parse(stored) as V);
  }

  /** The cache key of a credential (its parts, e.g. username and password): no part of it can be read back from the key. */
  key(credential: readonly string[]): string {
    return `${this.options.prefix}${keyedHash(this.options.hashKey, ...this.options.scope, ...credential)}`;
  }

  /**
   * The verdict on a credential: remembered, or from `verify`, run once for all concurrent
   * callers and then remembered as the options say. A remembered verdict that `usable` turns
   * down (it lacks facts this caller needs) is verified again.
   */
  async verdict(credential: readonly string[], verify: () => Promise<V>, usable?: (verdict: V) => boolean): Promise<V> {
    const key = this.key(credential);
    return this.flights.run(key, async () => {
      const remembered = this.options.acceptedSeconds >= 1 || this.refusedSeconds >= 1 ? await this.options.cache.get(key) : undefined;
      if (remembered) {
        const verdict = this.decode(remembered);
        if (!usable || usable(verdict)) return verdict;
      }
      const fresh = await verify();
      const seconds = this.secondsFor(fresh);
      if (seconds >= 1) await this.options.cache.set(key, this.encode(fresh), seconds);
      return fresh;
    });
  }

  /**
   * A remembered accepted verdict on the credential, `usable` and not past `expiresAt`, without
   * verifying anything; undefined otherwise (never a refusal: refusals go through the limits).
   */
  async recall(credential: readonly string[], usable?: (verdict: A) => boolean): Promise<A | undefined> {
    if (this.options.acceptedSeconds < 1) return undefined;
    const stored = await this.options.cache.get(this.key(credential));
    if (!stored) return undefined;
    const verdict = this.decode(stored);
    if (!this.options.accepted(verdict) || (usable && !usable(verdict))) return undefined;
    const end = this.options.expiresAt?.(verdict);
    return end !== undefined && end * 1000 <= this.now() ? undefined : verdict;
  }

  /** How long a fresh verdict is remembered; under 1, not at all. */
  private secondsFor(verdict: V): number {
    if (!this.options.accepted(verdict)) return this.refusedSeconds;
    const end = this.options.expiresAt?.(verdict);
    if (end === undefined) return this.options.acceptedSeconds;
    return Math.min(this.options.acceptedSeconds, Math.floor(end - this.now() / 1000));
  }
}
