import { randomBytes } from 'node:crypto';
import { inProcessKeyedHash } from '../crypto/keyed-hash.js';
import { InvalidGrantError, TemporarilyUnavailableError, TooManyRequestsError, UnauthorizedError } from '../domain/errors.js';
import type { Identity } from '../domain/identity.js';
import type { RefusalLog } from '../logging/refusal-log.js';
import { SingleFlight } from '../upstream/single-flight.js';
import type { AuthnResult, LoginContext, Provenance } from './authenticator.js';
import type { AuthenticatorChain } from './authenticator-chain.js';
import type { LoginLimiter, LoginReservation } from './login-limiter.js';
import type { RecentProofs } from './recent-proofs.js';
import { NOT_RECOGNISED, type Proof, type ProofRequest, type Prover } from './prover-interface.js';
import type { VerificationSlots } from './verification-slots.js';

/**
 * Wharf's refresh tokens as the prover uses them (`credentials/refresh/` implements it; the
 * composition root hands it over, so authn/ never imports Wharf's own credentials).
 */
export interface RefreshTokens {
  /** Whether a secret is a refresh token by its form: one is redeemed, never shown to the backends. */
  recognises(secret: string): boolean;
  /**
   * What a live token stands for on `context.service`, as the backend that proved the login sees
   * it now (`denied` when the token is unknown, expired, revoked, for another service, or that
   * backend no longer vouches for the login). `account`, when the token came as a Basic password,
   * must be the token's account. Throws TemporarilyUnavailableError when the store or the backend
   * cannot be asked.
   */
  redeem(token: string, context: LoginContext, account?: string): Promise<AuthnResult>;
  /** Issues a refresh token for `identity` on `service`, in the family of `provenance` when it has one. */
  issue(identity: Identity, service: string, provenance?: Provenance): Promise<string>;
}

/** Dependencies of the prover. */
export interface ProverDeps {
  /** The configured backends (and registry credentials) in order, with the account gate. */
  chain: AuthenticatorChain;
  refreshTokens: RefreshTokens;
  /** `refreshTokens.enabled`. */
  refreshTokensEnabled: boolean;
  /** Brute-force budgets; none when disabled. */
  limiter?: LoginLimiter | undefined;
  /** Bounds on concurrent credential verifications; none when disabled. */
  slots?: VerificationSlots | undefined;
  /** Counts refusals by limits and says which to report one by one; without it every refusal is reported. */
  refusals?: RefusalLog | undefined;
  /** Told about every refresh-token redemption that reached a verdict (the chain tells its own backends' logins). */
  onRedemption?: () => void;
  /** Proofs recalled in the last second, handed out again; none: every request recalls. */
  recentProofs?: RecentProofs | undefined;
}

/** A verification's outcome; a refusal by the account gate names the account it refused. */
type Verdict = AuthnResult & { readonly account?: string };

/**
 * The one way from what a request carries to who sends it: nothing, Basic credentials (a
 * password, a registry credential or a refresh token as the password), or a refresh grant. It owns
 * what guards the backends: the brute-force budgets (reserved before a verification, settled by
 * its verdict), the verification slots, one verification for identical requests arriving
 * together, and the account gate every identity passes. A refresh token is redeemed in one place,
 * whether it comes as a grant or as a password.
 */
export class RequestProver implements Prover {
  /** Verifications under way, by a keyed hash of what they verify and for which address. */
  private readonly verifications = new SingleFlight<Verdict>();
  /** Names them; the key never leaves the process. */
  private readonly verificationKey = inProcessKeyedHash(randomBytes(32), 'verifications');

  constructor(private readonly deps: ProverDeps) {}

