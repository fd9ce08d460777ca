import type { Identity } from '../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from './authenticator.js';

/** Options of the chain. */
export interface AuthenticatorChainOptions {
  /** Told about every login the chain runs, with the type of the backend that decided (`none` when none recognised the credential). */
  onLogin?: (backend: string) => void;
}

/** Tries backends in the configured order; the first that recognises the credential decides. */
export class AuthenticatorChain {
  constructor(
    private readonly backends: readonly PasswordAuthenticator[],
    private readonly options: AuthenticatorChainOptions = {},
  ) {}

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    for (const backend of this.backends) {
      const result = await backend.login(username, password, context);
      if (result.kind !== 'no_match') {
        this.options.onLogin?.(backend.type);
        return result;
      }
    }
    this.options.onLogin?.('none');
    return { kind: 'no_match' };
  }

  /**
   * What `login` would prove (the identity and its provenance), when the backend that decides
   * remembers verifying this credential (see PasswordAuthenticator.recall); undefined when only a
   * login can tell. Backends
   * are asked in order, as by `login`, so a remembered credential of a later backend never
   * overrides an earlier backend that would decide.
   */
  async recall(username: string, password: string, context: LoginContext): Promise<Extract<AuthnResult, { kind: 'ok' }> | undefined> {
    for (const backend of this.backends) {
      const result = await backend.recall?.(username, password, context);
      if (result?.kind === 'ok') return result;
      if (result?.kind !== 'no_match') return undefined;
    }
    return undefined;
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
