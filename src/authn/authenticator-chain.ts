import type { Identity } from '../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from './authenticator.js';

/** Tries backends in the configured order; the first that recognises the credential decides. */
export class AuthenticatorChain {
  constructor(private readonly backends: readonly PasswordAuthenticator[]) {}

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    for (const backend of this.backends) {
      const result = await backend.login(username, password, context);
      if (result.kind !== 'no_match') return result;
    }
    return { kind: 'no_match' };
  }

  /**
   * The identity as its backend sees it now (see PasswordAuthenticator.refresh); undefined when
   * the backend is gone from the config or no longer vouches for it.
   */
  async refresh(identity: Identity, binding: string | undefined): Promise<Identity | undefined> {
    const backend = this.backends.find((b) => b.type === identity.provider);
    return backend?.refresh ? backend.refresh(identity, binding) : undefined;
  }

  /** Whether a refresh token may stand for an identity this chain proved: its backend can re-check it. */
  refreshable(identity: Identity): boolean {
    return this.backends.find((b) => b.type === identity.provider)?.refresh !== undefined;
  }

  /** The configured backend types, in order. */
  types(): string[] {
    return this.backends.map((b) => b.type);
  }
}
