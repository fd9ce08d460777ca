import type { AuthnResult, PasswordAuthenticator } from '../../authn/authenticator.js';
import { SealedBox } from '../../crypto/sealed-box.js';
import { parseCredentialScope, type CredentialScope } from '../../domain/credential-scope.js';
import type { Identity } from '../../domain/identity.js';

/** Every exchanged credential starts so: the chain tells it from other passwords by its form alone. */
export const EXCHANGED_PREFIX = 'wharf_xc_';
/** Longest exchanged credential read: an identity of a few claims sealed is under 2 KB. */
const MAX_LENGTH = 8 * 1024;

/** What an exchanged credential holds, sealed: nobody but Wharf reads or changes it. */
interface Sealed {
  /** Format version. */
  readonly v: 1;
  /** The identity the exchange proved (its `expiresAt` already the credential's end). */
  readonly identity: Identity;
  readonly scope: CredentialScope;
  /** End, in ms since the epoch. */
  readonly exp: number;
}

/**
 * Short-lived registry credentials handed out by the exchange (a Kubernetes pod's or a
 * controller's service-account token in, a credential that can pull one repository out). They
 * are stateless: the identity, the scope and the end are sealed (AES-256-GCM under a key of
 * their own derived from the hash key), so an exchange writes nothing and a node's many pulls
 * cost no store record. What cannot be done to them is revoking one alone: they live minutes
 * (no longer than the token they came from), and every use still passes the account gate and
 * is decided afresh, within the sealed scope.
 */
export class ExchangedCredentials implements PasswordAuthenticator {
  readonly type = 'exchanged';
  /** The identity is sealed into the credential when it is handed out: a copy, not the source's word. */
  readonly keepsCopies = true;
  private readonly box: SealedBox;

  constructor(
    hashKey: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.box = new SealedBox(hashKey, 'wharf exchanged credentials v1');
  }

  /** A credential for `identity`, within `scope`, ending at `expiresAtMs`. */
  mint(identity: Identity, scope: CredentialScope, expiresAtMs: number): string {
    // The identity's own end becomes the credential's: no registry token outlives either.
    const sealed: Sealed = { v: 1, identity: { ...identity, attributes: { ...identity.attributes, expiresAt: Math.floor(expiresAtMs / 1000) } }, scope, exp: expiresAtMs };
    return EXCHANGED_PREFIX + this.box.seal(JSON.stringify(sealed));
  }

  // Opening the box is the whole verification (microseconds, nothing remembered): recall and
  // login answer alike, but recall leaves refusals to login, which counts them.
  async recall(username: string, password: string): Promise<AuthnResult | undefined> {
    const result = this.judge(username, password);
    return result.kind === 'denied' ? undefined : result;
  }

  async login(username: string, password: string): Promise<AuthnResult> {
    return this.judge(username, password);
  }

  private judge(username: string, password: string): AuthnResult {
    if (!password.startsWith(EXCHANGED_PREFIX)) return { kind: 'no_match' };
    const opened = password.length <= MAX_LENGTH ? this.open(password.slice(EXCHANGED_PREFIX.length)) : undefined;
    if (!opened) return { kind: 'denied', reason: 'exchanged credential is not one this server sealed (tampered, truncated, or sealed under another hash key)' };
    if (opened.identity.account !== username) return { kind: 'denied', reason: 'exchanged credential belongs to another account' };
    if (opened.exp <= this.now()) {
      const ended = new Date(opened.exp).toISOString();
      return { kind: 'denied', reason: 'exchanged credential expired', message: `this exchanged credential expired at ${ended}; exchange the service-account token again` };
    }
    return { kind: 'ok', identity: opened.identity, scope: opened.scope };
  }

  private open(sealed: string): Sealed | undefined {
    const text = this.box.open(sealed);
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as Partial<Sealed>;
      const identity = parsed.identity;
      if (parsed.v !== 1 || typeof parsed.exp !== 'number' || typeof identity?.account !== 'string' || typeof identity.provider !== 'string') return undefined;
      return { v: 1, identity, scope: parseCredentialScope(parsed.scope), exp: parsed.exp };
    } catch {
      return undefined;
    }
  }
}
