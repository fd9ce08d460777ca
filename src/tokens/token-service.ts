import type { Logger } from 'pino';
import type { PresentedCredentials, ProofRequest, Prover } from '../authn/prover-interface.js';
import type { Authorizer, ScopeDecision } from '../authz/authorizer.js';
import type { Grant } from '../domain/access.js';
import { actionsInScope, OUT_OF_CREDENTIAL_SCOPE, type CredentialScope } from '../domain/credential-scope.js';
import { InvalidRequestError, TemporarilyUnavailableError, TooManyRequestsError, UnauthorizedError } from '../domain/errors.js';
import type { Identity } from '../domain/identity.js';
import { formatScope, parseScopes } from '../domain/scope.js';
import type { RefusalLog } from '../logging/refusal-log.js';
import { logTokenIssued } from './audit-line.js';
import type { TokenMinter } from './minter.js';

/** How the client proved who it is (see the prover). */
export type TokenCredentials = PresentedCredentials;

/** A token request after HTTP parsing, whatever its wire form (GET query or POST form). */
export interface TokenRequest {
  /** `service`; when absent, the configured service is assumed. */
  readonly service: string | undefined;
  /** Raw scope strings (each may hold several space-separated scopes). */
  readonly scopes: readonly string[];
  /** `account`: when sent with a password it must equal the username. */
  readonly account: string | undefined;
  readonly credentials: TokenCredentials;
  /** Whether a refresh token was asked for (`offline_token=true` / `access_type=offline`). */
  readonly offline: boolean;
  readonly clientId: string | undefined;
  readonly clientIp: string;
  /** `password` and `refresh_token` for POST, `get` for the GET form; for the audit log. */
  readonly grantType: string;
  /**
   * The name of the request exactly as sent (RecentAnswers.sentKey), when that alone determines
   * every field above (a GET: its Authorization header and URL). Its answer is then found again
   * (RecentAnswers.answerAgain) before any parsing, and kept under this name.
   */
  readonly sentKey?: string | undefined;
}

/**
 * The token endpoint's answer, in the distribution token spec's field names. The spec asks for
 * `token` or `access_token` ("at least one"); every client reads `token` from a GET (docker,
 * containerd, containers/image), and OAuth clients read `access_token` from a POST. A token with
 * its certificate chain is 2-3 KB, so a GET answer carries it once: twice made every answer
 * twice as long, which cost a third of the HTTP rate.
 */
export interface TokenResponse {
  token: string;
  /** POST (OAuth2 form) answers only. */
  access_token?: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

/** Settings the token service needs. */
export interface TokenServiceOptions {
  service: string;
  lifetimeSeconds: number;
  actionLifetimeSeconds: Readonly<Record<string, number>>;
}

/** Dependencies of the token service. */
export interface TokenServiceDeps {
  /** Who sends a request: every credential, its limits and the account gate. */
  prover: Prover;
  authorizer: Authorizer;
  minter: TokenMinter;
  logger: Logger;
  /** Counts refusals by limits and says which to log one by one; without it every refusal is a line. */
  refusals?: RefusalLog | undefined;
  now?: () => number;
}

/** An answer and its JSON body, encoded once (tokens carry a certificate chain and appear twice in it). */
export interface TokenAnswer {
  response: TokenResponse;
  /** `response` as JSON (field order aside: expires_in comes last), as the bytes sent. */
  body: Buffer;
}

/** What the audit line says about an answer, whoever asks for it again. */
export interface AnswerAudit {
  account: string;
  provider: string;
  granted: string[];
  jti: string;
  grantType: string;
  clientIp: string;
  requested: readonly string[];
}

/** A decided answer, with what reusing it needs. */
export interface DecidedAnswer extends TokenAnswer {
  /** The answer's JSON up to the value of expires_in, the one field that changes on reuse (bytes; never written to). */
  head: Buffer;
  /** When its token expires, in seconds since the epoch. */
  exp: number;
  audit: AnswerAudit;
  /** Whether the request proved nothing (no identity): such answers get a share of their own where they are kept. */
  anonymous: boolean;
}

/**
 * The token endpoint without HTTP: parses the scopes, has the prover say who asks, authorizes,
 * mints and writes the audit line. Every call decides; the reuse of recent answers is
 * RecentAnswers' business, in front of this.
 */
export class TokenService {
  private readonly clock: () => number;

  constructor(
    private readonly options: TokenServiceOptions,
    private readonly deps: TokenServiceDeps,
  ) {
    this.clock = deps.now ?? Date.now;
  }

  async issue(request: TokenRequest): Promise<TokenResponse> {
    return (await this.answer(request)).response;
  }

  /** Decides the request and encodes the answer. */
  answer(request: TokenRequest): Promise<DecidedAnswer> {
    // Not async itself: one frame (decide's) per request, and the refusal is a rejection all the same.
    const service = request.service ?? this.options.service;
    if (service !== this.options.service) {
      return Promise.reject(new InvalidRequestError(`unknown service ${JSON.stringify(service.slice(0, 100))}: this endpoint serves ${JSON.stringify(this.options.service)}`));
    }
    return this.decide(request, service);
  }

