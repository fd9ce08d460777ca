import { describe, expect, it } from 'vitest';
import { ConnectionGate, RefusalTally } from '../../src/http/connection-gate.js';
import { totalWithin } from '../../src/http/connection-guard.js';
import { trustedPeer } from '../../src/http/trusted-peer.js';

describe('ConnectionGate', () => {
  it('bounds each address group and everyone together, and forgets a group once its last connection closes', () => {
    const gate = new ConnectionGate({ perAddress: 2, total: 3 });
    expect(gate.admit('192.0.2.1')).toBeUndefined();
    expect(gate.admit('192.0.2.1')).toBeUndefined();
    expect(gate.admit('192.0.2.1')).toBe('per_address');
    expect(gate.admit('2001:db8:1:2::/64')).toBeUndefined();
    expect(gate.admit('2001:db8:1:3::/64')).toBe('total');
    // A proxy (no group) is bounded by the total only.
    expect(gate.admit(undefined)).toBe('total');
    gate.release('192.0.2.1');
    expect(gate.admit(undefined)).toBeUndefined();
    expect(gate.open).toBe(3);
    gate.release('192.0.2.1');
    gate.release('2001:db8:1:2::/64');
    gate.release(undefined);
    expect(gate.open).toBe(0);
    expect(gate.groups).toBe(0);
  });
});

describe('RefusalTally', () => {
  it('sums refusals by bound and names the groups refused most, in memory that does not grow with the addresses', () => {
    const tally = new RefusalTally();
    expect(tally.record('per_address', '192.0.2.1')).toBe(true);
    expect(tally.record('per_address', '192.0.2.1')).toBe(false);
    tally.record('total', '192.0.2.2');
    for (let i = 0; i < 5000; i++) tally.record('total', `10.${i >> 8}.${i & 255}.1`);
    const summary = tally.drain();
    expect(summary?.refused).toEqual({ per_address: 2, total: 5001 });
    expect(summary?.addresses).toHaveLength(5);
    expect(summary?.addresses[0]).toEqual({ address: '192.0.2.1', refused: 2 });
    expect(tally.drain()).toBeUndefined();
    expect(tally.record('total', undefined)).toBe(true);
    expect(tally.drain()?.addresses).toEqual([{ address: 'trusted proxies', refused: 1 }]);
  });
});

describe('totalWithin', () => {
  it('keeps the total bound 256 below the process file limit, and leaves it alone where the limit is unknown', () => {
    expect(totalWithin(10_000, 1024)).toBe(768);
    expect(totalWithin(10_000, 1_048_576)).toBe(10_000);
    expect(totalWithin(10_000, undefined)).toBe(10_000);
    expect(totalWithin(10_000, 100)).toBe(1);
  });
});

describe('trustedPeer', () => {
  it('trusts no peer without trustProxy, and every peer under a hop count or true', () => {
    expect(trustedPeer(false)('10.0.0.5')).toBe(false);
    expect(trustedPeer(1)('203.0.113.9')).toBe(true);
    expect(trustedPeer(true)('203.0.113.9')).toBe(true);
  });

  it('trusts the addresses, ranges and named ranges a list gives, also seen through a dual-stack socket', () => {
    const trusted = trustedPeer(['10.1.2.3', '192.0.2.0/28', '198.51.100.0/255.255.255.0', 'loopback', '2001:db8::/64']);
    expect(trusted('10.1.2.3')).toBe(true);
    expect(trusted('::ffff:10.1.2.3')).toBe(true);
    expect(trusted('10.1.2.4')).toBe(false);
    expect(trusted('192.0.2.15')).toBe(true);
    expect(trusted('192.0.2.16')).toBe(false);
    expect(trusted('198.51.100.200')).toBe(true);
    expect(trusted('127.0.0.2')).toBe(true);
    expect(trusted('::1')).toBe(true);
    expect(trusted('2001:db8::99')).toBe(true);
    expect(trusted('2001:db8:0:1::1')).toBe(false);
    expect(trustedPeer('10.1.2.3, 10.1.2.4')('10.1.2.4')).toBe(true);
  });
});
