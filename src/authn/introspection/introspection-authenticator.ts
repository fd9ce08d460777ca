import type { Logger } from 'pino';
import { z } from 'zod';
import type { Cache } from '../../cache/cache.js';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import { type UpstreamObserver, UpstreamClient, UpstreamError } from '../../upstream/upstream-client.js';
import { upstreamClient } from '../../upstream/upstream-settings.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import { VerifiedCredentials } from '../verified-credentials.js';
import type { IntrospectionAuthnConfig } from './introspection-config.js';

/** What is cached about a token: the platform's facts, never the token. */
type TokenFacts = { active: false } | ActiveToken;
type ActiveToken = { active: true; account: string; subject: string; exp: number | undefined; attributes: Record<string, unknown> };

/** Dependencies of the introspection backend. */
export interface IntrospectionDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** The resolved client secret. */
  clientSecret: string;
  upstream?: UpstreamClient;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  now?: () => number;
}

const answerSchema = z.looseObject({
  active: z.boolean(),
  exp: z.number().optional(),
  scope: z.string().optional(),
});

/** Claims that describe the token itself rather than the user; not passed on as attributes. */
const NON_ATTRIBUTE_CLAIMS = new Set(['active', 'exp', 'iat', 'nbf', 'jti', 'token_type']);

/**
 * Platform API tokens as passwords, checked by RFC 7662 introspection (or the SAGE dialect).
 * Results are cached under a keyed hash of the token; concurrent checks of one token share a
 * call; an unreachable platform yields 503, never 401, since the user's token may be fine.
 */
export class IntrospectionAuthenticator implements PasswordAuthenticator {
  readonly type = 'introspection';
  // No refresh(): revoking the platform token must end access, and a Wharf refresh token would outlive it.
  private readonly upstream: UpstreamClient;
  /** The platform's answers: active ones for `cacheSeconds` (never past `exp`), inactive ones for `negativeCacheSeconds`. */
  private readonly verified: VerifiedCredentials<TokenFacts, ActiveToken>;
  private readonly now: () => number;
  private readonly pattern: RegExp | undefined;
  private readonly log: Logger;
  /** The platform its users' account names are bound to: the endpoint without userinfo or query, which may hold secrets. */
  private readonly source: string;