  private async decide(request: TokenRequest, service: string): Promise<DecidedAnswer> {
    const now = this.clock();
    const scopes = parseScopes(request.scopes);
    const proving = this.deps.prover.prove(new TokenProofRequest(this.deps.logger, request, service));
    // Awaited only when it is a promise: a proof at hand (anonymous, recalled in the last second) is every busy client's case.
    const proof = proving instanceof Promise ? await proving : proving;
    const identity = proof?.identity;
    // A robot made by a person acts within that person's rights as they are now, cut to its scope
    // below: the maker's rights are decided as for any request of theirs (cached alike), so a maker
    // losing push makes the robot lose it, and no rule need name the robot. A robot an admin made
    // has no maker and is decided in its own name, as any account.
    const maker = proof?.maker;
    const authorizing = this.deps.authorizer.authorize({ identity: maker ?? identity, service, clientIp: request.clientIp, scopes });
    // Awaited only when it is a promise: decisions held in process are every busy client's case.
    const authorized = authorizing instanceof Promise ? await authorizing : authorizing;
    const decided = maker ? asMaker(authorized, maker.account) : authorized;
    // A scoped credential gets what its account may do now, cut down to its scope: the account's
    // rights are decided as for any of its credentials, so losing one loses it everywhere at once.
    const decisions = proof?.scope ? decided.map((d) => withinCredentialScope(d, proof.scope!)) : decided;
    // An anonymous request over its budget of calls to the platform: a 429 says "retry later, or
    // log in" (docker prints `toomanyrequests: …`), where an empty grant would end in the
    // registry's "pull access denied … may require 'docker login'" for a name that may exist.
    // Plain loops, no closures: every token request passes here.
    let limited: ScopeDecision | undefined;
    let unavailable = 0;
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      if (d.source === 'limited') {
        limited = d;
        break;
      }
      if (d.source === 'unavailable') unavailable++;
    }
    if (limited) {
      // Counted like every other limit; only the first few per address and minute are lines.
      if (this.deps.refusals?.refuse(request.clientIp, 'anonymous_webhook') ?? true) this.deny(request, limited.reason);
      throw new TooManyRequestsError('too many anonymous requests from your address need the registry platform; try again later, or log in', limited.retryAfterSeconds ?? 60, 'anonymous_webhook');
    }
    // Fail closed, and say so: when nothing could be decided, a 503 tells the user more than an
    // empty grant the registry would turn into "insufficient scope".
    if (decisions.length > 0 && unavailable === decisions.length) {
      this.deny(request, 'authorization unavailable for every requested scope', identity?.account);
      throw new TemporarilyUnavailableError('authorization service unavailable; try again shortly');
    }
    const access: Grant[] = [];
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      if (d.granted.length > 0) access.push(grantOf(d));
    }

    const minted = await this.deps.minter.mint({
      subject: identity?.account ?? '',
      audience: service,
      access,
      lifetimeSeconds: this.lifetimeFor(access, identity),
    });
    const response: TokenResponse = {
      token: minted.token,
      expires_in: minted.expiresIn,
      issued_at: minted.issuedAtText,
    };
    if (request.grantType !== 'get') response.access_token = minted.token;
    // Offline access is asked for with a password (a refresh grant gets no second token).
    if (request.offline && proof && request.credentials.kind === 'password') {
      const refreshToken = await this.deps.prover.refreshTokenFor(proof, service);
      if (refreshToken !== undefined) response.refresh_token = refreshToken;
    }
    if (request.grantType !== 'get') response.scope = access.map(formatScope).join(' ');

    const granted = logTokenIssued(this.deps.logger, {
      account: identity?.account ?? '',
      provider: identity?.provider ?? 'anonymous',
      grantType: request.grantType,
      clientId: request.clientId,
      clientIp: request.clientIp,
      decisions,
      anonymous: identity === undefined,
      refreshTokenIssued: response.refresh_token !== undefined,
      jti: minted.jti,
      kid: minted.kid,
      reused: minted.reused,
    });
    const { head, body } = encodeAnswer(response, minted);
    return {
      response,
      body,
      head,
      exp: Math.floor(now / 1000) + minted.expiresIn,
      anonymous: identity === undefined,
      audit: {
        account: identity?.account ?? '',
        provider: identity?.provider ?? 'anonymous',
        granted,
        jti: minted.jti,
        grantType: request.grantType,
        clientIp: request.clientIp,
        requested: request.scopes,
      },
    };
  }

  private lifetimeFor(access: readonly Grant[], identity: Identity | undefined): number {
    let lifetime = this.options.lifetimeSeconds;
    for (const grant of access) {
      for (const action of grant.actions) {
        lifetime = Math.max(lifetime, this.options.actionLifetimeSeconds[action] ?? 0);
      }
    }
    // An identity that itself expires (an OIDC ID token used as password) caps the token: the
    // registry token never outlives the proof it was minted from.
    const expiresAt = identity?.attributes.expiresAt;
    if (typeof expiresAt === 'number') {
      const remaining = Math.floor(expiresAt - this.clock() / 1000);
      // Verifiers allow clock skew, so an ID token may pass them with under a second left.
      if (remaining < 1) throw new UnauthorizedError('the token used as password has expired');
      lifetime = Math.min(lifetime, remaining);
    }
    return lifetime;
  }

  private deny(request: TokenRequest, reason: string, username?: string): void {
    logDenied(this.deps.logger, request, reason, username);
  }
}

