import type { Identity } from '../../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import { REFRESH_TOKEN_PREFIX, type RefreshTokenStore } from './refresh-token-store.js';

/**
 * Accepts a Wharf refresh token as a Basic password (clients such as podman store the
 * password, not an identitytoken). The username must be the token's account.
 */
export class RefreshTokenAuthenticator implements PasswordAuthenticator {
  readonly type = 'refresh';

  constructor(
    private readonly store: RefreshTokenStore,
    /** Asks the backend that first proved the identity whether it still stands. */
    private readonly revalidate: (identity: Identity) => Promise<boolean>,
  ) {}

  /** Never remembered (a redemption is a store lookup and a re-check of the identity): only tells a password that is not a refresh token. */
  async recall(_username: string, password: string): Promise<AuthnResult | undefined> {
    return password.startsWith(REFRESH_TOKEN_PREFIX) ? undefined : { kind: 'no_match' };
  }

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    if (!password.startsWith(REFRESH_TOKEN_PREFIX)) return { kind: 'no_match' };
    const identity = await this.store.redeem(password, context.service);
    if (!identity || identity.account !== username || !(await this.revalidate(identity))) {
      return { kind: 'denied', reason: 'refresh token is invalid, expired, revoked or not yours' };
    }
    return { kind: 'ok', identity };
  }
}
