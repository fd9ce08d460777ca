import { describe, expect, it } from 'vitest';
import { TooManyRequestsError } from '../../src/domain/errors.js';
import { VerificationSlots } from '../../src/authn/verification-slots.js';

describe('VerificationSlots', () => {
  it('gives the addresses of one IPv6 /64 one share of slots', () => {
    const slots = new VerificationSlots({ perAddress: 2, total: 10, ipv6PrefixLength: 64 });
    const held = [slots.acquire('2001:db8:1:2::1'), slots.acquire('2001:db8:1:2::2')];
    expect(() => slots.acquire('2001:db8:1:2:ffff::3')).toThrow(TooManyRequestsError);
    // Another /64 has its own share, and a freed slot is the group's again.
    slots.acquire('2001:db8:1:3::1');
    held[0]!();
    slots.acquire('2001:db8:1:2::99');
  });
});