/** The token_denied line of a refused request. */
function logDenied(logger: Logger, request: TokenRequest, reason: string, username: string | undefined): void {
  logger.info({ event: 'token_denied', account: username ?? request.account ?? '', grantType: request.grantType, clientIp: request.clientIp, reason }, 'token request refused');
}

/**
 * A token request as the prover is asked about it, its refusals told as token_denied lines: one
 * object per request, where a literal with a closure of its own was two and the closure's scope.
 */
class TokenProofRequest implements ProofRequest {
  readonly credentials: TokenCredentials;
  readonly account: string | undefined;
  readonly clientIp: string;

  constructor(
    private readonly logger: Logger,
    private readonly request: TokenRequest,
    readonly service: string,
  ) {
    this.credentials = request.credentials;
    this.account = request.account;
    this.clientIp = request.clientIp;
  }

  denied(reason: string, account: string | undefined): void {
    logDenied(this.logger, this.request, reason, account);
  }
}

/**
 * What a decision grants, as the token's access claim lists it. When every asked action was
 * granted, in the order asked (a fleet's pull, mostly), that is the decision's scope itself: shared,
 * as nothing writes to either, instead of a copy of it and of its actions per request.
 */
function grantOf(d: ScopeDecision): Grant {
  const asked = d.scope.actions;
  const granted = d.granted;
  if (granted === asked) return d.scope;
  if (granted.length === asked.length) {
    let same = true;
    for (let i = 0; i < granted.length && same; i++) same = granted[i] === asked[i];
    if (same) return d.scope;
  }
  return { ...d.scope, actions: granted };
}

/**
 * A decision cut down to a credential's scope; what the scope removed is named in its reason (the
 * audit line). `wharf access explain` cuts with it too, so what it says is what a token would get.
 */
export function withinCredentialScope(decision: ScopeDecision, scope: CredentialScope): ScopeDecision {
  if (decision.granted.length === 0) return decision;
  const allowed = actionsInScope(scope, { ...decision.scope, actions: decision.granted });
  if (allowed.length === decision.granted.length) return decision;
  const removed = decision.granted.filter((a) => !allowed.includes(a));
  return { ...decision, granted: allowed, source: 'credential', reason: `${removed.join(',')} ${OUT_OF_CREDENTIAL_SCOPE} (the account's ${decision.source}: ${decision.reason})` };
}

/** A robot's decisions: its maker's, each reason saying so (the audit line). */
function asMaker(maker: readonly ScopeDecision[], makerAccount: string): ScopeDecision[] {
  return maker.map((decision) => ({ ...decision, reason: `as its maker ${makerAccount}: ${decision.reason}` }));
}

/** `{"token":"`, the start of every answer. */
const ANSWER_OPENING = Buffer.from('{"token":"', 'latin1');

/**
 * A response's JSON as the bytes sent, and its head (up to the value of expires_in) sharing them.
 * Written once: the token's header (most of its 2-3 KB, with the certificate chain) is copied from
 * the key's own bytes, the rest written after it. A string body was joined, flattened to measure
 * its length and encoded again for the socket, a young 2.4 KB copy per answer each time.
 */
function encodeAnswer(r: TokenResponse, token: { headerDot: Buffer; payload: string; signature: string }): { head: Buffer; body: Buffer } {
  // A JWT is base64url and dots and issued_at is ISO 8601: nothing in them needs escaping (and
  // they are ASCII, one byte a character), and JSON.stringify scanning a 2-3 KB token was a tenth
  // of an answer's cost. The payload and signature are written as they are: joined into one
  // string first, writing it flattened a 1 KB copy.
  let after = '"';
  if (r.access_token !== undefined) after += `,"access_token":"${r.access_token}"`;
  after += `,"issued_at":"${r.issued_at}"`;
  if (r.refresh_token !== undefined) after += `,"refresh_token":${JSON.stringify(r.refresh_token)}`;
  if (r.scope !== undefined) after += `,"scope":${JSON.stringify(r.scope)}`;
  after += ',"expires_in":';
  const tail = `${r.expires_in}}`;
  let at = ANSWER_OPENING.length + token.headerDot.length;
  const headSize = at + token.payload.length + 1 + token.signature.length + Buffer.byteLength(after);
  const bytes = Buffer.allocUnsafe(headSize + tail.length);
  ANSWER_OPENING.copy(bytes, 0);
  token.headerDot.copy(bytes, ANSWER_OPENING.length);
  at += bytes.write(token.payload, at, 'latin1');
  bytes[at++] = 0x2e; // '.'
  at += bytes.write(token.signature, at, 'latin1');
  bytes.write(after, at);
  bytes.write(tail, headSize, 'latin1');
  return { head: bytes.subarray(0, headSize), body: bytes };
}
