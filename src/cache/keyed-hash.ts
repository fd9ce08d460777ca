import { createHmac } from 'node:crypto';

/**
 * HMAC-SHA256 over the NUL-joined parts, hex. Cache keys for anything derived from a secret go
 * through this, so a dump of the cache reveals no token or password and cannot be brute-forced
 * without the key.
 */
export function keyedHash(key: Buffer, ...parts: string[]): string {
  const mac = createHmac('sha256', key);
  parts.forEach((part, i) => {
    if (i > 0) mac.update('\0');
    mac.update(part);
  });
  return mac.digest('hex');
}
