import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../../authn/authenticator.js';
import { refreshedIdentity } from '../../authn/authenticator-chain.js';
import { REFRESH_TOKEN_PREFIX, type RefreshTokenStore } from './refresh-token-store.js';

/**
 * Accepts a Wharf refresh token as a Basic password (clients such as podman store the
 * password, not an identitytoken). The username must be the token's account, and the backend
 * that proved the identity must still vouch for it; its current view (groups) applies.
 */
export class RefreshTokenAuthenticator implements PasswordAuthenticator {
  readonly type = 'refresh';

  constructor(
    private readonly store: RefreshTokenStore,
    /** The configured backends that prove identities: the one behind a refresh token re-checks it. */
    private readonly backends: readonly PasswordAuthenticator[],
  ) {}

  /** Never remembered (a redemption is a store lookup and a re-check of the identity): only tells a password that is not a refresh token. */
  async recall(_username: string, password: string): Promise<AuthnResult | undefined> {
    return password.startsWith(REFRESH_TOKEN_PREFIX) ? undefined : { kind: 'no_match' };
  }

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    if (!password.startsWith(REFRESH_TOKEN_PREFIX)) return { kind: 'no_match' };
    const redeemed = await this.store.redeem(password, context.service);
    const identity = redeemed && redeemed.identity.account === username ? await refreshedIdentity(this.backends, redeemed.identity, redeemed.provenance.binding) : undefined;
    if (!redeemed || !identity || identity.account !== username) {
      return { kind: 'denied', reason: 'refresh token is invalid, expired, revoked or not yours' };
    }
    return { kind: 'ok', identity, provenance: redeemed.provenance };
  }
}
