import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import { createServices } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { CredentialAuthenticator } from '../../src/credentials/registry/credential-authenticator.js';
import { sweepExpiringCredentials } from '../../src/credentials/registry/credential-expiry.js';
import { CredentialStore } from '../../src/credentials/registry/credential-store.js';
import type { Store } from '../../src/store/store.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';

const alice = { account: 'alice', provider: 'github', subject: '1', attributes: {} };
const DAY = 86_400_000;

function setup(options: { bySource?: Record<string, number>; records?: Store; hashKey?: Buffer; clock?: { now: number } } = {}) {
  const clock = options.clock ?? { now: 1_800_000_000_000 };
  const records = options.records ?? tempStore(() => clock.now);
  const store = new CredentialStore({
    store: records,
    hashKey: options.hashKey ?? randomBytes(32),
    maxLifetimeSeconds: 90 * 86_400,
    maxLifetimeBySourceSeconds: options.bySource ?? {},
    now: () => clock.now,
  });
  return { store, records, clock, auth: new CredentialAuthenticator(store), advance: (ms: number) => void (clock.now += ms) };
}

describe('credential expiry', () => {
  it('caps a credential at its source’s ceiling, under maxDays', async () => {
    const { store } = setup({ bySource: { device: 7 * 86_400, api: 200 * 86_400 } });
    const life = async (source: 'browser' | 'device' | 'api') => {
      const { record } = await store.create(alice, { label: source, lifetimeSeconds: 365 * 86_400, source });
      return (record.expiresAt - record.createdAt) / DAY;
    };
    expect(await life('device')).toBe(7);
    expect(await life('browser')).toBe(90);
    expect(await life('api')).toBe(90); // maxDays stays the ceiling
  });

  it('tells the user of an expired credential that it expired, until the record is gone', async () => {
    const { store, auth, advance } = setup();
    const { secret } = await store.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'browser' });
    expect((await auth.login('alice', secret)).kind).toBe('ok');
    advance(DAY);
    const refused = await auth.login('alice', secret);
    expect(refused).toMatchObject({ kind: 'denied', message: expect.stringMatching(/^this registry credential \("ci"\) expired at 2027-01-1\dT.*; make a new one$/) as unknown });
    expect(await auth.recall('alice', secret)).toBeUndefined();
    expect(await store.list('alice')).toEqual([]);
    advance(31 * DAY);
    expect(await auth.login('alice', secret)).toEqual({ kind: 'denied', reason: 'registry credential is unknown, expired, revoked or belongs to another account' });
  });

  it('counts credentials ending within 7 days and notes each once a day, across replicas', async () => {
    const clock = { now: 1_800_000_000_000 };
    const records = tempStore(() => clock.now);
    const hashKey = randomBytes(32);
    const one = setup({ records, hashKey, clock });
    const two = setup({ records, hashKey, clock });
    const soon = await one.store.create(alice, { label: 'soon', lifetimeSeconds: 3 * 86_400, source: 'browser' });
    await one.store.create(alice, { label: 'later', lifetimeSeconds: 8 * 86_400, source: 'browser' });
    const revoked = await one.store.create(alice, { label: 'revoked', lifetimeSeconds: 2 * 86_400, source: 'device' });
    await one.store.revoke('alice', revoked.record.id);
    const log = captureLog('info', { unredacted: true });
    const counts: number[] = [];
    const sweep = (replica: typeof one) => sweepExpiringCredentials({ credentials: replica.store, logger: log.logger, count: (n) => counts.push(n) });
    await sweep(one);
    await sweep(two);
    clock.now += 3_600_000;
    await sweep(one);
    expect(counts).toEqual([1, 1, 1]);
    const noted = log.events('credential_expiring');
    expect(noted).toEqual([
      expect.objectContaining({ account: 'alice', credentialId: soon.record.id, label: 'soon', expiresAt: new Date(soon.record.expiresAt).toISOString() }),
    ]);
    clock.now += DAY; // the next day: noted again, once; 'later' now ends within 7 days too
    await sweep(two);
    await sweep(one);
    expect(counts.slice(3)).toEqual([2, 2]);
    expect(log.events('credential_expiring').map((l) => l.label)).toEqual(['soon', 'soon', 'later']);
  });
});

