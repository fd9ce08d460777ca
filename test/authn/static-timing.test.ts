import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { StaticAuthenticator } from '../../src/authn/static/static-authenticator.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { hashPasswordCommand } from '../../src/cli/hash-password.js';

// A login as an unknown static user must cost what a wrong password for a known one costs, or
// the time of the refusal tells which usernames exist.
describe('StaticAuthenticator: an unknown user', () => {
  it('pays one bcrypt check at the cost `wharf hash-password` gives users by default', async () => {
    let printed = '';
    const io = { env: {}, stdout: (s: string) => void (printed += s), stderr: () => {}, readStdin: async () => 'a password\n' };
    expect(await hashPasswordCommand([], io)).toBe(0);
    const userHash = printed.trim();

    const auth = new StaticAuthenticator({ type: 'static', users: { alice: { passwordHash: userHash, attributes: {} } }, verifiedCacheSeconds: 60 }, { cache: new MemoryCache({ maxEntries: 10 }), hashKey: randomBytes(32) });
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      expect(await auth.login('mallory', 'a password')).toEqual({ kind: 'no_match' });
      expect(await auth.login('alice', 'wrong password')).toEqual({ kind: 'denied', reason: 'invalid username or password', knownAccount: true });
      expect(compare).toHaveBeenCalledTimes(2);
      const [unknown, known] = compare.mock.calls.map((call) => bcrypt.getRounds(call[1] as string));
      expect(unknown).toBe(known);
    } finally {
      compare.mockRestore();
    }
  });
});
