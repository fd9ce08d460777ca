import { randomBytes } from 'node:crypto';
import type { LocalCopy } from '../cache/coherence.js';
import { inProcessKeyedHash } from '../crypto/keyed-hash.js';
import type { AuthnResult } from './authenticator.js';

/** A recalled proof: a credential some backend verified earlier, admitted by the account gate. */
export type RecalledProof = Extract<AuthnResult, { kind: 'ok' }>;

/** How long a recalled proof is handed out again without asking the backends (as an answer is, RecentAnswers). */
const PROOF_REUSE_MS = 1000;

/** Most proofs held: two seconds' worth of a large fleet's distinct credentials, a few MB. */
const DEFAULT_MAX_PROOFS = 20_000;

/** Options of the recent proofs. */
export interface RecentProofsOptions {
  /** Most proofs held at once; when full, the older half goes. Default 20,000. */
  maxProofs?: number;
  now?: () => number;
}

/**
 * The proofs recalled in the last second, by credential: a fleet's clients each send several
 * token requests in a row (one per repository they pull), and recalling the same credential again
 * within a second (the backend's cache entry, its decoding, the account gate) would prove nothing
 * new. The same bounds as the answers handed out again (RecentAnswers): one second at most, and
 * every invalidation or revocation (this is a LocalCopy of the coherence) drops them all, so
 * nothing here outlives what an answer reused in the same second could.
 *
 * Only recalls are held, never a verification's verdict or a refusal: a request that proves
 * nothing cannot put anything here. Keys are an in-process keyed hash of the username and the
 * secret, under a key that never leaves the process.
 */
export class RecentProofs implements LocalCopy {
  /** This second's proofs and the last second's: a lookup ignores any older than PROOF_REUSE_MS. */
  private current = new Map<string, { proof: RecalledProof; at: number }>();
  private previous = new Map<string, { proof: RecalledProof; at: number }>();
  private currentSince: number;
  private readonly name = inProcessKeyedHash(randomBytes(32), 'recent proofs');
  private readonly clock: () => number;
  private readonly maxProofs: number;
  private forgets = 0;

  constructor(options: RecentProofsOptions = {}) {
    this.clock = options.now ?? Date.now;
    this.maxProofs = options.maxProofs ?? DEFAULT_MAX_PROOFS;
    this.currentSince = this.clock();
  }

  /** The name of a credential here (computed once per request, for `recalled` and `keep`). */
  key(username: string, secret: string): string {
    return this.name(`${username.length}:${username}${secret}`);
  }

  /** The proof recalled for this credential less than a second ago, if any. */
  recalled(key: string): RecalledProof | undefined {
    const now = this.clock();
    this.turn(now);
    const held = this.current.get(key) ?? this.previous.get(key);
    return held !== undefined && now - held.at < PROOF_REUSE_MS ? held.proof : undefined;
  }

  /** Holds a proof just recalled, for the next second. */
  keep(key: string, proof: RecalledProof): void {
    const now = this.clock();
    this.turn(now);
    if (this.current.size >= this.maxProofs / 2) this.rotate(now);
    this.current.set(key, { proof, at: now });
  }

  /** Part of LocalCopy: any change anywhere drops every proof (which keys a proof rests on is not tracked). */
  forget(): void {
    this.forgetAll();
  }

  forgetAll(): void {
    this.forgets++;
    this.current = new Map();
    this.previous = new Map();
  }

  /** Counts forgets: a recall that began before one is not kept (it may rest on what was dropped). */
  get epoch(): number {
    return this.forgets;
  }

  /** Proofs held now (both halves). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  private turn(now: number): void {
    if (now - this.currentSince >= PROOF_REUSE_MS) this.rotate(now);
  }

  private rotate(now: number): void {
    this.previous = this.current;
    this.current = new Map();
    this.currentSince = now;
  }
}
