import { z } from 'zod';
import { isAscii, nonAsciiAccountProblem } from '../../domain/account-name.js';
import type { Identity } from '../../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import { GITHUB_MAX_PAGES, githubSource, inAllowedOrganisation, organisationLogins, readGithubList, type GithubPage } from '../oauth2-core/github-api.js';
import type { GithubTokenAuthnConfig } from './github-token-config.js';
import { isRepositoryPathComponent } from '../../domain/scope.js';
import { ProviderTokenVerifier, type ProviderTokenDeps, type ProviderVerdict } from './provider-token-verifier.js';

/** GitHub's token formats (2021 on): classic PAT, OAuth, App user-to-server, fine-grained PAT. */
const GITHUB_TOKEN = /^(?:gh[pou]_[A-Za-z0-9]{30,251}|github_pat_[A-Za-z0-9_]{30,244})$/;

/** What is cached about a GitHub token. */
interface GithubFacts {
  readonly id: number;
  readonly login: string;
  /** Lower-cased organisation logins (ASCII ones only); present when fetched. */
  readonly orgs?: readonly string[];
}

const userSchema = z.looseObject({ login: z.string().min(1), id: z.number().int() });
const errorSchema = z.looseObject({ message: z.string() });

/**
 * GitHub tokens as passwords, checked with `GET /user` (and `/user/orgs` when organisations
 * matter). GitHub's answer is cached under a keyed hash of the token; policy (username, orgs) is
 * applied on every login, so it never goes stale in the cache.
 */
export class GithubTokenAuthenticator implements PasswordAuthenticator {
  readonly type = 'github-token';
  // No refresh(): revoking the token on GitHub must end access, and a Wharf refresh token would outlive it.
  private readonly verifier: ProviderTokenVerifier<GithubFacts>;
  private readonly apiUrl: string;
  private readonly needOrgs: boolean;
  private readonly allowedOrgs: readonly string[];
  private readonly allowedUsers: ReadonlySet<string>;
  /** GitHub users are bound by their numeric id to the GitHub they come from (shared with the GitHub login on the same host). */
  private readonly source: string;

  constructor(
    private readonly config: GithubTokenAuthnConfig,
    deps: ProviderTokenDeps,
  ) {
    this.apiUrl = config.apiUrl.replace(/\/+$/, '');
    this.verifier = new ProviderTokenVerifier({ type: this.type, endpoint: this.apiUrl, config }, deps);
    this.allowedOrgs = config.allowedOrgs.map((o) => o.toLowerCase());
    this.allowedUsers = new Set(config.allowedUsers.map((u) => u.toLowerCase()));
    this.source = githubSource(config.apiUrl);
    this.needOrgs = config.fetchOrgs || this.allowedOrgs.length > 0;
  }

  circuitState() {
    return this.verifier.circuitState();
  }

  async login(username: string, password: string, _context: LoginContext): Promise<AuthnResult> {
    if (!GITHUB_TOKEN.test(password)) return { kind: 'no_match' };
    const verdict = await this.verifier.verdict(password, () => this.ask(password), this.usable);
    if (!verdict.valid) return { kind: 'denied', reason: verdict.reason };
    return this.judge(username, verdict.facts);
  }

  async recall(username: string, password: string, _context: LoginContext): Promise<AuthnResult | undefined> {
    if (!GITHUB_TOKEN.test(password)) return { kind: 'no_match' };
    const verdict = await this.verifier.cachedValid(password, this.usable);
    const result = verdict && this.judge(username, verdict.facts);
    return result?.kind === 'ok' ? result : undefined;
  }

  /** A cached answer without the organisations is asked again when they matter. */
  private readonly usable = (v: ProviderVerdict<GithubFacts>) => !this.needOrgs || !v.valid || v.facts.orgs !== undefined;

