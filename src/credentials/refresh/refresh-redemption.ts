import type { AuthnResult, LoginContext, PasswordAuthenticator, Provenance } from '../../authn/authenticator.js';
import { refreshedIdentity } from '../../authn/authenticator-chain.js';
import type { RefreshTokens } from '../../authn/prover.js';
import type { Identity } from '../../domain/identity.js';
import { REFRESH_TOKEN_PREFIX, type RefreshTokenStore } from './refresh-token-store.js';

/**
 * Wharf's refresh tokens as the prover redeems them, however they come: by the refresh grant, or
 * as a Basic password (clients such as podman store the password, not an identitytoken). The
 * backend that proved the identity must still vouch for it; its current view (groups) applies.
 */
export class RefreshRedemption implements RefreshTokens {
  constructor(
    private readonly store: RefreshTokenStore,
    /** The configured backends that prove identities: the one behind a refresh token re-checks it. */
    private readonly backends: readonly PasswordAuthenticator[],
  ) {}

  recognises(secret: string): boolean {
    return secret.startsWith(REFRESH_TOKEN_PREFIX);
  }

  async redeem(token: string, context: LoginContext, account?: string): Promise<AuthnResult> {
    const redeemed = await this.store.redeem(token, context.service);
    // As a password, the username must be the token's account: a token is not a key to others.
    const mine = redeemed !== undefined && (account === undefined || redeemed.identity.account === account);
    const identity = mine ? await refreshedIdentity(this.backends, redeemed.identity, redeemed.provenance.binding) : undefined;
    if (!redeemed || !identity || (account !== undefined && identity.account !== account)) {
      return { kind: 'denied', reason: account === undefined ? 'refresh token invalid, expired, revoked or for another service' : 'refresh token is invalid, expired, revoked or not yours' };
    }
    return { kind: 'ok', identity, provenance: redeemed.provenance };
  }

  issue(identity: Identity, service: string, provenance?: Provenance): Promise<string> {
    return this.store.issue(identity, service, provenance);
  }
}
