import type { AuthnResult, CallbackAuthenticator, CallbackRequest, CallbackResult, LoginTransaction, Recheck, UpstreamTokens } from '../authenticator.js';
import { deriveAccountName } from '../../domain/account-name.js';
import type { Identity } from '../../domain/identity.js';
import { OAuth2Core, refusedByProvider, type ClientCredentials } from '../oauth2-core/oauth2-core.js';
import type { GoogleLoginConfig, OidcLoginConfig } from './oidc-config.js';

/** Taken for an access token whose answer named no lifetime: OIDC access tokens are short-lived, an hour being the common default. */
const ASSUMED_ACCESS_TOKEN_SECONDS = 3600;

/**
 * The source an issuer's users are bound to by `sub`: Google's host for Google (so the Google
 * login and the `google-token` backend share accounts), else the issuer itself: `sub` is unique
 * per issuer (OIDC Core §2), so two provider entries for one issuer (say, two clients) name the
 * same people.
 */
export function oidcLoginSource(config: { type: 'google' | 'oidc'; issuer: string }): string {
  return config.type === 'google' ? `google:${new URL(config.issuer).host}` : `oidc:${config.issuer}`;
}

/**
 * Browser login through an OpenID Connect issuer; Google is this with its issuer, the `email`
 * claim and an optional hosted-domain rule. Its logins keep the refresh token, when the provider
 * gives one, so credentials made from them can be re-checked (`revalidate`) for their whole life.
 */
export class OidcLogin implements CallbackAuthenticator {
  readonly name: string;
  readonly type: 'google' | 'oidc';
  readonly displayName: string;
  readonly logoUrl: string | undefined;
  private readonly core: OAuth2Core;
  /** Where its users' accounts are bound (see oidcLoginSource). */
  private readonly source: string;

  constructor(
    private readonly config: GoogleLoginConfig | OidcLoginConfig,
    credentials: ClientCredentials,
    private readonly now: () => number = Date.now,
  ) {
    this.type = config.type;
    this.name = config.name ?? config.type;
    this.displayName = config.displayName ?? (config.type === 'google' ? 'Google' : this.name);
    this.logoUrl = config.logoUrl;
    const google = config.type === 'google';
    this.source = oidcLoginSource(config);
    this.core = new OAuth2Core({
      server: { kind: 'discovery', issuer: config.issuer },
      clientId: config.clientId,
      credentials,
      scopes: google ? ['openid', 'email', 'profile'] : config.scopes,
      oidc: true,
      // Google gives a refresh token only to `access_type=offline`, and again after the first
      // login only with `prompt=consent`. It shows only accounts of the one domain it is told
      // about (`hd`); the claim is still checked.
      ...(google ? { extraParams: { access_type: 'offline', prompt: 'consent', ...(config.allowedDomains.length === 1 ? { hd: config.allowedDomains[0]! } : {}) } } : {}),
      ...(google || config.offlineAccess !== 'off' ? { offlineAccess: { prompt: google || config.offlineAccess === 'consent' } } : {}),
    });
  }

  prepare(): Record<string, string> {
    return this.core.prepare();
  }

  loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string> {
    return this.core.loginUrl(redirectUri, transaction);
  }

  check(): Promise<string> {
    return this.core.check();
  }

  async handleCallback(callback: CallbackRequest, transaction: LoginTransaction): Promise<CallbackResult> {
    const { accessToken, refreshToken, expiresIn, claims: idToken } = await this.core.exchange(callback.url, transaction);
    if (!idToken) return { kind: 'denied', reason: 'the provider returned no ID token' };
    const sub = String(idToken.sub);
    const result = this.identify(await this.withUserInfo(idToken, sub, accessToken), sub);
    return result.kind === 'ok' ? { ...result, upstream: this.tokens(accessToken, refreshToken, expiresIn) } : result;
  }

