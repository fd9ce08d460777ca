import { isIP } from 'node:net';
import type { Config } from './schema.js';
import type { Finding } from '../domain/backend.js';

/** Widest ranges worth trusting as "the proxy": a /24 of IPv4, a /64 of IPv6. */
const NARROWEST = { 4: 24, 6: 64 } as const;
/** proxy-addr's named ranges and what they stand for. */
const NAMED: Record<string, string> = {
  uniquelocal: '10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7',
  linklocal: '169.254.0.0/16 and fe80::/10',
};

/**
 * Warns when `server.trustProxy` believes X-Forwarded-For from more senders than a proxy: `true`
 * (anyone), or ranges broader than a /24 (IPv4) or /64 (IPv6). Whoever is trusted picks the
 * client address that every per-address limit and audit line uses, so in a cluster trusting its
 * whole pod network, any pod escapes every per-address limit.
 */
export function trustProxyFindings(setting: Config['server']['trustProxy']): Finding[] {
  const path = 'server.trustProxy';
  if (setting === true) {
    return [{ severity: 'warning', path, message: 'true trusts X-Forwarded-For from any sender: every client can pick its own address and escape per-address limits; give a hop count (1 = the proxy in front) or the proxy’s own address' }];
  }
  if (setting === false || typeof setting === 'number') return [];
  const entries = (Array.isArray(setting) ? setting : setting.split(',')).map((e) => e.trim()).filter((e) => e !== '');
  const findings: Finding[] = [];
  for (const entry of entries) {
    const named = NAMED[entry.toLowerCase()];
    if (named) {
      findings.push({ severity: 'warning', path, message: `${entry} trusts ${named}: every host there can pick its own client address; name the proxy’s own address or range instead` });
      continue;
    }
    const [address = '', bits] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || bits === undefined) continue;
    const prefix = /^\d+$/.test(bits) ? Number(bits) : undefined;
    const narrowest = NARROWEST[family as 4 | 6];
    if (prefix !== undefined && prefix < narrowest) {
      findings.push({
        severity: 'warning',
        path,
        message: `${entry} is broader than a /${narrowest}: every host in it can pick its own client address and escape per-address limits; trust only the proxy (a hop count or its own address)`,
      });
    }
  }
  return findings;
}
