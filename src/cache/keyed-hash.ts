import { createHmac } from 'node:crypto';

/**
 * HMAC-SHA256 over the NUL-joined parts, hex. Cache keys for anything derived from a secret go
 * through this, so a dump of the cache reveals no token or password and cannot be brute-forced
 * without the key.
 */
export function keyedHash(key: Buffer, ...parts: string[]): string {
  // One update: every update() is a call into C++, and this runs on every token request.
  return createHmac('sha256', key).update(parts.join('\0')).digest('hex');
}
