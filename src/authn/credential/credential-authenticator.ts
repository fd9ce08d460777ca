import type { AuthnResult, PasswordAuthenticator } from '../authenticator.js';
import { CREDENTIAL_PREFIX, type CredentialStore } from './credential-store.js';

/**
 * Registry credentials from browser and device logins, used as the `docker login` password.
 * Checked against the cache/Redis, never the identity provider.
 */
export class CredentialAuthenticator implements PasswordAuthenticator {
  readonly type = 'credential';
  // The credential already is Wharf's own revocable secret; no refresh token on top of it.
  readonly refreshable = false;

  constructor(private readonly store: CredentialStore) {}

  async login(username: string, password: string): Promise<AuthnResult> {
    if (!password.startsWith(CREDENTIAL_PREFIX)) return { kind: 'no_match' };
    const record = await this.store.verify(password);
    if (!record || record.identity.account !== username) {
      return { kind: 'denied', reason: 'registry credential is unknown, expired, revoked or belongs to another account' };
    }
    return { kind: 'ok', identity: { ...record.identity, attributes: { ...record.identity.attributes, credentialId: record.id } } };
  }
}
