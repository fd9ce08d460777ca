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
   * The identity `login` would prove, when the backend that decides remembers verifying this
   * credential (see PasswordAuthenticator.recall); undefined when only a login can tell. Backends
   * are asked in order, as by `login`, so a remembered credential of a later backend never
   * overrides an earlier backend that would decide.
   */
  async recall(username: string, password: string, context: LoginContext): Promise<Identity | undefined> {
    for (const backend of this.backends) {
      const result = await backend.recall?.(username, password, context);
      if (result?.kind === 'ok') return result.identity;
      if (result?.kind !== 'no_match') return undefined;
    }
    return undefined;
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
