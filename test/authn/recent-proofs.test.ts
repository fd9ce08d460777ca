import { beforeAll, describe, expect, it } from 'vitest';
import { UnauthorizedError } from '../../src/domain/errors.js';
import type { TokenRequest } from '../../src/tokens/token-service.js';
import { aliceRequest, aliceServices, countLogins, makeAlice, type Alice } from '../support/alice.js';

// RecentProofs (src/authn/recent-proofs.ts): a credential recalled in the last second is not
// recalled again for the next repository, within the bounds of the answers handed out again.
let alice: Alice;

beforeAll(async () => {
  alice = await makeAlice();
});

const pull = (repository: string, overrides: Partial<TokenRequest> = {}) => aliceRequest(alice, { scopes: [`repository:${repository}:pull`], ...overrides });

describe('RecentProofs', () => {
  it('recalls a credential once for a client pulling several repositories within a second, and again after it', async () => {
    let now = Date.now();
    const s = aliceServices(alice, {}, { now: () => now });
    await s.tokens.issue(pull('alice/one')); // verified (bcrypt), then remembered
    const logins = countLogins(s);

    await s.tokens.issue(pull('alice/two'));
    now += 300;
    await s.tokens.issue(pull('alice/three', { clientIp: '10.0.0.9' }));
    expect(logins()).toBe(1);

    now += 800; // over a second since the recall
    await s.tokens.issue(pull('alice/four'));
    expect(logins()).toBe(2);
  });

  it('never stands for another secret: a wrong password is refused within the same second', async () => {
    const s = aliceServices(alice);
    await s.tokens.issue(pull('alice/one'));
    await s.tokens.issue(pull('alice/two'));
    await expect(s.tokens.issue(pull('alice/three', { credentials: { kind: 'password', username: 'alice', password: `${alice.password}x` } }))).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('is dropped by any invalidation, and a recall under way during one is not kept', async () => {
    const s = aliceServices(alice);
    await s.tokens.issue(pull('alice/one'));
    let during: (() => void) | undefined;
    const logins = countLogins(s, async () => during?.());

    await s.tokens.issue(pull('alice/two'));
    expect(logins()).toBe(1);
    s.coherence.forget(['some-key']); // another replica changed something this proof may rest on
    await s.tokens.issue(pull('alice/three'));
    expect(logins()).toBe(2);

    // An invalidation while the chain recalls: that recall may predate it, so it is not kept.
    s.coherence.forgetAll();
    during = () => s.coherence.forget(['another-key']);
    await s.tokens.issue(pull('alice/four'));
    during = undefined;
    await s.tokens.issue(pull('alice/five'));
    expect(logins()).toBe(4);
    await s.tokens.issue(pull('alice/six'));
    expect(logins()).toBe(4);
  });

  it('a registry credential revoked moments after its last use is refused at once', async () => {
    const s = aliceServices(alice);
    await s.tokens.issue(pull('alice/one'));
    const identity = { account: 'alice', provider: 'static', subject: 'alice', attributes: {} };
    const { secret, record } = await s.credentials.create(identity, { label: 'ci', lifetimeSeconds: 86_400, source: 'api', vouched: true });
    const withCredential = (repository: string) => pull(repository, { credentials: { kind: 'password', username: 'alice', password: secret } });
    await s.tokens.issue(withCredential('alice/one'));
    const logins = countLogins(s);
    await s.tokens.issue(withCredential('alice/two'));
    expect(logins()).toBe(0); // recalled moments ago

    expect(await s.credentials.revoke('alice', record.id)).toBe(true);
    await expect(s.tokens.issue(withCredential('alice/three'))).rejects.toBeInstanceOf(UnauthorizedError);
  });
});
