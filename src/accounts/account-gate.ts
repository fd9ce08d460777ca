import type { Logger } from 'pino';
import { isRobotAccount, nonAsciiAccountProblem, ROBOT_SOURCE } from '../domain/account-name.js';
import { isRepositoryPathComponent } from '../domain/scope.js';
import { ownerOf, type Identity } from '../domain/identity.js';
import type { AccountBindings } from './account-bindings.js';

/** An account-name prefix that one identity source reserved (`allowAnyAccount` providers). */
export interface ReservedPrefix {
  /** What the reserving source puts before its account names (`gh-`). */
  readonly prefix: string;
  /** The only source whose identities may have names starting with `prefix`. */
  readonly source: string;
}

/** Whether an identity may act as its account; `message` is safe and meant for the user. */
export type Admission = { readonly kind: 'ok' } | { readonly kind: 'refused'; readonly message: string };

/**
 * The one place every identity passes before anything is issued for it: its account must be a
 * repository path component (ACL rules put it in `${account}/*`, so `alice/mallory` would reach
 * into alice's namespace), must not start with a prefix another source reserved, and must be
 * bound to the identity's source (claimed on first use).
 */
export class AccountGate {
  constructor(
    private readonly bindings: AccountBindings,
    private readonly options: { readonly reserved: readonly ReservedPrefix[]; readonly logger: Logger },
  ) {}

  /**
   * With `proven` (the identity is its source's word now: a password login, a browser sign-in's
   * callback, a refresh token's or a credential's re-check upstream, the config's own users at
   * start-up), its groups are recorded for decisions made in the person's name later (their robots').
   */
  async admit(identity: Identity, options: { readonly proven?: boolean } = {}): Promise<Admission> {
    const { account } = identity;
    // Backends that fold case refuse non-ASCII before folding; this names the problem for those
    // that pass a name on as the upstream spelled it (introspection, command, LDAP).
    const nonAscii = nonAsciiAccountProblem(`the ${identity.provider} account name`, account);
    if (nonAscii) return { kind: 'refused', message: `${nonAscii}; ask an administrator` };
    if (!isRepositoryPathComponent(account)) {
      return {
        kind: 'refused',
        message: `the ${identity.provider} account name ${JSON.stringify(account.slice(0, 100))} is not a valid registry name (lower-case letters and digits, joined by single ".", "_", "__" or "-"); ask an administrator`,
      };
    }
    const owner = ownerOf(identity);
    // Robot names belong to robots alone, whichever sign-in method a person uses; and a robot's
    // credential stands for no other name.
    if (isRobotAccount(account) !== (owner.source === ROBOT_SOURCE)) {
      this.conflict(account, owner.source, ROBOT_SOURCE, 'robot name');
      return { kind: 'refused', message: isRobotAccount(account) ? `account names starting with "robot-" are reserved for robot accounts; ask an administrator` : conflictMessage(account) };
    }
    // A robot is bound when it is made, never by a use: a deleted robot's name stays free.
    if (owner.source === ROBOT_SOURCE) {
      return (await this.bindings.holds(account, owner)) ? { kind: 'ok' } : { kind: 'refused', message: `robot account "${account}" no longer exists` };
    }
    const reserved = this.options.reserved.find((r) => account.startsWith(r.prefix) && r.source !== owner.source);
    if (reserved) {
      this.conflict(account, owner.source, reserved.source, 'reserved prefix');
      return { kind: 'refused', message: conflictMessage(account) };
    }
    // An identity recorded before bindings existed has no owner of its own: the one inferred from
    // its backend type must not take a free name from the source it really comes from.
    const claim = await this.bindings.claim(account, owner, { bind: identity.owner !== undefined });
    if (claim.kind === 'conflict') {
      this.conflict(account, owner.source, claim.owner.source, 'bound');
      return { kind: 'refused', message: conflictMessage(account) };
    }
    // Not for an identity with no owner of its own: it bound nothing, so it proves nothing either.
    if (options.proven === true && identity.owner !== undefined) await this.bindings.noteProven(identity);
    return { kind: 'ok' };
  }

  /**
   * The person who made a robot, as their identity source last proved them (their groups now,
   * picked up at their last login or re-check), or `maker` itself (as they were when they made it)
   * when no proof was recorded since; undefined when they no longer hold their account (bound to
   * the same sign-in method): a maker whose name was freed or passed on makes their robots get nothing.
   */
  async makerNow(maker: Identity): Promise<Identity | undefined> {
    return (await this.bindings.currentMaker(maker))?.identity;
  }

  private conflict(account: string, source: string, ownerSource: string, why: string): void {
    this.options.logger.warn({ event: 'account_conflict', account, source, ownerSource, why }, 'account name claimed by another sign-in method');
  }
}

/** What the user is told when another source owns the name. */
function conflictMessage(account: string): string {
  return `account "${account}" belongs to another sign-in method; ask an administrator`;
}
