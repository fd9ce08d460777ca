import { deriveAccountName } from '../../domain/account-name.js';
import type { AuthnResult, CallbackAuthenticator, CallbackResult, LoginTransaction } from '../authenticator.js';
import { OAuth2Core, type ClientCredentials } from '../oauth2-core/oauth2-core.js';
import type { GithubLoginConfig } from './github-config.js';

/** Browser login with GitHub: authorize → token → `GET /user` (+ `/user/orgs`, `/user/teams`). */
export class GithubLogin implements CallbackAuthenticator {
  readonly type = 'github';
  readonly name: string;
  readonly displayName: string;
  readonly logoUrl: string | undefined;
  private readonly core: OAuth2Core;
  private readonly api: string;

  constructor(
    private readonly config: GithubLoginConfig,
    credentials: ClientCredentials,
  ) {
    this.name = config.name ?? 'github';
    this.displayName = config.displayName ?? 'GitHub';
    this.logoUrl = config.logoUrl;
    this.api = config.apiUrl.replace(/\/+$/, '');
    const web = config.webUrl.replace(/\/+$/, '');
    const scopes = ['read:user', ...(config.allowedOrgs.length > 0 || config.fetchTeams ? ['read:org'] : [])];
    this.core = new OAuth2Core({
      server: { kind: 'static', issuer: web, authorizationUrl: `${web}/login/oauth/authorize`, tokenUrl: `${web}/login/oauth/access_token` },
      clientId: config.clientId,
      credentials,
      scopes,
      oidc: false,
    });
  }

  loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string> {
    return this.core.loginUrl(redirectUri, transaction);
  }

  async handleCallback(callbackUrl: URL, transaction: LoginTransaction): Promise<CallbackResult> {
    const { accessToken } = await this.core.exchange(callbackUrl, transaction);
    const result = await this.identify(accessToken);
    return result.kind === 'ok' ? { ...result, upstreamToken: accessToken } : result;
  }

  async revalidate(accessToken: string): Promise<'valid' | 'invalid' | 'unknown'> {
    try {
      const result = await this.identify(accessToken);
      return result.kind === 'ok' ? 'valid' : 'invalid';
    } catch {
      return 'unknown';
    }
  }

  /** Who the token belongs to, and whether the configured organisations still admit them. Throws when GitHub cannot be asked. */
  private async identify(accessToken: string): Promise<AuthnResult> {
    const user = await this.core.fetchJson(accessToken, `${this.api}/user`);
    // Only 401 says the token is bad. A rate limit (403/429) or an outage says nothing about the
    // user, and a revalidation that called it "denied" would revoke their credentials.
    if (user.status === 401) return { kind: 'denied', reason: 'GitHub /user answered 401' };
    const profile = user.body as { login?: unknown; id?: unknown } | undefined;
    if (user.status !== 200 || typeof profile?.login !== 'string') throw new Error(`GitHub /user answered ${user.status}`);
    const account = deriveAccountName(profile.login, 'lowercase');
    if (!account) return { kind: 'denied', reason: `GitHub login "${profile.login}" does not give a valid account name` };

    const attributes: Record<string, unknown> = { login: profile.login, github_id: profile.id ?? null };
    if (this.config.allowedOrgs.length > 0 || this.config.fetchTeams) {
      // GitHub pages 30 by default; 100 is its largest page.
      const orgs = await this.core.fetchJson(accessToken, `${this.api}/user/orgs?per_page=100`);
      if (orgs.status !== 200 || !Array.isArray(orgs.body)) throw new Error(`GitHub /user/orgs answered ${orgs.status}`);
      const names = orgs.body.map((o: { login?: unknown }) => String(o.login));
      attributes.orgs = names;
      const allowed = this.config.allowedOrgs.map((o) => o.toLowerCase());
      if (allowed.length > 0 && !names.some((n) => allowed.includes(n.toLowerCase()))) {
        return { kind: 'denied', reason: `the GitHub user is not a member of an allowed organisation (${this.config.allowedOrgs.join(', ')})` };
      }
    }
    if (this.config.fetchTeams) {
      const teams = await this.core.fetchJson(accessToken, `${this.api}/user/teams`);
      attributes.teams = Array.isArray(teams.body)
        ? teams.body.map((t: { slug?: unknown; organization?: { login?: unknown } }) => `${String(t.organization?.login)}/${String(t.slug)}`)
        : [];
    }
    return { kind: 'ok', identity: { account, provider: this.type, subject: String(profile.id ?? profile.login), attributes } };
  }
}
