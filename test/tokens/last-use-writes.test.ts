import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import type { Store } from '../../src/store/store.js';
import { aliceRequest, makeAlice, type Alice } from '../support/alice.js';
import { tempStore } from '../support/store.js';

let alice: Alice;
beforeAll(async () => {
  alice = await makeAlice();
});

/** The real store, with every write counted by key prefix. */
function countingStore(inner: Store): { store: Store; writes: string[] } {
  const writes: string[] = [];
  const note = (key: string) => writes.push(key.split(':')[0]!);
  const store: Store = {
    get: (key) => inner.get(key),
    put: (key, value, ttl) => (note(key), inner.put(key, value, ttl)),
    putIfAbsent: (key, value, ttl) => (note(key), inner.putIfAbsent(key, value, ttl)),
    delete: (key) => (note(key), inner.delete(key)),
    increment: (key, ttl) => (note(key), inner.increment(key, ttl)),
    list: (prefix, limit) => inner.list(prefix, limit),
    health: () => inner.health(),
    close: () => inner.close(),
  };
  return { store, writes };
}

describe('last use of a credential', () => {
  it('costs at most one store write over 1000 token requests (one every 3 s, each decided anew)', async () => {
    const clock = { now: 1_800_000_000_000 };
    const { store, writes } = countingStore(tempStore(() => clock.now));
    const config = parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: alice.hash } } }] }, {});
    const s = createServices(config, { store, logger: createLogger('silent'), keys: alice.keys.store, hashKey: randomBytes(32), now: () => clock.now });
    const { secret, record } = await s.credentials.create({ account: 'alice', provider: 'static', subject: 'alice', attributes: {} }, { label: 'ci', lifetimeSeconds: 86_400, source: 'api' });
    await s.tokens.issue(aliceRequest(alice)); // the account's first sign-in binds its name: not the credential's cost
    writes.length = 0;
    for (let i = 0; i < 1000; i++) {
      clock.now += 3000; // past the answer reuse window: every request is proved, decided and minted
      const answer = await s.tokens.issue(aliceRequest(alice, { credentials: { kind: 'password', username: 'alice', password: secret } }));
      expect(answer.token).toMatch(/^ey/);
    }
    expect(writes).toEqual(['credused']);
    const listed = await s.credentials.list('alice');
    expect(listed.find((c) => c.id === record.id)?.lastUsedAt).toBe(1_800_000_000_000 + 3000);
    await s.close();
  });
});