  prove(request: ProofRequest): Proof | undefined | Promise<Proof | undefined> {
    const credentials = request.credentials;
    if (credentials.kind === 'anonymous') return undefined;
    if (credentials.kind === 'refresh_token') return this.proveGrant(request, credentials.refreshToken);
    // Not async itself: a credential recalled in the last second (RecentProofs), every busy
    // client's path, is handed out as is, with no frame, context or promise of this method's own.
    try {
      const { username, password } = credentials;
      if (request.account !== undefined && request.account !== '' && request.account !== username) {
        request.denied('account parameter differs from the username', undefined);
        throw new UnauthorizedError('the account parameter does not match the username');
      }
      const refresh = this.deps.refreshTokens.recognises(password);
      // A credential proven earlier (the backend remembers verifying it) verifies nothing, so it
      // costs no shared counter: the limits guard verifications, and this is every busy
      // client's path. Only what this process knows to be over a limit refuses it. A refresh
      // token is never remembered: its redemption is a store lookup and a re-check.
      const recent = refresh ? undefined : this.deps.recentProofs;
      const key = recent?.key(username, password);
      const held = key === undefined ? undefined : recent!.recalled(key);
      if (held !== undefined) return this.recalledProof(request, username, held);
      return this.provePassword(request, username, password, refresh, recent, key);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** A refresh grant. */
  private async proveGrant(request: ProofRequest, refreshToken: string): Promise<Proof> {
    const context: LoginContext = { clientIp: request.clientIp, service: request.service };
    const verdict = await this.verified(request, 'grant', undefined, refreshToken, () => this.redeem(refreshToken, context, undefined));
    if (verdict.kind === 'ok') return verdict;
    request.denied(verdict.kind === 'denied' ? verdict.reason : 'refresh token invalid', verdict.account);
    throw new InvalidGrantError(verdict.kind === 'denied' && verdict.message ? verdict.message : 'refresh token is invalid, expired or revoked: log in again');
  }

  /**
   * Basic credentials not recalled in the last second: what the chain recalls (kept in
   * RecentProofs, `key` its name there, so a client asking for several repositories in a row
   * recalls once), else a verification.
   */
  private async provePassword(request: ProofRequest, username: string, password: string, refresh: boolean, recent: RecentProofs | undefined, key: string | undefined): Promise<Proof> {
    const context: LoginContext = { clientIp: request.clientIp, service: request.service };
    const recalled = refresh
      ? undefined
      : recent === undefined || key === undefined
        ? await this.deps.chain.recall(username, password, context)
        : await this.recallAndKeep(recent, key, username, password, context);
    if (recalled) return this.recalledProof(request, username, recalled);
    const verdict = await this.verified(request, 'password', username, password, () =>
      refresh ? this.redeem(password, context, username) : this.deps.chain.login(username, password, context),
    );
    if (verdict.kind === 'ok') return verdict;
    request.denied(verdict.kind === 'denied' ? verdict.reason : NOT_RECOGNISED, username);
    throw new UnauthorizedError(verdict.kind === 'denied' && verdict.message ? verdict.message : 'invalid username or password');
  }

  /**
   * A recalled proof, once this process knows no limit of the address (or of the account there)
   * to be reached (LoginLimiter.recalled); as is, with no closure or promise, when the limiter has
   * nothing to clear.
   */
  private recalledProof(request: ProofRequest, username: string, proof: Proof): Proof | Promise<Proof> {
    let cleared: void | Promise<void>;
    try {
      cleared = this.deps.limiter?.recalled(request.clientIp, username);
    } catch (err) {
      return Promise.reject(this.refused(request, username, err) as Error);
    }
    if (cleared === undefined) return proof;
    return cleared.then(
      () => proof,
      (err: unknown) => {
        throw this.refused(request, username, err);
      },
    );
  }

  private async recallAndKeep(recent: RecentProofs, key: string, username: string, password: string, context: LoginContext): Promise<Proof | undefined> {
    // An invalidation while the chain recalls must not leave its (older) proof behind: the
    // coherence empties RecentProofs, and only a recall that began after it is kept.
    const epoch = recent.epoch;
    const recalled = await this.deps.chain.recall(username, password, context);
    if (recalled !== undefined && epoch === recent.epoch) recent.keep(key, recalled);
    return recalled;
  }

  async refreshTokenFor(proof: Proof, service: string): Promise<string | undefined> {
    // Only for a backend that can re-check the login at redemption: one that cannot (platform
    // tokens, ID tokens, external commands) would be outlived by a Wharf refresh token.
    if (!this.deps.refreshTokensEnabled || !this.deps.chain.refreshable(proof.identity)) return undefined;
    // A refresh token carries no scope: one made from a scoped credential would widen it.
    if (proof.scope !== undefined || proof.maker !== undefined) return undefined;
    // A refresh token used as the password passes on its family: the new token ends with it.
    return this.deps.refreshTokens.issue(proof.identity, service, proof.provenance);
  }

  /**
   * The one redemption of a refresh token, for a grant (`account` undefined) and as a Basic
   * password: the token's record, the backend that proved the login re-checking it (a changed
   * password, a deleted entry or a backend gone from the config ends the token, and current groups
   * apply), then the account gate (the account may have been unbound and claimed by another
   * sign-in method since).
   */
  private async redeem(token: string, context: LoginContext, account: string | undefined): Promise<Verdict> {
    const redeemed = await this.deps.refreshTokens.redeem(token, context, account);
    this.deps.onRedemption?.();
    if (redeemed.kind !== 'ok') return redeemed;
    // The backend behind the login re-checked it just now: its groups are the source's word.
    const admitted = await this.deps.chain.admit(redeemed.identity, { proven: true });
    return admitted.kind === 'ok' ? redeemed : { ...admitted, account: redeemed.identity.account };
  }

  /**
   * One verification, shared by identical requests arriving together (a CI fleet behind one
   * address once the verified cache has expired): one slot, one point of each budget. Counted one
   * by one, a burst of right passwords was refused as "too many failed logins".
   */
  private verified(request: ProofRequest, kind: 'grant' | 'password', username: string | undefined, secret: string, verify: () => Promise<Verdict>): Promise<Verdict> {
    const key = this.verificationKey(`${kind}\0${request.clientIp}\0${username ?? ''}\0${secret}`);
    return this.verifications.run(key, () => this.guarded(request, kind, username, verify));
  }

  /** A verification under the brute-force budgets, and a slot for a password. */
  private async guarded(request: ProofRequest, kind: 'grant' | 'password', username: string | undefined, verify: () => Promise<Verdict>): Promise<Verdict> {
    // A refresh grant takes no slot: the Docker daemon redeems its identity token for every pull
    // and nothing remembers a redemption, so a fleet behind one address would be refused. Its
    // failures still count against the address.
    const release = kind === 'password' ? this.refusing(request, username, () => this.deps.slots?.acquire(request.clientIp)) : undefined;
    try {
      const reservation = await this.refusing(request, username, async () => this.deps.limiter?.reserve(request.clientIp, username));
      return await this.settle(reservation, verify);
    } finally {
      release?.();
    }
  }

  /**
   * Runs a verification under a reservation: a success gives the points back, a failure keeps
   * them (and counts against the account only when the backend knows it: `knownAccount`), and an
   * error (no verdict, e.g. the backend is unavailable) gives them back too.
   */
  private async settle(reservation: LoginReservation | undefined, verify: () => Promise<Verdict>): Promise<Verdict> {
    let verdict: Verdict;
    try {
      verdict = await verify();
    } catch (err) {
      await reservation?.cancelled();
      throw err;
    }
    if (verdict.kind === 'ok') await reservation?.succeeded();
    else await reservation?.failed(verdict.kind === 'denied' && verdict.knownAccount === true);
    return verdict;
  }

  /**
   * Runs `check`; when it refuses (a limit reached), at once or later, the refusal is counted and
   * reported as a denial only while the refusal log says so (the first few per address).
   */
  private refusing<T>(request: ProofRequest, username: string | undefined, check: () => T): T {
    let result: T;
    try {
      result = check();
    } catch (err) {
      throw this.refused(request, username, err);
    }
    return (
      result instanceof Promise
        ? result.catch((err: unknown) => {
            throw this.refused(request, username, err);
          })
        : result
    ) as T;
  }

  /** Counts a refusal by a limit (reported as a denial while the refusal log says so); returns `err`, to be thrown on. */
  private refused(request: ProofRequest, username: string | undefined, err: unknown): unknown {
    const limit = err instanceof TooManyRequestsError ? (err.limit ?? 'other') : err instanceof TemporarilyUnavailableError ? 'busy' : undefined;
    if (limit !== undefined && (this.deps.refusals?.refuse(request.clientIp, limit) ?? true)) {
      request.denied(limit === 'busy' ? 'too many logins under way' : `brute-force limit reached (${limit})`, username);
    }
    return err;
  }
}
