import type { AuthnResult, PasswordAuthenticator } from '../authenticator.js';
import { CREDENTIAL_PREFIX, type CredentialRecord, type CredentialStore } from './credential-store.js';

/** Periodic re-checking of the upstream identity behind credentials. */
export interface CredentialRevalidation {
  everyMs: number;
  now: () => number;
  /** Asks the named provider about the sealed access token. */
  check(provider: string, sealed: string): Promise<'valid' | 'invalid' | 'unknown'>;
}

/**
 * Registry credentials from browser and device logins, used as the `docker login` password.
 * Checked against the cache/Redis, never the identity provider.
 */
export class CredentialAuthenticator implements PasswordAuthenticator {
  readonly type = 'credential';
  // No refresh(): the credential already is Wharf's own revocable secret; no refresh token on top of it.

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
    const record = await this.store.verify(password);
    if (!record || record.identity.account !== username) {
      return { kind: 'denied', reason: 'registry credential is unknown, expired, revoked or belongs to another account' };
    }
    if (this.due(record)) {
      const verdict = await this.revalidation!.check(record.upstream!.provider, record.upstream!.sealed);
      if (verdict === 'invalid') {
        await this.store.revoke(record.identity.account, record.id);
        return { kind: 'denied', reason: `the ${record.upstream!.provider} identity behind this credential is no longer valid; the credential was revoked` };
      }
      // `unknown` (provider unreachable): the identity stood at the last check; try again next time.
      if (verdict === 'valid') await this.store.markValidated(record);
    }
    return this.ok(record);
  }

  private due(record: CredentialRecord): boolean {
    return record.upstream !== undefined && this.revalidation !== undefined && this.revalidation.now() - record.upstream.validatedAt >= this.revalidation.everyMs;
  }

  private ok(record: CredentialRecord): AuthnResult {
    return { kind: 'ok', identity: { ...record.identity, attributes: { ...record.identity.attributes, credentialId: record.id } } };
  }
}
