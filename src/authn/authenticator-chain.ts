import type { AccountGate } from '../accounts/account-gate.js';
import type { Identity } from '../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from './authenticator.js';

/** Options of the chain. */
export interface AuthenticatorChainOptions {
  /** Told about every login the chain runs, with the type of the backend that decided (`none` when none recognised the credential). */
  onLogin?: (backend: string) => void;
}

/**
 * Tries backends in the configured order (Wharf's registry credentials first); the first that
 * recognises the credential decides. Every identity leaving the chain passes the account gate
 * (name grammar and binding), whether a login proved it or a backend remembered it; identities
 * proved earlier (refresh tokens, browser sessions) pass it through `admit`.
 */
export class AuthenticatorChain {
  constructor(
    private readonly backends: readonly PasswordAuthenticator[],
    private readonly gate: AccountGate,
    private readonly options: AuthenticatorChainOptions = {},
  ) {}

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    for (const backend of this.backends) {
      const result = await backend.login(username, password, context);
      if (result.kind !== 'no_match') {
        this.options.onLogin?.(backend.type);
        // A login verified by the backend is its source's word, except where the backend holds a
        // copy of its own (Wharf's credentials) that was not re-checked upstream just now.
        return result.kind === 'ok' ? this.admitResult(result, backend.keepsCopies !== true || result.rechecked === true) : result;
      }
    }
    this.options.onLogin?.('none');
    return { kind: 'no_match' };
  }

  /**
   * What `login` would prove (the identity and its provenance), when the backend that decides
   * remembers verifying this credential (see PasswordAuthenticator.recall); undefined when only a
   * login can tell. Backends are asked in order, as by `login`, so a remembered credential of a
   * later backend never overrides an earlier backend that would decide. An identity the gate
   * refuses is not recalled: the login then refuses it, through the brute-force limits.
   */
  async recall(username: string, password: string, context: LoginContext): Promise<Extract<AuthnResult, { kind: 'ok' }> | undefined> {
    // An indexed loop: a fleet's clients recall once a second each.
    const backends = this.backends;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      const result = backend.recall === undefined ? undefined : await backend.recall(username, password, context);
      if (result?.kind === 'ok') {
        // A remembered verification proves nothing new (and may be older than another replica's).
        // Admitted as every other result is (admitResult): one place says what admission takes.
        const admitted = await this.admitResult(result, false);
        return admitted.kind === 'ok' ? admitted : undefined;
      }
      if (result?.kind !== 'no_match') return undefined;
    }
    return undefined;
  }

  /**
   * `ok` when `identity` may act as its account now: also for identities proved earlier (refresh
   * tokens, credentials, sessions), whose account may have been unbound and claimed by another
   * source since. `proven`: the identity comes from its source just now (a browser sign-in's
   * callback, a refresh token's re-check), not from a copy Wharf kept (see AccountGate.admit).
   */
  async admit(identity: Identity, options: { readonly proven?: boolean } = {}): Promise<AuthnResult> {
    return this.admitResult({ kind: 'ok', identity }, options.proven === true);
  }

  /** Whether a refresh token may stand for an identity this chain proved: its backend can re-check it. */
  refreshable(identity: Identity): boolean {
    return this.backends.find((b) => b.type === identity.provider)?.refresh !== undefined;
  }

  /** The configured backend types, in order. */
  types(): string[] {
    return this.backends.map((b) => b.type);
  }

  /**
   * The result itself (provenance kept) when the gate admits its identity, else the refusal. A
   * robot's maker is replaced by the maker as their source last proved them (their groups now).
   */
  private async admitResult(result: Extract<AuthnResult, { kind: 'ok' }>, proven: boolean): Promise<AuthnResult> {
    const admission = await this.gate.admit(result.identity, { proven });
    if (admission.kind !== 'ok') return { kind: 'denied', reason: admission.message, message: admission.message };
    if (!result.maker) return result;
    const maker = await this.gate.makerNow(result.maker);
    if (!maker) {
      const message = `the account that made robot "${result.identity.account}" (${result.maker.account}) no longer belongs to that person; the robot gets nothing`;
      return { kind: 'denied', reason: message, message };
    }
    return { ...result, maker };
  }
}

/** The identity as the backend that proved it sees it now; undefined when that backend is gone from the config or no longer vouches for it. */
export async function refreshedIdentity(backends: readonly PasswordAuthenticator[], identity: Identity, binding: string | undefined): Promise<Identity | undefined> {
  const backend = backends.find((b) => b.type === identity.provider);
  return backend?.refresh ? backend.refresh(identity, binding) : undefined;
}
