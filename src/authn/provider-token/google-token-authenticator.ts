import { z } from 'zod';
import { nonAsciiAccountProblem } from '../../domain/account-name.js';
import type { Identity } from '../../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import type { GoogleTokenAuthnConfig } from './google-token-config.js';
import { isRepositoryPathComponent } from '../../domain/scope.js';
import { ProviderTokenVerifier, type ProviderTokenDeps, type ProviderVerdict } from './provider-token-verifier.js';

/** Google OAuth 2.0 access tokens. */
const GOOGLE_TOKEN = /^ya29\.[A-Za-z0-9_.-]{20,4096}$/;

/** What is cached about a Google token: tokeninfo's answer, trimmed. */
interface GoogleFacts {
  readonly sub: string | undefined;
  readonly email: string | undefined;
  readonly emailVerified: boolean;
  readonly aud: string | undefined;
  readonly azp: string | undefined;
  readonly hd: string | undefined;
}

// tokeninfo sends numbers and booleans as strings ("exp": "1767225600", "email_verified": "true").
const tokeninfoSchema = z.looseObject({
  sub: z.string().optional(),
  email: z.string().optional(),
  email_verified: z.union([z.string(), z.boolean()]).optional(),
  aud: z.string().optional(),
  azp: z.string().optional(),
  hd: z.string().optional(),
  exp: z.union([z.string().regex(/^\d+$/), z.number().int()]).optional(),
});

/** Google accounts are bound by their `sub` to Google itself, the same source as the Google browser login. */
export const GOOGLE_SOURCE = 'google:accounts.google.com';

/**
 * Google access tokens as passwords, checked with tokeninfo: issued to a configured client, with
 * a verified email in an allowed domain. The account comes from the email.
 */
export class GoogleTokenAuthenticator implements PasswordAuthenticator {
  readonly type = 'google-token';
  // No refresh(): revoking the token at Google must end access, and a Wharf refresh token would outlive it.
  private readonly verifier: ProviderTokenVerifier<GoogleFacts>;
  private readonly allowedDomains: ReadonlySet<string>;

  constructor(
    private readonly config: GoogleTokenAuthnConfig,
    deps: ProviderTokenDeps,
  ) {
    this.verifier = new ProviderTokenVerifier({ type: this.type, endpoint: config.tokeninfoUrl, config }, deps);
    this.allowedDomains = new Set(config.allowedDomains.map((d) => d.toLowerCase()));
  }

  circuitState() {
    return this.verifier.circuitState();
  }

  async login(username: string, password: string, _context: LoginContext): Promise<AuthnResult> {
    if (!GOOGLE_TOKEN.test(password)) return { kind: 'no_match' };
    const verdict = await this.verifier.verdict(password, () => this.ask(password));
    if (!verdict.valid) return { kind: 'denied', reason: verdict.reason };
    return this.judge(username, verdict.facts, verdict.expiresAt);
  }

  async recall(username: string, password: string, _context: LoginContext): Promise<AuthnResult | undefined> {
    if (!GOOGLE_TOKEN.test(password)) return { kind: 'no_match' };
    const verdict = await this.verifier.cachedValid(password);
    const result = verdict && this.judge(username, verdict.facts, verdict.expiresAt);
    return result?.kind === 'ok' ? result : undefined;
  }

  /** Policy (client, verified email, domain, username), applied to tokeninfo's facts on every login. */
  private judge(username: string, facts: GoogleFacts, expiresAt: number | undefined): AuthnResult {
    const client = [facts.aud, facts.azp].find((c) => c !== undefined && this.config.clientIds.includes(c));
    if (!client) return { kind: 'denied', reason: `the token was issued to OAuth client ${JSON.stringify(facts.azp ?? facts.aud ?? '')}, not one of clientIds` };
    if (!facts.email) return { kind: 'denied', reason: 'the token carries no email (it needs the email scope)' };
    if (!facts.emailVerified) return { kind: 'denied', reason: `the token's email ${facts.email} is not verified` };
    const nonAscii = nonAsciiAccountProblem('the token’s email', facts.email) ?? nonAsciiAccountProblem('the token’s hosted domain', facts.hd ?? '');
    if (nonAscii) return { kind: 'denied', reason: nonAscii };
    const at = facts.email.lastIndexOf('@');
    const local = facts.email.slice(0, at).toLowerCase();
    const emailDomain = facts.email.slice(at + 1).toLowerCase();
    if (at <= 0 || emailDomain === '') return { kind: 'denied', reason: 'the token’s email is malformed' };
    const domain = facts.hd?.toLowerCase() ?? emailDomain;
    if (this.allowedDomains.size > 0 && !this.allowedDomains.has(domain)) {
      return { kind: 'denied', reason: `domain ${domain} is not one of allowedDomains (${[...this.allowedDomains].join(', ')})` };
    }
    const account = `${this.config.accountPrefix ?? ''}${this.config.accountFrom === 'email' ? `${local}_at_${emailDomain}` : local}`;
    if (!isRepositoryPathComponent(local) || !isRepositoryPathComponent(account)) {
      return { kind: 'denied', reason: `no valid registry account can be made from ${facts.email} (${this.config.accountFrom})` };
    }
    if (this.config.usernamePolicy === 'match' && ![account, facts.email.toLowerCase()].includes(username.toLowerCase())) {
      return { kind: 'denied', reason: `the username ${JSON.stringify(username.slice(0, 100))} is neither the account ${account} nor the token's email` };
    }
    const attributes: Record<string, unknown> = { email: facts.email, client };
    if (facts.sub !== undefined) attributes.google_sub = facts.sub;
    if (facts.hd !== undefined) attributes.hd = facts.hd;
    if (expiresAt !== undefined) attributes.expiresAt = expiresAt;
    const subject = facts.sub ?? facts.email;
    const identity: Identity = { account, provider: this.type, subject, attributes, owner: { source: GOOGLE_SOURCE, subject } };
    return { kind: 'ok', identity };
  }

  private async ask(token: string): Promise<ProviderVerdict<GoogleFacts>> {
    // A POST with the token as bearer, as Google's own client library asks: a token in the query
    // string would end up in the access logs of every proxy between Wharf and Google.
    const response = await this.verifier.post(
      this.config.tokeninfoUrl,
      { accept: 'application/json', authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      '',
      'Google tokeninfo',
    );
    // Google answers 400 {"error":"invalid_token"} for unknown, expired and revoked tokens.
    if (response.status === 400 || response.status === 401) return { valid: false, reason: `Google rejected the token (${response.status}): unknown, expired or revoked` };
    if (response.status === 429) return this.verifier.unusable('Google tokeninfo is rate limiting Wharf (429)');
    if (response.status !== 200) return this.verifier.unusable(`Google tokeninfo answered ${response.status}`);
    const parsed = tokeninfoSchema.safeParse(this.verifier.json(response, 'Google tokeninfo'));
    if (!parsed.success) return this.verifier.unusable('Google tokeninfo answered an unexpected shape');
    const info = parsed.data;
    const facts: GoogleFacts = {
      sub: info.sub,
      email: info.email,
      emailVerified: info.email_verified === true || info.email_verified === 'true',
      aud: info.aud,
      azp: info.azp,
      hd: info.hd,
    };
    return info.exp === undefined ? { valid: true, facts } : { valid: true, facts, expiresAt: Number(info.exp) };
  }
}
