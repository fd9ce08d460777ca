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
}

/** Highest byte count accepted for a username, matching the repository name limit. */
export const MAX_USERNAME_LENGTH = 255;

/** True for usernames Wharf will accept at all: no control characters, bounded length. */
export function isAcceptableUsername(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name.length > 0 && Buffer.byteLength(name) <= MAX_USERNAME_LENGTH && !/[\u0000-\u001f\u007f]/.test(name);
}
