import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import { inProcessKeyedHash } from '../crypto/keyed-hash.js';
import type { LocalCopy } from '../cache/coherence.js';
import type { AnswerAudit, DecidedAnswer, TokenAnswer, TokenRequest, TokenResponse, TokenService } from './token-service.js';

/** How long the answer to an identical request is handed out again without deciding anew. */
const ANSWER_REUSE_MS = 1000;

/** Answers to requests that proved something, kept at once (at least: see MAX_ANONYMOUS_ANSWERS). */
const MAX_ANSWERS = 500;

/**
 * Answers to anonymous requests kept at once, on top of MAX_ANSWERS: a public image's pullers
 * repeating themselves are served again, and a flood of anonymous requests with fresh names (which
 * prove nothing and cost nothing to send) is kept to this share, so it never pushes out what
 * the authenticated clients hold. Past it, anonymous answers are decided each time.
 */
const MAX_ANONYMOUS_ANSWERS = 100;

/** Options of the recent answers. */
export interface RecentAnswersOptions {
  /** Key of the keyed hash that names recent answers. */
  hashKey: Buffer;
  logger: Logger;
  now?: () => number;
}

/**
 * A recent answer: what handing it out again and its reuse line need, and no more. Entries outlive
 * a few scavenges (500 of them last well under a second of distinct traffic, in which nearly none
 * is asked for again), so all they hold is promoted: the decided answer's `response` (its token
 * string) and `body` are left to die young.
 */
class RecentAnswer {
  reuses = 0;
  lastReuse = 0;
  /** The answer handed out again with expires_in `againExpiresIn`: one body per second, whatever the rate. */
  again: ReusedAnswer | undefined = undefined;
  againExpiresIn = 0;

  constructor(
    /** The answer's JSON up to the value of expires_in (never written to). */
    readonly head: Buffer,
    readonly exp: number,
    readonly audit: AnswerAudit,
    readonly anonymous: boolean,
  ) {}
}

/**
 * An answer handed out again. The route sends `body`; `response` is parsed from it only when asked
 * (issue()), since `head` was written from the same response. One is shared by every request
 * answered in the same second: neither it nor its bytes are ever written to.
 */
class ReusedAnswer implements TokenAnswer {
  constructor(readonly body: Buffer) {}

  get response(): TokenResponse {
    return JSON.parse(this.body.toString()) as TokenResponse;
  }
}

/** A decision under way, which identical requests of the same second wait for. */
class Decision {
  answer!: Promise<TokenAnswer>;
  constructor(readonly startedAt: number) {}
}

/**
 * What the token route calls: the token service, with the answers to identical requests (same
 * credentials, parameters and client address) of the last second handed out again. A busy client
 * asks again and again for the same token; within that second nothing is decided that was not
 * decided a moment ago. Identical requests arriving together wait for one decision. Any
 * invalidation or revocation (this is a LocalCopy of the coherence) empties it.
 */
export class RecentAnswers implements LocalCopy {
  /** Entries hold an encoded answer (~3 KB) and are useless after a second, hence the small cap. */
  private readonly answers: LRUCache<string, RecentAnswer>;
  /** Anonymous answers among them (at most MAX_ANONYMOUS_ANSWERS). */
  private anonymousHeld = 0;
  /** Counts invalidations, so a decision under way during one is not kept. */
  private epoch = 0;
  /** Decisions under way, by answer key. */
  private readonly deciding = new Map<string, Decision>();
  private readonly answerHash: (text: string) => string;
  private readonly clock: () => number;
  /**
   * The last request named by sentKey, with its name: a client repeating itself (the same header,
   * URL and address, as new strings) needs no hash at all.
   */
  private lastAuthorization: string | undefined;
  private lastUrl: string | undefined;
  private lastIp: string | undefined;
  private lastKey = '';

  constructor(
    private readonly tokens: TokenService,
    private readonly options: RecentAnswersOptions,
  ) {
    this.answerHash = inProcessKeyedHash(options.hashKey, 'token answers');
    this.clock = options.now ?? Date.now;
    const now = options.now;
    this.answers = new LRUCache<string, RecentAnswer>({
      // Anonymous answers join only below their share, so once that share is full every eviction
      // an anonymous answer causes is of an entry above the authenticated clients' MAX_ANSWERS.
      max: MAX_ANSWERS + MAX_ANONYMOUS_ANSWERS,
      ttl: ANSWER_REUSE_MS,
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
      // However an answer leaves (replaced, expired, evicted, forgotten), its reuses are audited.
      dispose: (answer) => {
        if (answer.anonymous) this.anonymousHeld--;
        this.auditReuses(answer);
      },
    });
  }

  async issue(request: TokenRequest): Promise<TokenResponse> {
    return (await this.answer(request)).response;
  }

  /**
   * The name of a GET request as sent: its Authorization header (undefined when absent, which is
   * anonymous, where an empty one is a 401), its URL and the client's address, everything its
   * answer depends on. The route computes it once and hands it to answerAgain and, on a miss, in
   * TokenRequest.sentKey to `answer`: a request is decided in a later turn (the route's turn
   * queue), after its neighbours were named, so a name kept here for it would be gone by then.
   */
  sentKey(authorization: string | undefined, url: string, clientIp: string): string {
    if (authorization === this.lastAuthorization && url === this.lastUrl && clientIp === this.lastIp) return this.lastKey;
    const key = this.answerHash(`sent\0${clientIp}\0${authorization === undefined ? '-' : `=${authorization}`}\n${url}`);
    this.lastAuthorization = authorization;
    this.lastUrl = url;
    this.lastIp = clientIp;
    this.lastKey = key;
    return key;
  }