  constructor(
    private readonly config: IntrospectionAuthnConfig,
    private readonly deps: IntrospectionDeps,
  ) {
    const endpoint = new URL(config.url);
    this.source = `introspection:${endpoint.origin}${endpoint.pathname}`;
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'introspection', dialect: config.dialect });
    this.verified = new VerifiedCredentials({
      cache: deps.cache,
      hashKey: deps.hashKey,
      prefix: 'intro:',
      scope: ['introspection', config.url],
      accepted: (facts): facts is ActiveToken => facts.active,
      acceptedSeconds: config.cacheSeconds,
      refusedSeconds: config.negativeCacheSeconds,
      expiresAt: (facts) => facts.exp,
      now: this.now,
    });
    this.pattern = config.tokenPattern ? new RegExp(config.tokenPattern) : undefined;
    const timeoutMs = config.timeoutMs ?? (config.dialect === 'sage' ? 5000 : 2000);
    this.upstream = deps.upstream ?? upstreamClient('introspection', { ...config, timeoutMs }, { now: this.now, observer: deps.upstreamObserver });
  }

  circuitState() {
    return this.upstream.circuitState();
  }

  /** What to drop when the platform revokes a token (the admin route and platform messages). */
  invalidationKeys(token: string): string[] {
    return [this.cacheKey(token)];
  }

  /** The cache key of a token's introspection. */
  cacheKey(token: string): string {
    return this.verified.key([token]);
  }

  async login(username: string, password: string, _context: LoginContext): Promise<AuthnResult> {
    if (this.pattern && !this.pattern.test(password)) return { kind: 'no_match' };
    if (password === '') return { kind: 'no_match' };
    return this.judge(username, await this.verified.verdict([password], () => this.introspect(password)));
  }

  async recall(username: string, password: string, _context: LoginContext): Promise<AuthnResult | undefined> {
    if ((this.pattern && !this.pattern.test(password)) || password === '') return { kind: 'no_match' };
    const facts = await this.verified.recall([password]);
    const result = facts && this.judge(username, facts);
    return result?.kind === 'ok' ? result : undefined;
  }

  /** What the platform's facts about a token mean for a login as `username`. */
  private judge(username: string, facts: TokenFacts): AuthnResult {
    if (!facts.active || (facts.exp !== undefined && facts.exp * 1000 <= this.now())) {
      return { kind: 'denied', reason: 'the token is not active (expired, revoked or unknown)' };
    }
    let account = facts.account;
    if (this.config.usernamePolicy === 'match' && username !== facts.account) {
      // SAGE: a token may act for the users its scope lists as `sage_username:<user>`; it then acts as that user.
      if (!this.actsFor(username, facts)) return { kind: 'denied', reason: 'the username does not match the token’s user' };
      account = username;
    }
    // The token's `exp` caps what it buys (TokenService.lifetimeFor): no registry token outlives
    // the platform token it was minted from. Wharf's own attribute, whatever the platform sent.
    const { expiresAt: _, ...claims } = facts.attributes;
    const attributes = facts.exp === undefined ? claims : { ...claims, expiresAt: facts.exp };
    // The platform decides which of its users is which account (a SAGE token may act for another
    // user), so accounts are bound to the platform, not to one subject.
    const identity: Identity = { account, provider: this.type, subject: facts.subject, attributes, owner: { source: this.source } };
    return { kind: 'ok', identity };
  }

  private actsFor(username: string, facts: ActiveToken): boolean {
    if (this.config.dialect !== 'sage' || username === '') return false;
    const scope = typeof facts.attributes.scope === 'string' ? facts.attributes.scope : '';
    return scope.split(' ').includes(`sage_username:${username}`);
  }

  private async introspect(token: string): Promise<TokenFacts> {
    const sage = this.config.dialect === 'sage';
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: sage ? 'application/json; indent=4' : 'application/json',
    };
    const form: Record<string, string> = sage ? { token } : { token, token_type_hint: 'access_token' };
    const { clientId } = this.config;
    const secret = this.deps.clientSecret;
    switch (this.config.clientAuth ?? (sage ? 'basic' : 'client_secret_basic')) {
      case 'client_secret_basic':
        headers.authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`).toString('base64')}`;
        break;
      case 'client_secret_post':
        Object.assign(form, { client_id: clientId, client_secret: secret });
        break;
      case 'basic':
        headers.authorization = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
        break;
      case 'bearer':
        headers.authorization = `Bearer ${secret}`;
        break;
    }
    const body = new URLSearchParams(form).toString();
    let response;
    try {
      response = await this.upstream.request(this.config.url, { method: 'POST', headers, body });
    } catch (err) {
      const why = err instanceof UpstreamError ? err.message : String(err);
      this.log.warn({ event: 'introspection_unavailable', failure: err instanceof UpstreamError ? err.failure : 'error' }, `introspection failed: ${why}; refusing with 503 (fail closed)`);
      throw new TemporarilyUnavailableError('token introspection is unavailable; try again shortly', { cause: err });
    }
    if (response.status === 401 || response.status === 403) {
      this.log.error(
        { event: 'introspection_credentials_rejected', status: response.status },
        'the introspection endpoint refused Wharf’s own client credentials: fix the client id/secret; users get 503 meanwhile',
      );
      throw new TemporarilyUnavailableError('token introspection is unavailable; try again shortly');
    }
    // SAGE answers 404 "token expired" and 410 "token not found" for bad user tokens.
    if (sage && (response.status === 404 || response.status === 410)) return { active: false };
    if (response.status !== 200) return this.garbage(`answered ${response.status}`);
    if (!/\bjson\b/i.test(response.contentType)) return this.garbage(`answered with content type ${JSON.stringify(response.contentType.slice(0, 60))}, not JSON`);
    let json: unknown;
    try {
      json = JSON.parse(response.body);
    } catch {
      return this.garbage('answered with a body that is not JSON');
    }
    const parsed = answerSchema.safeParse(json);
    if (!parsed.success) return this.garbage('answered JSON without a boolean "active"');
    const claims = parsed.data as Record<string, unknown> & { active: boolean; exp?: number };
    if (!claims.active) return { active: false };
    const account = stringClaim(claims[this.config.usernameClaim]) ?? stringClaim(claims.sub);
    if (!account) return this.garbage(`active answer without "${this.config.usernameClaim}" or "sub"`);
    const attributes: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(claims)) if (!NON_ATTRIBUTE_CLAIMS.has(name)) attributes[name] = value;
    return { active: true, account, subject: stringClaim(claims.sub) ?? account, exp: claims.exp, attributes };
  }

  private garbage(why: string): never {
    this.log.warn({ event: 'introspection_garbage' }, `introspection endpoint ${why}; refusing with 503 (fail closed)`);
    throw new TemporarilyUnavailableError('token introspection gave an unusable answer; try again shortly');
  }
}

/**
 * application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B), which servers
 * undo before comparing: a `+` sent raw would be read as a space, a `:` in the id would split it.
 */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
