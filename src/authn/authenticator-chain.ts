import type { AccountGate } from '../accounts/account-gate.js';
import type { Identity } from '../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from './authenticator.js';

/** Tries backends in the configured order; the first that recognises the credential decides. */
export class AuthenticatorChain {
  constructor(
    private readonly backends: readonly PasswordAuthenticator[],
    /** Every identity leaving the chain passes it (account grammar and binding). */
    private readonly gate: AccountGate,
  ) {}

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    for (const backend of this.backends) {
      const result = await backend.login(username, password, context);
      if (result.kind === 'ok') return this.admit(result.identity);
      if (result.kind !== 'no_match') return result;
    }
    return { kind: 'no_match' };
  }

  /**
   * `ok` when `identity` may act as its account now: also for identities proved earlier (refresh
   * tokens, credentials, sessions), whose account may have been unbound and claimed by another
   * source since.
   */
  async admit(identity: Identity): Promise<AuthnResult> {
    const admission = await this.gate.admit(identity);
    return admission.kind === 'ok' ? { kind: 'ok', identity } : { kind: 'denied', reason: admission.message, message: admission.message };
  }

  /** False when the backend that proved `identity` is gone or no longer vouches for it. */
  async stillValid(identity: Identity): Promise<boolean> {
    const backend = this.backends.find((b) => b.type === identity.provider);
    if (!backend) return false;
    return backend.stillValid ? backend.stillValid(identity) : true;
  }

  /** Whether a refresh token may stand for an identity this chain proved. */
  refreshable(identity: Identity): boolean {
    const backend = this.backends.find((b) => b.type === identity.provider);
    return backend !== undefined && backend.refreshable !== false;
  }

  /** The configured backend types, in order. */
  types(): string[] {
    return this.backends.map((b) => b.type);
  }
}