describe('credential rotation', () => {
  it('gives a second secret while the first works, until the first retires; the new one works throughout', async () => {
    const { store, auth, advance } = setup();
    const scope = [{ repositories: ['alice/app'], actions: ['pull' as const] }];
    const first = await store.create(alice, { label: 'ci', lifetimeSeconds: 30 * 86_400, source: 'api', scope });
    const ok = async (secret: string) => (await auth.login('alice', secret)).kind === 'ok';
    const rotated = (await store.rotate('alice', first.record.id, 3600))!;
    expect(rotated.previousRetiresAt).toBe(first.record.createdAt + 3_600_000);
    // Both stand for the one credential: same id, scope and expiry.
    for (const secret of [first.secret, rotated.secret]) {
      expect(await auth.login('alice', secret)).toMatchObject({ kind: 'ok', identity: { attributes: { credentialId: first.record.id } }, scope });
    }
    expect(await store.list('alice')).toEqual([expect.objectContaining({ id: first.record.id, expiresAt: first.record.expiresAt, previousRetiresAt: rotated.previousRetiresAt })]);
    advance(3_599_000);
    expect([await ok(first.secret), await ok(rotated.secret)]).toEqual([true, true]);
    advance(1000);
    expect([await ok(first.secret), await ok(rotated.secret)]).toEqual([false, true]);
    expect((await store.list('alice'))[0]!.previousRetiresAt).toBeUndefined();
  });

  it('retires the earlier secret at once when asked, and a revocation ends both', async () => {
    const { store, auth } = setup();
    const ok = async (secret: string) => (await auth.login('alice', secret)).kind === 'ok';
    const first = await store.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'api' });
    expect(await store.retire('alice', first.record.id)).toBe(false); // nothing to retire
    const second = (await store.rotate('alice', first.record.id, 24 * 3600))!;
    expect(await store.retire('bob', first.record.id)).toBe(false);
    expect(await store.retire('alice', first.record.id)).toBe(true);
    expect([await ok(first.secret), await ok(second.secret)]).toEqual([false, true]);
    const third = (await store.rotate('alice', first.record.id, 24 * 3600))!;
    // A rotation during another: the oldest secret ends, two at most.
    const fourth = (await store.rotate('alice', first.record.id, 24 * 3600))!;
    expect([await ok(second.secret), await ok(third.secret), await ok(fourth.secret)]).toEqual([false, true, true]);
    expect(await store.revoke('alice', first.record.id)).toBe(true);
    expect([await ok(third.secret), await ok(fourth.secret)]).toEqual([false, false]);
    expect(await store.rotate('alice', first.record.id, 3600)).toBeUndefined();
    expect(await store.list('alice')).toEqual([]);
  });
});

describe('a revocation during a rotation', () => {
  it('wins: what the rotation writes after it brings back neither secret', async () => {
    const clock = { now: 1_800_000_000_000 };
    const inner = tempStore(() => clock.now);
    let during: (() => Promise<unknown>) | undefined;
    // The real store; the rotation's first write of the account entry lets a revocation run first.
    const records: Store = Object.assign(Object.create(inner) as Store, {
      put: async (key: string, value: string, ttl?: number) => {
        if (during && key.startsWith('credacct:') && value.startsWith('{')) {
          const revoke = during;
          during = undefined;
          await revoke();
        }
        return inner.put(key, value, ttl);
      },
    });
    const { store, auth } = setup({ records, clock });
    const first = await store.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'api' });
    during = () => store.revoke('alice', first.record.id);
    expect(await store.rotate('alice', first.record.id, 3600)).toBeUndefined();
    expect(during).toBeUndefined(); // the revocation did run in the middle
    expect((await auth.login('alice', first.secret)).kind).toBe('denied');
    expect(await store.list('alice')).toEqual([]);
  });
});

describe('the running service', () => {
  it('counts credentials ending within 7 days in wharf_credentials_expiring from its start', async () => {
    const services = createServices(parseConfig({}, {}), { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), metrics: createMetrics(false) });
    await services.credentials.create(alice, { label: 'soon', lifetimeSeconds: 3 * 86_400, source: 'api', vouched: true });
    await services.credentials.create(alice, { label: 'later', lifetimeSeconds: 30 * 86_400, source: 'api', vouched: true });
    await services.start();
    await vi.waitFor(async () => expect(await services.metrics.registry.getSingleMetricAsString('wharf_credentials_expiring')).toMatch(/^wharf_credentials_expiring 1$/m));
    await services.close();
  });
});
