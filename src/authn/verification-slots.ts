import { addressGroup, DEFAULT_IPV6_PREFIX_LENGTH } from '../domain/client-address.js';
import { TemporarilyUnavailableError, TooManyRequestsError } from '../domain/errors.js';

/** Bounds of concurrent credential verifications in one process. */
export interface VerificationSlotsOptions {
  /** Verifications under way for one client address group. */
  perAddress: number;
  /** Verifications under way in total. */
  total: number;
  /** IPv6 addresses are counted by this prefix (`server.ipv6PrefixLength`). Default 64. */
  ipv6PrefixLength?: number;
}

/**
 * Bounds how many credential verifications (bcrypt, an LDAP bind, an upstream call) run at once,
 * per client address and in total. The excess is refused at once rather than queued: bcrypt
 * runs on libuv's small thread pool, and a queue there made one address's burst of 200 guesses
 * delay everyone else's login from 0.26 s to 6.8 s. Per process on purpose: what is bounded is
 * this process's CPU and connections, and counting costs no shared-store round trip.
 */
export class VerificationSlots {
  private readonly byAddress = new Map<string, number>();
  private running = 0;

  constructor(private readonly options: VerificationSlotsOptions) {}

  /**
   * Takes a slot for `clientIp`, or throws: TooManyRequestsError (429) when its address group already
   * has its share under way, TemporarilyUnavailableError (503) when the process is at its total.
   * The returned function frees the slot; call it once.
   */
  acquire(clientIp: string): () => void {
    const group = addressGroup(clientIp, this.options.ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH);
    const mine = this.byAddress.get(group) ?? 0;
    // The address's own bound first: a burst from one address is that address's problem (429),
    // not a server-wide shortage.
    if (mine >= this.options.perAddress) throw new TooManyRequestsError('too many logins under way from this address; try again in a moment', 1, 'address_concurrency');
    if (this.running >= this.options.total) throw new TemporarilyUnavailableError('too many logins under way; try again in a moment', { retryAfterSeconds: 1 });
    this.byAddress.set(group, mine + 1);
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.byAddress.get(group) ?? 1) - 1;
      if (left === 0) this.byAddress.delete(group);
      else this.byAddress.set(group, left);
    };
  }
}
