import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TooManyRequestsError } from '../../src/domain/errors.js';
import { DeviceFlow, normaliseUserCode } from '../../src/flows/device-flow.js';
import { StartLimiter } from '../../src/flows/start-limiter.js';
import type { Store } from '../../src/store/store.js';
import { tempStore } from '../support/store.js';

const alice = { account: 'alice', provider: 'google', subject: 'a', attributes: {} };

function setup(overrides: Partial<{ maxStartsPerIp: number; maxStartsTotal: number }> = {}) {
  let now = 1_800_000_000_000;
  const store = tempStore(() => now);
  const hashKey = randomBytes(32);
  const limiter = new StartLimiter({ store, what: 'device logins', limit: 'device_starts', perAddress: overrides.maxStartsPerIp ?? 20, total: overrides.maxStartsTotal, windowSeconds: 600, ipv6PrefixLength: 64, now: () => now });
  const flow = new DeviceFlow({ store, limiter, hashKey, expiresInSeconds: 600, intervalSeconds: 5, now: () => now });
  return { flow, store, advance: (s: number) => void (now += s * 1000) };
}
const request = { clientId: 'wharf-cli', registry: 'registry.example', clientIp: '10.0.0.7' };

describe('DeviceFlow', () => {
  it('answers pending, then slow_down (interval +5 s, for good) when polled too fast', async () => {
    const { flow, advance } = setup();
    const { deviceCode, interval } = await flow.start(request);
    expect(interval).toBe(5);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('authorization_pending');
    advance(4);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('slow_down');
    advance(6); // enough for 5 s, not for the new 10 s
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('slow_down');
    advance(15);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('authorization_pending');
    advance(16);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('authorization_pending');
  });

  it('accepts the user code in any case and with any separators, once', async () => {
    const { flow } = setup();
    const { deviceCode, userCode } = await flow.start(request);
    expect(userCode).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    const typed = ` ${userCode.toLowerCase().replace('-', ' ')} `;
    expect(normaliseUserCode(typed)).toBe(userCode.replace('-', ''));
    expect((await flow.lookup(typed))?.registry).toBe('registry.example');
    expect(await flow.decide(typed, { approve: true, identity: alice })).toBe(true);
    expect(await flow.decide(userCode, { approve: true, identity: alice })).toBe(false); // cannot approve twice
    const approved = await flow.poll(deviceCode, 'wharf-cli');
    expect(approved.kind === 'approved' && approved.grant.identity).toEqual(alice);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('expired_token'); // handed out once
  });

  it('reports a denial once, then forgets the code', async () => {
    const { flow } = setup();
    const { deviceCode, userCode } = await flow.start(request);
    expect(await flow.decide(userCode, { approve: false })).toBe(true);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('access_denied');
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('expired_token');
  });

  it('expires codes, refuses another client id, and unknown codes', async () => {
    const { flow, advance } = setup();
    const { deviceCode, userCode } = await flow.start(request);
    expect((await flow.poll(deviceCode, 'someone-else')).kind).toBe('expired_token');
    expect((await flow.poll('made-up', 'wharf-cli')).kind).toBe('expired_token');
    advance(601);
    expect(await flow.lookup(userCode)).toBeUndefined();
    expect(await flow.decide(userCode, { approve: true, identity: alice })).toBe(false);
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('expired_token');
  });

  it('limits how many logins one address may start', async () => {
    const { flow, advance } = setup({ maxStartsPerIp: 3 });
    for (let i = 0; i < 3; i++) await flow.start(request);
    await expect(flow.start(request)).rejects.toBeInstanceOf(TooManyRequestsError);
    await flow.start({ ...request, clientIp: '10.0.0.8' });
    advance(600);
    await flow.start(request);
  });

  it('holds the per-address limit when 50 starts from one address arrive at once', async () => {
    const { flow } = setup({ maxStartsPerIp: 3 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => flow.start(request)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof TooManyRequestsError)).toBe(true);
  });

  it('bounds the starts of all addresses together, so no flood of addresses fills the store', async () => {
    const { flow } = setup({ maxStartsTotal: 5 });
    for (let i = 0; i < 5; i++) await flow.start({ ...request, clientIp: `10.0.1.${i}` });
    const refused = await flow.start({ ...request, clientIp: '10.0.2.1' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect((refused as TooManyRequestsError).retryAfterSeconds).toBeGreaterThan(0);
  });

  it('writes nothing to the store until a signed-in person decides, then one record, gone once handed out', async () => {
    const { flow, store } = setup();
    const started = await Promise.all(Array.from({ length: 10 }, (_, i) => flow.start({ ...request, clientIp: `10.0.3.${i}` })));
    for (const { deviceCode } of started) expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('authorization_pending');
    expect(await store.list('')).toEqual([]);
    expect(await flow.decide(started[0]!.userCode, { approve: true, identity: alice })).toBe(true);
    expect(await store.list('')).toHaveLength(1);
    expect((await flow.poll(started[0]!.deviceCode, 'wharf-cli')).kind).toBe('approved');
    expect(await store.list('')).toEqual([]);
  });

  it('hands an approved credential to only one of two concurrent polls', async () => {
    const { flow } = setup();
    const { deviceCode, userCode } = await flow.start(request);
    await flow.decide(userCode, { approve: true, identity: alice });
    const polls = await Promise.all([flow.poll(deviceCode, 'wharf-cli'), flow.poll(deviceCode, 'wharf-cli')]);
    expect(polls.map((p) => p.kind).sort()).toEqual(['approved', 'expired_token']);
  });

  it('never loses an approval to a poll that read the grant before it (the code is single-use)', async () => {
    const store = tempStore();
    let pause: Promise<void> | undefined;
    let resume: () => void = () => {};
    // The poll's read of the grant answers, then waits while the person approves.
    const gated: Store = Object.assign(Object.create(store) as Store, {
      get: async (key: string) => {
        const value = await store.get(key);
        if (pause && key.startsWith('device:')) await pause;
        return value;
      },
    });
    const flow = new DeviceFlow({ store: gated, hashKey: randomBytes(32), expiresInSeconds: 600, intervalSeconds: 5 });
    const { deviceCode, userCode } = await flow.start(request);
    pause = new Promise<void>((resolve) => (resume = resolve));
    const polling = flow.poll(deviceCode, 'wharf-cli');
    await new Promise((resolve) => setTimeout(resolve, 10));
    const gate = pause;
    pause = undefined;
    expect(await flow.decide(userCode, { approve: true, identity: alice })).toBe(true);
    resume();
    await gate;
    expect((await polling).kind).toBe('authorization_pending');
    expect((await flow.poll(deviceCode, 'wharf-cli')).kind).toBe('approved');
  });
});
