import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyedHash, storedKeyedHash } from '../../src/crypto/keyed-hash.js';

describe('storedKeyedHash (names of cached decisions, shared by replicas through Redis)', () => {
  const key = randomBytes(32);

  it('gives every replica with the same key the same name, and a replica with another key another', () => {
    const text = 'g1\0registry\0alice\0["platform","alice",{}]\0repository\0\0alice/app\0pull';
    const name = storedKeyedHash(key, 'decision')(text);
    expect(storedKeyedHash(Buffer.from(key), 'decision')(text)).toBe(name);
    expect(storedKeyedHash(randomBytes(32), 'decision')(text)).not.toBe(name);
    expect(storedKeyedHash(key, 'decision\0other endpoint')(text)).not.toBe(name);
    expect(name).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('reveals nothing of the text: neither it nor an unkeyed hash of it appears in the name', () => {
    const secret = 'plat_alice_0123456789abcdef';
    const name = storedKeyedHash(key, 'decision')(secret);
    expect(name).not.toContain(secret);
    for (const algorithm of ['sha256', 'sha512-256']) {
      expect(name).not.toBe(createHash(algorithm).update(secret).digest('base64url'));
    }
    expect(name).not.toBe(keyedHash(key, 'decision', secret));
  });
});