  /**
   * Refreshes the login's tokens (or, without a refresh token, asks UserInfo while the access
   * token lives) and applies this login's rules to the claims as they are now.
   */
  async revalidate(tokens: UpstreamTokens, identity: Identity): Promise<Recheck> {
    const sub = identity.subject;
    try {
      let current = tokens;
      let idToken: Record<string, unknown> | undefined;
      if (tokens.refreshToken) {
        const fresh = await this.core.refresh(tokens.refreshToken);
        // A provider that does not rotate refresh tokens sends none back: the old one stays good.
        current = this.tokens(fresh.accessToken, fresh.refreshToken ?? tokens.refreshToken, fresh.expiresIn);
        idToken = fresh.claims;
        if (idToken && String(idToken.sub) !== sub) return { kind: 'invalid', reason: 'the refreshed ID token names another subject' };
      } else if (tokens.expiresAt !== undefined && tokens.expiresAt <= this.now()) {
        return { kind: 'unknown', reason: 'the access token expired and the provider gave no refresh token' };
      }
      const info = this.wanted().every((claim) => idToken?.[claim] !== undefined) ? undefined : await this.core.userInfo(current.accessToken, sub);
      const claims = info || idToken ? { ...info, ...idToken } : undefined;
      const changed = current === tokens ? {} : { tokens: current };
      if (!claims) {
        // Nothing to read claims from: a granted refresh still says the provider knows the user.
        return tokens.refreshToken ? { kind: 'valid', identity, ...changed } : { kind: 'unknown', reason: 'the provider has no UserInfo endpoint and gave no refresh token' };
      }
      const result = this.identify(claims, sub);
      if (result.kind !== 'ok') return { kind: 'invalid', reason: result.kind === 'denied' ? result.reason : 'not recognised' };
      return { kind: 'valid', identity: result.identity, ...changed };
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'error';
      return refusedByProvider(err) ? { kind: 'invalid', reason } : { kind: 'unknown', reason };
    }
  }

  /** This login's rules applied to the claims: who the account is, and whether they may sign in. */
  private identify(claims: Record<string, unknown>, sub: string): AuthnResult {
    if (this.config.type === 'google') {
      if (claims.email_verified !== true || typeof claims.email !== 'string') return { kind: 'denied', reason: 'the Google account has no verified e-mail address' };
      const domains = this.config.allowedDomains;
      if (domains.length > 0 && !domains.includes(String(claims.hd ?? ''))) {
        return { kind: 'denied', reason: `the Google account is not in an allowed domain (${domains.join(', ')})` };
      }
      const derived = deriveAccountName(claims.email, this.config.accountTransform, 'the e-mail address');
      if ('error' in derived) return { kind: 'denied', reason: derived.error };
      return this.ok(`${this.config.accountPrefix ?? ''}${derived.account}`, sub, { email: claims.email, hd: claims.hd ?? null });
    }
    const raw = claims[this.config.accountClaim];
    if (typeof raw !== 'string') return { kind: 'denied', reason: `neither the ID token nor UserInfo has a "${this.config.accountClaim}" claim` };
    // Anyone can type an address they do not own into most providers' profile forms.
    if (this.config.accountClaim === 'email' && !isTrue(claims.email_verified)) return { kind: 'denied', reason: 'the e-mail address is not verified (email_verified is not true)' };
    const derived = deriveAccountName(raw, this.config.accountTransform, `the "${this.config.accountClaim}" claim`);
    if ('error' in derived) return { kind: 'denied', reason: derived.error };
    const listed = claims[this.config.groupsClaim];
    const groups = Array.isArray(listed) ? listed.map(String) : [];
    const allowed = this.config.allowedGroups;
    if (allowed.length > 0 && !groups.some((g) => allowed.includes(g))) return { kind: 'denied', reason: `the user is in none of the allowed groups (${allowed.join(', ')})` };
    return this.ok(derived.account, sub, { issuer: this.config.issuer, groups, email: claims.email ?? null });
  }

  private tokens(accessToken: string, refreshToken: string | undefined, expiresIn: number | undefined): UpstreamTokens {
    return { accessToken, ...(refreshToken ? { refreshToken } : {}), expiresAt: this.now() + (expiresIn ?? ASSUMED_ACCESS_TOKEN_SECONDS) * 1000 };
  }

  private ok(account: string, subject: string, attributes: Record<string, unknown>): AuthnResult {
    return { kind: 'ok', identity: { account, provider: this.type, subject, attributes, owner: { source: this.source, subject } } };
  }

  /** The claims this login reads. */
  private wanted(): string[] {
    if (this.config.type === 'google') return ['email', 'email_verified'];
    return [this.config.accountClaim, this.config.groupsClaim, ...(this.config.accountClaim === 'email' ? ['email_verified'] : [])];
  }

  /**
   * The ID token's claims, completed from UserInfo when it lacks one this login reads: providers
   * following OIDC Core §5.4 (oidc-provider, Okta...) put scope claims only there. UserInfo must
   * name the same `sub`; the ID token's own claims win.
   */
  private async withUserInfo(idToken: Record<string, unknown>, sub: string, accessToken: string): Promise<Record<string, unknown>> {
    if (this.wanted().every((claim) => idToken[claim] !== undefined)) return idToken;
    const info = await this.core.userInfo(accessToken, sub);
    return info ? { ...info, ...idToken } : idToken;
  }
}

/** `email_verified` as a boolean, or the string some providers send. */
function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}
