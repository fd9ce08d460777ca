import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { AuthnResult, PasswordAuthenticator } from '../../authn/authenticator.js';
import { CREDENTIAL_PREFIX, type CredentialRecord, type CredentialStore, type SealedUpstream } from './credential-store.js';

/** What asking the provider about a credential's sealed tokens found; `sealed` holds the tokens to keep when they changed. */
export type SealedRecheck =
  | { kind: 'valid'; identity: Identity; sealed?: string | undefined }
  | { kind: 'invalid'; reason: string }
  | { kind: 'unknown'; reason: string };

/** Periodic re-checking of the upstream identity behind credentials. */
export interface CredentialRevalidation {
  everyMs: number;
  /**
   * How long past its due re-check a credential keeps working while the provider cannot be asked;
   * after that it answers 503 until the provider answers again (it is not revoked).
   */
  graceMs: number;
  now: () => number;
  /** Asks the named provider about the identity behind the sealed tokens. Never throws. */
  check(upstream: SealedUpstream, identity: Identity): Promise<SealedRecheck>;
  /** Told about every revocation a re-check caused (the audit line). */
  revoked?(record: CredentialRecord, reason: string): void;
}

/**
 * Registry credentials from browser and device logins, used as the `docker login` password.
 * Checked against the store; the identity provider behind one is asked again once it is due.
 */
export class CredentialAuthenticator implements PasswordAuthenticator {
  readonly type = 'credential';
  /** A record's identity is a copy from when it was made or last re-checked; only a re-check just now is the provider's word. */
  readonly keepsCopies = true;
  // No refresh(): the credential already is Wharf's own revocable secret; no refresh token on top of it.

  /** Re-checks under way in this process, by provider login: concurrent uses wait for one answer. */
  private readonly checking = new Map<string, Promise<SealedRecheck>>();

  constructor(
    private readonly store: CredentialStore,
    private readonly revalidation?: CredentialRevalidation,
  ) {}

  async recall(username: string, password: string): Promise<AuthnResult | undefined> {
    if (!password.startsWith(CREDENTIAL_PREFIX)) return { kind: 'no_match' };
    const record = await this.store.verify(password);
    // A credential due for its upstream re-check is not recalled: that check is a verification.
    if (!record || record.identity.account !== username || this.due(record)) return undefined;
    return this.ok(record);
  }

  async login(username: string, password: string): Promise<AuthnResult> {
    if (!password.startsWith(CREDENTIAL_PREFIX)) return { kind: 'no_match' };
    const found = await this.store.lookup(password);
    if (!found || found.record.identity.account !== username) {
      return { kind: 'denied', reason: 'registry credential is unknown, expired, revoked or belongs to another account' };
    }
    const { record } = found;
    if (found.expired) {
      const ended = new Date(record.expiresAt).toISOString();
      return { kind: 'denied', reason: 'registry credential expired', message: `this registry credential ("${record.label}") expired at ${ended}; make a new one` };
    }
    if (!this.due(record)) return this.ok(record);
    const revalidation = this.revalidation!;
    const upstream = record.upstream!;
    const verdict = await this.recheck(record);
    if (verdict.kind === 'invalid') {
      await this.store.revoke(record.identity.account, record.id);
      revalidation.revoked?.(record, verdict.reason);
      return { kind: 'denied', reason: `the ${upstream.provider} identity behind this credential is no longer valid (${verdict.reason}); the credential was revoked` };
    }
    if (verdict.kind === 'valid') return { ...this.ok({ ...record, identity: verdict.identity }), rechecked: true };
    // Unknown (provider unreachable, or another process is asking it): the identity stood at the
    // last check, and is trusted so for a bounded time only.
    if (revalidation.now() - upstream.validatedAt >= revalidation.everyMs + revalidation.graceMs) {
      const hours = Math.round((revalidation.now() - upstream.validatedAt) / 3_600_000);
      throw new TemporarilyUnavailableError(`the sign-in provider ${upstream.provider} cannot be asked about this credential and last confirmed it ${hours} hours ago; it works again once the provider answers`, {
        retryAfterSeconds: 60,
      });
    }
    return this.ok(record);
  }

  /** One re-check per provider login at a time: in this process by waiting for it, across processes by a claim in the store. */
  private recheck(record: CredentialRecord): Promise<SealedRecheck> {
    const key = record.upstream!.grant ?? record.id;
    let pending = this.checking.get(key);
    if (!pending) {
      pending = this.askProvider(record).finally(() => this.checking.delete(key));
      this.checking.set(key, pending);
    }
    return pending;
  }

  private async askProvider(record: CredentialRecord): Promise<SealedRecheck> {
    const upstream = record.upstream!;
    if (!(await this.store.claimRecheck(record))) return { kind: 'unknown', reason: 'a re-check of this login is under way or failed within the last minute' };
    const verdict = await this.revalidation!.check(upstream, record.identity);
    if (verdict.kind !== 'valid') return verdict;
    const { identity } = record;
    // The credential was made for one account: the provider naming the person otherwise now
    // (a renamed user, a reassigned e-mail address) ends it rather than moving it.
    if (verdict.identity.account !== identity.account || verdict.identity.subject !== identity.subject) {
      return { kind: 'invalid', reason: `the provider now names this user "${verdict.identity.account}"` };
    }
    try {
      await this.store.markValidated(record, { sealed: verdict.sealed, attributes: verdict.identity.attributes });
    } catch (err) {
      // Tokens the provider rotated must be kept, or the next re-check holds a spent one: a check
      // whose outcome could not be recorded did not happen.
      if (err instanceof TemporarilyUnavailableError) return { kind: 'unknown', reason: `the re-check could not be recorded: ${err.message}` };
      throw err;
    }
    return { kind: 'valid', identity: { ...identity, attributes: verdict.identity.attributes } };
  }

  private due(record: CredentialRecord): boolean {
    return record.upstream !== undefined && this.revalidation !== undefined && this.revalidation.now() - record.upstream.validatedAt >= this.revalidation.everyMs;
  }

  private ok(record: CredentialRecord): Extract<AuthnResult, { kind: 'ok' }> {
    const identity = { ...record.identity, attributes: { ...record.identity.attributes, credentialId: record.id } };
    return { kind: 'ok', identity, ...(record.scope ? { scope: record.scope } : {}), ...(record.maker ? { maker: record.maker } : {}) };
  }
}
