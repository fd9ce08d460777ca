/** Who a request acts as, whatever backend proved it. */
export interface Identity {
  /** The registry account name; it fills `sub` and `${account}` in ACL rules. */
  readonly account: string;
  /** The authenticator that proved it (e.g. `static`, `refresh`, `introspection`). */
  readonly provider: string;
  /** The backend's own stable subject id (may equal `account`). */
  readonly subject: string;
  /** Extra facts from the backend (groups, orgs, claims) for authorizers; never secrets. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /**
   * Who may own `account` (see account bindings). Backends set it; an identity without one (made
   * before bindings existed) stands for the source `provider` and the subject `subject`.
   */
  readonly owner?: AccountOwner;
}

/**
 * The identity source an account name is bound to: a source (`static`, `ldap:<url>/<baseDn>`,
 * `oidc-token:<issuer>`...) and, for sources whose users are told apart by a stable id, that id.
 */
export interface AccountOwner {
  /** Names the identity source; two backends reading the same users name the same source. */
  readonly source: string;
  /**
   * The user's stable id within the source (entry DN, `sub`, numeric GitHub id); absent where the
   * source itself decides who is which account (an introspection platform, an oidc-token issuer).
   */
  readonly subject?: string;
}

/** The owner an identity claims its account for. */
export function ownerOf(identity: Identity): AccountOwner {
  return identity.owner ?? { source: identity.provider, subject: identity.subject };
}

/** Highest byte count accepted for a username, matching the repository name limit. */
export const MAX_USERNAME_LENGTH = 255;

/** True for usernames Wharf will accept at all: no control characters, bounded length. */
export function isAcceptableUsername(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= MAX_USERNAME_LENGTH && !/[\u0000-\u001f\u007f]/.test(name);
}
