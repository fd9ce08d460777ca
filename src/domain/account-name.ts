import { isRepositoryPathComponent } from './scope.js';

/** How an upstream identity's name becomes a Wharf account. */
export type AccountTransform = 'lowercase' | 'email-local-part';

/**
 * Derives an account name from an upstream value: lower-cased, optionally the part of an e-mail
 * address before `@`; undefined when the result is not a valid repository path component (the
 * login is then refused with a message rather than silently renamed).
 */
export function deriveAccountName(raw: string, transform: AccountTransform): string | undefined {
  let name = raw.trim().toLowerCase();
  if (transform === 'email-local-part') {
    const at = name.lastIndexOf('@');
    if (at <= 0) return undefined;
    name = name.slice(0, at);
  }
  return name.length <= 64 && isRepositoryPathComponent(name) ? name : undefined;
}
