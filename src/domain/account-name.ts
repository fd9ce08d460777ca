import { isRepositoryPathComponent } from './scope.js';

/** How an upstream identity's name becomes a Wharf account. */
export type AccountTransform = 'lowercase' | 'email-local-part';

/** An account name made from an upstream value, or why none can be. */
export type DerivedAccount = { readonly account: string } | { readonly error: string };

const NON_ASCII = /[^\x00-\x7F]/u;

/**
 * Why `value` (a name or claim that would become an account) is refused, when it holds a
 * character outside ASCII; undefined when it is all ASCII. Checked before any case folding:
 * Unicode folding maps some non-ASCII letters onto ASCII ones (KELVIN SIGN U+212A lower-cases to
 * `k`, LONG S U+017F matches `s` case-insensitively, U+0130 İ lower-cases to `i̇`), so a name
 * crafted at an IdP would otherwise claim someone's ASCII account first. Refusing is simpler to
 * reason about than NFKC, and registry names are ASCII anyway. `what` names the value
 * (`the GitHub login`); the value is shown with its non-ASCII characters escaped, since
 * `"\u212Aevin"` would print exactly like `"Kevin"`.
 */
export function nonAsciiAccountProblem(what: string, value: string): string | undefined {
  const found = NON_ASCII.exec(value);
  if (!found) return undefined;
  const codePoint = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  const shown = JSON.stringify(value.slice(0, 100)).replace(/[^\x00-\x7F]/gu, (c) => escapeUnits(c));
  return `${what} ${shown} holds U+${codePoint}: account names must be ASCII`;
}

/** True when `value` holds no character outside ASCII (a name safe to compare case-insensitively). */
export function isAscii(value: string): boolean {
  return !NON_ASCII.test(value);
}

/**
 * Derives an account name from an upstream value: lower-cased, optionally the part of an e-mail
 * address before `@`; an error when the value is not ASCII or the result is not a valid
 * repository path component (the login is then refused with a message rather than silently
 * renamed). `what` names the value in that message.
 */
export function deriveAccountName(raw: string, transform: AccountTransform, what = 'the name'): DerivedAccount {
  const nonAscii = nonAsciiAccountProblem(what, raw);
  if (nonAscii) return { error: nonAscii };
  const invalid = { error: `${what} ${JSON.stringify(raw.slice(0, 100))} does not give a valid account name` };
  let name = raw.trim().toLowerCase();
  if (transform === 'email-local-part') {
    const at = name.lastIndexOf('@');
    if (at <= 0) return invalid;
    name = name.slice(0, at);
  }
  return name.length <= 64 && isRepositoryPathComponent(name) ? { account: name } : invalid;
}

/** `\uXXXX` for each UTF-16 unit of `c`, as JSON would write it. */
function escapeUnits(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
  return out;
}

/**
 * What every robot account's name starts with. Reserved at the account gate for robots alone: no
 * person's sign-in, whatever its method, may act as `robot-…`, so a robot made by a team cannot be
 * claimed by a user who happens to be called `robot-ci` at an IdP. A valid registry path component.
 */
export const ROBOT_PREFIX = 'robot-';

/** The identity source robot accounts are bound to (their binding's `source`). */
export const ROBOT_SOURCE = 'robot';

/** Whether `account` is a robot's name (reserved for robots). */
export function isRobotAccount(account: string): boolean {
  return account.startsWith(ROBOT_PREFIX);
}

/**
 * The robot account for a name as a person types it: `ci-puller` and `robot-ci-puller` both give
 * `robot-ci-puller`; an error when the result is not a valid registry path component of at most 64
 * characters.
 */
export function robotAccountName(name: string): DerivedAccount {
  const account = isRobotAccount(name) ? name : ROBOT_PREFIX + name;
  if (account.length > 64 || account === ROBOT_PREFIX || !isRepositoryPathComponent(account)) {
    return { error: `invalid robot name ${JSON.stringify(name.slice(0, 80))}: lower-case letters and digits, joined by single ".", "_" or "-", at most ${64 - ROBOT_PREFIX.length} characters` };
  }
  return { account };
}
