import { describe, expect, it } from 'vitest';
import { addressGroup } from '../../src/domain/client-address.js';

describe('addressGroup', () => {
  it('keeps an IPv4 address as it is, and an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(addressGroup('192.0.2.7')).toBe('192.0.2.7');
    expect(addressGroup('::ffff:192.0.2.7')).toBe('192.0.2.7');
  });

  it('groups every address of one IPv6 /64 under one key, and another /64 under another', () => {
    const a = addressGroup('2001:db8:1:2::1');
    expect(a).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:db8:1:2:ffff:eeee:dddd:cccc')).toBe(a);
    expect(addressGroup('2001:0DB8:0001:0002:0:0:0:9')).toBe(a);
    expect(addressGroup('2001:db8:1:3::1')).not.toBe(a);
  });

  it('honours other prefix lengths, including ones inside a group', () => {
    expect(addressGroup('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(addressGroup('2001:db8:1:2::1', 56)).toBe('2001:db8:1::/56');
    expect(addressGroup('2001:db8:1:2ff::1', 56)).toBe('2001:db8:1:200::/56');
    expect(addressGroup('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2:0:0:0:1');
    expect(addressGroup('::1')).toBe('::/64');
  });

  it('returns what is not an IP address unchanged', () => {
    expect(addressGroup('unix:/run/wharf.sock')).toBe('unix:/run/wharf.sock');
  });
});