  /**
   * The answer given in the last second to the request named `sentKey` (see sentKey), if any.
   * Synchronous and parse-free: this is what a busy client's repeated requests cost.
   */
  answerAgain(sentKey: string): TokenAnswer | undefined {
    const recent = this.answers.get(sentKey);
    return recent === undefined ? undefined : this.reuse(recent);
  }

  /** The answer with its JSON body: a recent one, one being decided, or a new decision. */
  answer(request: TokenRequest): Promise<TokenAnswer> {
    // Not async itself: a miss (all of distinct traffic) costs one async frame, decide's.
    const answerKey = this.answerKey(request);
    if (answerKey === undefined) return this.tokens.answer(request);
    // Looked up again although answerAgain missed it: the request waited for its turn, in which an
    // identical one may have been answered.
    const recent = this.answers.get(answerKey);
    const again = recent && this.reuse(recent);
    if (again) return Promise.resolve(again);
    // Identical requests arriving while one is being decided (a CI fleet's connections all miss
    // when the last answer's second is over) wait for that decision instead of repeating it, as
    // long as it began within the reuse window: a slow upstream must not stretch what "recent"
    // means. A refusal is shared too (one token_denied line for the lot).
    const deciding = this.deciding.get(answerKey);
    if (deciding && this.clock() - deciding.startedAt < ANSWER_REUSE_MS) return this.follow(request, answerKey, deciding);
    return this.lead(request, answerKey);
  }

  /** Part of LocalCopy: any invalidation or revocation, wherever it happened, drops every answer. */
  forget(): void {
    this.forgetAll();
  }

  forgetAll(): void {
    this.epoch++;
    this.deciding.clear();
    this.answers.clear(); // writes the reuse lines of answers still held
  }

  /** Drops answers past their second, writing their reuse lines; the services call it every second. */
  sweep(): void {
    this.answers.purgeStale();
  }

  /** Waits for a decision under way and takes its answer, or decides anew when it was not kept. */
  private async follow(request: TokenRequest, answerKey: string, deciding: Decision): Promise<TokenAnswer> {
    await deciding.answer;
    const decided = this.answers.get(answerKey);
    const shared = decided && this.reuse(decided);
    // Not kept (an invalidation came meanwhile): decide anew, with an audit line of its own.
    return shared ?? this.lead(request, answerKey);
  }

  private lead(request: TokenRequest, answerKey: string): Promise<TokenAnswer> {
    const decision = new Decision(this.clock());
    this.deciding.set(answerKey, decision);
    decision.answer = this.decide(request, answerKey, decision);
    return decision.answer;
  }

  private async decide(request: TokenRequest, answerKey: string, decision: Decision): Promise<TokenAnswer> {
    const epoch = this.epoch;
    try {
      const decided: DecidedAnswer = await this.tokens.answer(request);
      // Not kept when an invalidation came while deciding: the decision may predate it. A refresh
      // token is never handed out twice.
      if (decided.response.refresh_token === undefined && epoch === this.epoch && (!decided.anonymous || this.anonymousHeld < MAX_ANONYMOUS_ANSWERS)) {
        if (decided.anonymous) this.anonymousHeld++;
        this.answers.set(answerKey, new RecentAnswer(decided.head, decided.exp, decided.audit, decided.anonymous));
      }
      return decided;
    } finally {
      // Only its own entry: an invalidation may have let a newer decision take the key.
      if (this.deciding.get(answerKey) === decision) this.deciding.delete(answerKey);
    }
  }

  /**
   * A recent answer handed out again; the LRU's TTL (on the same clock) is the one-second window.
   * Undefined when its token has run out: one capped by an expiring credential (an ID token, a
   * platform token's `exp`) may end within that second, and is then decided anew (and refused).
   */
  private reuse(recent: RecentAnswer): TokenAnswer | undefined {
    // Audited in one line per answer when it leaves the cache, not one per request: a reuse
    // decides nothing, hands out the same token (same jti) to the same client within a second,
    // and a line per request was a fifth of the hot path's cost.
    const now = this.clock();
    const expiresIn = recent.exp - Math.floor(now / 1000);
    if (expiresIn < 1) return undefined;
    recent.reuses++;
    recent.lastReuse = now;
    if (recent.again !== undefined && recent.againExpiresIn === expiresIn) return recent.again;
    const tail = `${expiresIn}}`;
    const body = Buffer.allocUnsafe(recent.head.length + tail.length);
    recent.head.copy(body, 0);
    body.write(tail, recent.head.length, 'latin1');
    recent.again = new ReusedAnswer(body);
    recent.againExpiresIn = expiresIn;
    return recent.again;
  }

  private auditReuses(answer: RecentAnswer): void {
    if (answer.reuses === 0) return;
    this.options.logger.info(
      { event: 'token_reused', ...answer.audit, count: answer.reuses, lastAt: new Date(answer.lastReuse).toISOString() },
      'token answer handed out again',
    );
  }

  /** Names a request by everything its answer depends on; refresh grants and offline logins are not reused. */
  private answerKey(request: TokenRequest): string | undefined {
    const c = request.credentials;
    if (request.offline || c.kind === 'refresh_token') return undefined;
    if (request.sentKey !== undefined) return request.sentKey;
    const who = c.kind === 'password' ? ['password', c.username, c.password] : ['anonymous', '', ''];
    return this.answerHash(['parsed', ...who, request.service ?? '', request.account ?? '', request.scopes.join('\n'), request.clientIp, request.grantType, request.clientId ?? ''].join('\0'));
  }
}
