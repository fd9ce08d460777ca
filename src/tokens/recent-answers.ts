import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import { inProcessKeyedHash } from '../crypto/keyed-hash.js';
import type { LocalCopy } from '../cache/coherence.js';
import type { AnswerAudit, DecidedAnswer, TokenAnswer, TokenRequest, TokenResponse, TokenService } from './token-service.js';

/** How long the answer to an identical request is handed out again without deciding anew. */
const ANSWER_REUSE_MS = 1000;

/** Options of the recent answers. */
export interface RecentAnswersOptions {
  /** Key of the keyed hash that names recent answers. */
  hashKey: Buffer;
  logger: Logger;
  now?: () => number;
}

/** A recent answer and how often it was handed out again. */
interface RecentAnswer {
  response: TokenResponse;
  head: Buffer;
  exp: number;
  audit: AnswerAudit;
  reuses: number;
  lastReuse: number;
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
  /** Counts invalidations, so a decision under way during one is not kept. */
  private epoch = 0;
  /** Decisions under way, by answer key. */
  private readonly deciding = new Map<string, { answer: Promise<TokenAnswer>; startedAt: number }>();
  private readonly answerHash: (text: string) => string;
  private readonly clock: () => number;
  /**
   * The last as-sent key computed, with what it names: a request answerAgain did not find comes
   * straight (synchronously) to `answer` with the same strings, which then need no second hash.
   */
  private lastAsSent: { asSent: string; clientIp: string; key: string } | undefined;

  constructor(
    private readonly tokens: TokenService,
    private readonly options: RecentAnswersOptions,
  ) {
    this.answerHash = inProcessKeyedHash(options.hashKey, 'token answers');
    this.clock = options.now ?? Date.now;
    const now = options.now;
    this.answers = new LRUCache<string, RecentAnswer>({
      max: 500,
      ttl: ANSWER_REUSE_MS,
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
      // However an answer leaves (replaced, expired, evicted, forgotten), its reuses are audited.
      dispose: (answer) => this.auditReuses(answer),
    });
  }

  async issue(request: TokenRequest): Promise<TokenResponse> {
    return (await this.answer(request)).response;
  }

  /**
   * The answer given in the last second to a request sent exactly as `asSent` (see
   * TokenRequest.asSent) from the same address, if any. Synchronous and parse-free: this is what
   * a busy client's repeated requests cost.
   */
  answerAgain(asSent: string, clientIp: string): TokenAnswer | undefined {
    const recent = this.answers.get(this.asSentKey(asSent, clientIp));
    return recent && this.reuse(recent);
  }

  /** The answer with its JSON body: a recent one, one being decided, or a new decision. */
  async answer(request: TokenRequest): Promise<TokenAnswer> {
    const answerKey = this.answerKey(request);
    if (answerKey === undefined) return this.tokens.answer(request);
    const recent = this.answers.get(answerKey);
    const again = recent && this.reuse(recent);
    if (again) return again;
    // Identical requests arriving while one is being decided (a CI fleet's connections all miss
    // when the last answer's second is over) wait for that decision instead of repeating it, as
    // long as it began within the reuse window: a slow upstream must not stretch what "recent"
    // means. A refusal is shared too (one token_denied line for the lot).
    const deciding = this.deciding.get(answerKey);
    if (deciding && this.clock() - deciding.startedAt < ANSWER_REUSE_MS) {
      await deciding.answer;
      const decided = this.answers.get(answerKey);
      const shared = decided && this.reuse(decided);
      if (shared) return shared;
      // Not kept (an invalidation came meanwhile): decide anew, with an audit line of its own.
    }
    const decision = { answer: this.decide(request, answerKey), startedAt: this.clock() };
    this.deciding.set(answerKey, decision);
    try {
      return await decision.answer;
    } finally {
      // Only its own entry: an invalidation may have let a newer decision take the key.
      if (this.deciding.get(answerKey) === decision) this.deciding.delete(answerKey);
    }
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

  private async decide(request: TokenRequest, answerKey: string): Promise<TokenAnswer> {
    const epoch = this.epoch;
    const decided: DecidedAnswer = await this.tokens.answer(request);
    // Not kept when an invalidation came while deciding: the decision may predate it. A refresh
    // token is never handed out twice.
    if (decided.response.refresh_token === undefined && epoch === this.epoch) {
      this.answers.set(answerKey, { response: decided.response, head: decided.head, exp: decided.exp, audit: decided.audit, reuses: 0, lastReuse: 0 });
    }
    return decided;
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
    const tail = `${expiresIn}}`;
    const body = Buffer.allocUnsafe(recent.head.length + tail.length);
    recent.head.copy(body, 0);
    body.write(tail, recent.head.length, 'latin1');
    return { response: { ...recent.response, expires_in: expiresIn }, body };
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
    if (request.asSent !== undefined) return this.asSentKey(request.asSent, request.clientIp);
    const who = c.kind === 'password' ? ['password', c.username, c.password] : ['anonymous', '', ''];
    return this.answerHash(['parsed', ...who, request.service ?? '', request.account ?? '', request.scopes.join('\n'), request.clientIp, request.grantType, request.clientId ?? ''].join('\0'));
  }

  private asSentKey(asSent: string, clientIp: string): string {
    const last = this.lastAsSent;
    if (last !== undefined && last.asSent === asSent && last.clientIp === clientIp) return last.key;
    const key = this.answerHash(`sent\0${clientIp}\0${asSent}`);
    this.lastAsSent = { asSent, clientIp, key };
    return key;
  }
}
