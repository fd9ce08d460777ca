import { BlockList, isIP } from 'node:net';

/** proxy-addr's named ranges (what fastify's `trustProxy` accepts by name). */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/**
 * Whether `server.trustProxy` makes the socket peer at `address` a trusted proxy, as fastify
 * decides for the nearest hop: a hop count or `true` trusts every peer (the deployment makes the
 * proxy the only way in), a list trusts the addresses and ranges in it, `false` none.
 */
export function trustedPeer(setting: boolean | number | string | string[]): (address: string) => boolean {
  if (setting === false) return () => false;
  if (setting === true || typeof setting === 'number') return () => true;
  const list = new BlockList();
  const entries = (Array.isArray(setting) ? setting : setting.split(',')).map((e) => e.trim()).filter((e) => e !== '');
  for (const entry of entries.flatMap((e) => NAMED_RANGES[e.toLowerCase()] ?? [e])) addEntry(list, entry);
  return (address) => {
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** Adds an address, `address/bits` or `address/netmask` (as proxy-addr reads them); anything else is skipped (fastify refuses it at start). */
function addEntry(list: BlockList, entry: string): void {
  const [address = '', bits] = entry.split('/');
  const plain = unmapped(address);
  const family = isIP(plain);
  if (family === 0) return;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (bits === undefined) return list.addAddress(plain, type);
  const prefix = /^\d+$/.test(bits) ? Number(bits) : isIP(bits) === 4 ? netmaskBits(bits) : undefined;
  if (prefix !== undefined && prefix <= (family === 4 ? 32 : 128)) list.addSubnet(plain, prefix, type);
}

/** `::ffff:10.1.2.3` (a dual-stack socket's view of an IPv4 peer) as `10.1.2.3`. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** The prefix length of a dotted IPv4 netmask (`255.255.255.0` is 24). */
function netmaskBits(mask: string): number {
  return mask.split('.').reduce((bits, octet) => bits + Number(octet).toString(2).replace(/0/g, '').length, 0);
}
