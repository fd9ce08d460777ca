import { isIPv4, isIPv6 } from 'node:net';

/** Default prefix length by which IPv6 client addresses are grouped for per-address limits. */
export const DEFAULT_IPV6_PREFIX_LENGTH = 64;

/**
 * The key under which a client address is limited. An IPv4 address is itself (an IPv4-mapped
 * IPv6 address is its IPv4 address); an IPv6 address is its first `ipv6PrefixLength` bits, as
 * `2001:db8:1:2::/64`: one subscriber usually holds a whole /64 and can take a new address from
 * it for every request, so limiting each IPv6 address alone bounds nothing. Anything else (a
 * Unix socket, an unparsable value) is returned as it is.
 */
export function addressGroup(address: string, ipv6PrefixLength = DEFAULT_IPV6_PREFIX_LENGTH): string {
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (ipv6PrefixLength >= 128) return expandIpv6(address).map((g) => g.toString(16)).join(':');
  const groups = expandIpv6(address);
  const kept: number[] = [];
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, ipv6PrefixLength - i * 16));
    kept.push(bits === 0 ? 0 : groups[i]! & ((0xffff << (16 - bits)) & 0xffff));
  }
  // Shortest form of the network address: trailing zero groups become `::`.
  let last = 8;
  while (last > 0 && kept[last - 1] === 0) last--;
  const head = kept.slice(0, last).map((g) => g.toString(16)).join(':');
  return `${last === 8 ? head : `${head}::`}/${ipv6PrefixLength}`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, embedded IPv4 converted). */
function expandIpv6(address: string): number[] {
  let text = address.split('%')[0]!.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const middle = right === undefined ? [] : new Array<string>(8 - head.length - tail.length).fill('0');
  return [...head, ...middle, ...tail].map((g) => parseInt(g, 16));
}
