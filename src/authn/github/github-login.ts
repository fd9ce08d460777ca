import { deriveAccountName } from '../../domain/account-name.js';
import type { AuthnResult, CallbackAuthenticator, CallbackRequest, CallbackResult, LoginTransaction, Recheck, UpstreamTokens } from '../authenticator.js';
import { githubSource, inAllowedOrganisation, organisationLogins, readGithubList, teamSlugs, type GithubList, type GithubPage } from '../oauth2-core/github-api.js';
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
  /** GitHub users are bound by their numeric id to the GitHub they come from (shared with `github-token` on the same host). */
  private readonly source: string;

  constructor(
    private readonly config: GithubLoginConfig,
    credentials: ClientCredentials,
    private readonly now: () => number = Date.now,
  ) {
    this.name = config.name ?? 'github';
    this.displayName = config.displayName ?? 'GitHub';
    this.logoUrl = config.logoUrl;
    this.api = config.apiUrl.replace(/\/+$/, '');
    this.source = githubSource(config.apiUrl);
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

  prepare(): Record<string, string> {
    return this.core.prepare();
  }

  loginUrl(redirectUri: string, transaction: LoginTransaction): Promise<string> {
    return this.core.loginUrl(redirectUri, transaction);
  }

  async handleCallback(callback: CallbackRequest, transaction: LoginTransaction): Promise<CallbackResult> {
    const { accessToken, expiresIn } = await this.core.exchange(callback.url, transaction);
    const result = await this.identify(accessToken);
    // An OAuth app's token does not expire. A GitHub App's user token does (8 h), and its refresh
    // token is not used: credentials from such logins are capped like any login without one.
    const upstream: UpstreamTokens = { accessToken, ...(expiresIn !== undefined ? { expiresAt: this.now() + expiresIn * 1000 } : {}) };
    return result.kind === 'ok' ? { ...result, upstream } : result;
  }

  /** Asks GitHub who the token belongs to now, and whether the configured organisations still admit them. */
  async revalidate(tokens: UpstreamTokens): Promise<Recheck> {
    try {
      const result = await this.identify(tokens.accessToken);
      return result.kind === 'ok' ? { kind: 'valid', identity: result.identity } : { kind: 'invalid', reason: result.kind === 'denied' ? result.reason : 'not recognised' };
    } catch (err) {
      return { kind: 'unknown', reason: err instanceof Error ? err.message : 'error' };
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
    const derived = deriveAccountName(profile.login, 'lowercase', 'GitHub login');
    if ('error' in derived) return { kind: 'denied', reason: derived.error };
    const account = `${this.config.accountPrefix ?? ''}${derived.account}`;

    const attributes: Record<string, unknown> = { login: profile.login, github_id: profile.id ?? null };
    let member = false;
    if (this.config.allowedOrgs.length > 0 || this.config.fetchTeams) {
      const orgs = await this.list(accessToken, '/user/orgs');
      const names = orgs.ok ? organisationLogins(orgs.items) : undefined;
      if (!names) throw new Error(`GitHub /user/orgs answered ${orgs.ok ? 'something other than a list of organisations' : orgs.failure}`);
      attributes.orgs = names;
      member = inAllowedOrganisation(names, this.config.allowedOrgs);
    }
    const restricted = this.config.allowedOrgs.length + this.config.allowedUsers.length > 0;
    if (restricted && !member && !this.allowedUser(profile.login)) {
      return {
        kind: 'denied',
        reason: this.config.allowedOrgs.length > 0
          ? `the GitHub user is not a member of an allowed organisation (${this.config.allowedOrgs.join(', ')})`
          : `GitHub user ${profile.login} is not one of allowedUsers`,
      };
    }
    if (this.config.fetchTeams) {
      // Teams only add groups: a list GitHub would not give leaves none rather than failing the login.
      const teams = await this.list(accessToken, '/user/teams');
      attributes.teams = teams.ok ? teamSlugs(teams.items) : [];
    }
    const subject = String(profile.id ?? profile.login);
    return { kind: 'ok', identity: { account, provider: this.type, subject, attributes, owner: { source: this.source, subject } } };
  }

  /** Every page of a list of the user's (up to GITHUB_MAX_PAGES), or the status of the page GitHub answered otherwise than with a list. */
  private list(accessToken: string, path: string): Promise<GithubList<number>> {
    return readGithubList(this.api, path, async (url): Promise<GithubPage<number>> => {
      const page = await this.core.fetchJson(accessToken, url);
      return page.status === 200 && Array.isArray(page.body) ? { ok: true, items: page.body, link: page.link } : { ok: false, failure: page.status };
    });
  }

  private allowedUser(login: string): boolean {
    return this.config.allowedUsers.some((u) => u.toLowerCase() === login.toLowerCase());
  }
}
