import type { CredentialScope } from '../domain/credential-scope.js';
import type { Identity } from '../domain/identity.js';
import type { Provenance } from './authenticator.js';

/** What a token request carries to say who sends it. */
export type PresentedCredentials =
  | { readonly kind: 'anonymous' }
  /** Basic credentials (or the password grant's fields); the password may be any of Wharf's own credentials. */
  | { readonly kind: 'password'; readonly username: string; readonly password: string }
  /** `grant_type=refresh_token`. */
  | { readonly kind: 'refresh_token'; readonly refreshToken: string };

/** The reason a refusal is told with when no backend recognised the credential (for an ID token: its issuer is not configured). */
export const NOT_RECOGNISED = 'no authenticator recognised the user';

/** One request to prove, in the prover's terms. */
export interface ProofRequest {
  readonly credentials: PresentedCredentials;
  /** `account`: when sent with a password it must equal the username. */
  readonly account: string | undefined;
  readonly clientIp: string;
  /** The service the answer is for (a refresh token is redeemed for its own service only). */
  readonly service: string;
  /**
   * Told of every refusal worth an audit line (why, and the account it names), before the refusal
   * is thrown. A refusal by a limit is told only while the refusal log says so (the first few per
   * address); the rest are counted and summarised there.
   */
  readonly denied: (reason: string, account: string | undefined) => void;
}

/** Who proved to be asking, and what a refresh token made from this proof must carry. */
export interface Proof {
  readonly identity: Identity;
  readonly provenance?: Provenance | undefined;
  /**
   * What the credential itself may be used for, when it is narrower than its account (a scoped
   * registry credential): decisions are cut down to it. Undefined: the account's rights.
   */
  readonly scope?: CredentialScope | undefined;
  /** A robot made by a person: that person, whose rights now bound the robot's decisions. */
  readonly maker?: Identity | undefined;
}

/**
 * What the token endpoint asks of authentication: the one way from presented credentials to an
 * identity. Everything between (budgets, slots, shared verifications, the backends, Wharf's own
 * credentials, the account gate) is the prover's.
 */
export interface Prover {
  /**
   * The proof of who sends the request; undefined for an anonymous one. Rejects with an error of
   * the tree when the credentials prove nothing (401, or `invalid_grant` for a refresh grant), a
   * limit is reached (429) or no decision can be made (503). Given as is, not in a promise, when
   * nothing needs waiting for (an anonymous request, a credential recalled in the last second):
   * every token request asks, and a promise awaited is a turn and a few hundred bytes.
   */
  prove(request: ProofRequest): Proof | undefined | Promise<Proof | undefined>;
  /**
   * A new refresh token standing for `proof` on `service` (in its family when the proof came from
   * one); undefined when refresh tokens are disabled or the backend that proved the identity cannot
   * re-check it later (it would be outlived by the token).
   */
  refreshTokenFor(proof: Proof, service: string): Promise<string | undefined>;
}
