import type { AuthnResult, CallbackAuthenticator, CallbackRequest, CallbackResult, LoginTransaction } from '../authenticator.js';
import { deriveAccountName } from '../../domain/account-name.js';
import { OAuth2Core, type ClientCredentials } from '../oauth2-core/oauth2-core.js';
import type { GoogleLoginConfig, OidcLoginConfig } from './oidc-config.js';

/**
 * Browser login through an OpenID Connect issuer; Google is this with its issuer, the `email`
 * claim and an optional hosted-domain rule.
 */
export class OidcLogin implements CallbackAuthenticator {
  readonly name: string;
  readonly type: 'google' | 'oidc';
  readonly displayName: string;
  readonly logoUrl: string | undefined;
  private readonly core: OAuth2Core;
  /**
   * Users are bound by `sub` to the issuer's host for Google (so the Google login and the
   * `google-token` backend share accounts) and to the issuer for other issuers: `sub` is unique
   * per issuer (OIDC Core §2), so two provider entries for one issuer (say, two clients) name
   * the same people.
   */
  private readonly source: string;
  readonly accountPrefix: { prefix: string; source: string } | undefined;

  constructor(
    private readonly config: GoogleLoginConfig | OidcLoginConfig,
    credentials: ClientCredentials,
  ) {
    this.type = config.type;
    this.name = config.name ?? config.type;
    this.displayName = config.displayName ?? (config.type === 'google' ? 'Google' : this.name);
    this.logoUrl = config.logoUrl;
    const google = config.type === 'google';
    this.source = google ? `google:${new URL(config.issuer).host}` : `oidc:${config.issuer}`;
    this.accountPrefix = google && config.accountPrefix !== undefined ? { prefix: config.accountPrefix, source: this.source } : undefined;
    this.core = new OAuth2Core({
      server: { kind: 'discovery', issuer: config.issuer },
      clientId: config.clientId,
      credentials,
      scopes: google ? ['openid', 'email', 'profile'] : config.scopes,
      oidc: true,
      // Google shows only accounts of the one domain it is told about; the claim is still checked.
      ...(google && config.allowedDomains.length === 1 ? { extraParams: { hd: config.allowedDomains[0]! } } : {}),
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
    const { accessToken, claims: idToken } = await this.core.exchange(callback.url, transaction);
    if (!idToken) return { kind: 'denied', reason: 'the provider returned no ID token' };
    const sub = String(idToken.sub);
    const claims = await this.withUserInfo(idToken, sub, accessToken);
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
    const groups = claims[this.config.groupsClaim];
    return this.ok(derived.account, sub, { issuer: this.config.issuer, groups: Array.isArray(groups) ? groups.map(String) : [], email: claims.email ?? null });
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