  /** Policy (name grammar, username, organisations), applied to GitHub's facts on every login. */
  private judge(username: string, facts: GithubFacts): AuthnResult {
    const { id, login, orgs } = facts;
    const nonAscii = nonAsciiAccountProblem('GitHub login', login);
    if (nonAscii) return { kind: 'denied', reason: nonAscii };
    const account = `${this.config.accountPrefix ?? ''}${login.toLowerCase()}`;
    // Enterprise Managed Users' logins end in `_shortcode`, which the grammar allows.
    if (!isRepositoryPathComponent(account)) return { kind: 'denied', reason: `GitHub login ${JSON.stringify(login.slice(0, 100))} is not a valid registry name` };
    if (this.config.usernamePolicy === 'match' && ![login.toLowerCase(), account].includes(username.toLowerCase())) {
      return { kind: 'denied', reason: `the username ${JSON.stringify(username.slice(0, 100))} is not the token's GitHub login ${JSON.stringify(login)}` };
    }
    const listed = this.allowedUsers.has(login.toLowerCase());
    if (this.allowedUsers.size > 0 && this.allowedOrgs.length === 0 && !listed) {
      return { kind: 'denied', reason: `GitHub user ${login} is not one of allowedUsers` };
    }
    if (this.allowedOrgs.length > 0 && !listed && !inAllowedOrganisation(orgs ?? [], this.allowedOrgs)) {
      return { kind: 'denied', reason: `GitHub user ${login} is in none of the allowed organisations (${this.allowedOrgs.join(', ')})` };
    }
    const attributes: Record<string, unknown> = { github_id: id, login };
    if (orgs !== undefined) attributes.orgs = orgs;
    const identity: Identity = { account, provider: this.type, subject: String(id), attributes, owner: { source: this.source, subject: String(id) } };
    return { kind: 'ok', identity };
  }

  private headers(token: string): Record<string, string> {
    return { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
  }

  private async ask(token: string): Promise<ProviderVerdict<GithubFacts>> {
    const response = await this.verifier.get(`${this.apiUrl}/user`, this.headers(token), 'GitHub GET /user');
    const refused = this.refusal(response.status, response.body, 'GET /user');
    if (refused) return refused;
    if (response.status !== 200) return this.verifier.unusable(`GitHub GET /user answered ${response.status}`);
    const user = userSchema.safeParse(this.verifier.json(response, 'GitHub GET /user'));
    if (!user.success) return this.verifier.unusable('GitHub GET /user answered without a login and numeric id');
    if (!this.needOrgs) return { valid: true, facts: { id: user.data.id, login: user.data.login } };
    const orgs = await this.orgs(token);
    if (!Array.isArray(orgs)) return orgs;
    return { valid: true, facts: { id: user.data.id, login: user.data.login, orgs } };
  }

  private async orgs(token: string): Promise<string[] | ProviderVerdict<GithubFacts>> {
    const list = await readGithubList(this.apiUrl, '/user/orgs', async (url): Promise<GithubPage<ProviderVerdict<GithubFacts>>> => {
      const response = await this.verifier.get(url, this.headers(token), 'GitHub GET /user/orgs');
      if (response.status === 403 && !isRateLimit(response.body)) {
        return { ok: false, failure: { valid: false, reason: 'GitHub refused to list the user’s organisations (403): the token needs read:org' } };
      }
      const refused = this.refusal(response.status, response.body, 'GET /user/orgs');
      if (refused) return { ok: false, failure: refused };
      if (response.status !== 200) return this.verifier.unusable(`GitHub GET /user/orgs answered ${response.status}`);
      const items = this.verifier.json(response, 'GitHub GET /user/orgs');
      if (!Array.isArray(items)) return this.verifier.unusable('GitHub GET /user/orgs answered something other than a list of organisations');
      return { ok: true, items, link: response.link };
    });
    if (!list.ok) return list.failure;
    const logins = organisationLogins(list.items);
    if (!logins) return this.verifier.unusable('GitHub GET /user/orgs answered something other than a list of organisations');
    if (list.truncated) this.verifier.log.warn({ event: 'github_orgs_truncated', pages: GITHUB_MAX_PAGES }, 'user belongs to more organisations than Wharf reads; the rest are ignored');
    // Kept lower-cased, and only the ASCII ones: a non-ASCII name could fold onto an allowed one (see isAscii).
    return logins.filter((o) => isAscii(o)).map((o) => o.toLowerCase());
  }

  /** A definite "no" from GitHub, or undefined; rate limits are not a "no" (503). */
  private refusal(status: number, body: string, what: string): ProviderVerdict<GithubFacts> | undefined {
    if (status === 401) return { valid: false, reason: `GitHub rejected the token at ${what} (401): unknown, expired or revoked` };
    if (status === 429 || (status === 403 && isRateLimit(body))) return this.verifier.unusable(`GitHub ${what} is rate limiting Wharf (${status})`);
    if (status === 403) return { valid: false, reason: `GitHub refused the token at ${what} (403)` };
    return undefined;
  }
}

function isRateLimit(body: string): boolean {
  try {
    const parsed = errorSchema.safeParse(JSON.parse(body));
    return parsed.success && /rate limit/i.test(parsed.data.message);
  } catch {
    return false;
  }
}
