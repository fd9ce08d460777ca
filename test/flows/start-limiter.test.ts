import { describe, expect, it } from 'vitest';
import { TooManyRequestsError } from '../../src/domain/errors.js';
import { StartLimiter, type StartLimiterOptions } from '../../src/flows/start-limiter.js';
import { tempStore } from '../support/store.js';

const limiter = (options: Partial<StartLimiterOptions> & { now: () => number }) =>
  new StartLimiter({ what: 'device logins', limit: 'device_starts', perAddress: 2, windowSeconds: 600, ipv6PrefixLength: 64, ...options });

const refusal = (promise: Promise<void>) => promise.then(() => undefined, (err: unknown) => err);

describe('StartLimiter', () => {
  it('refuses a new address once its table is full, rather than forgetting a count before its window ends', async () => {
    let now = 1_800_000_000_000;
    const starts = limiter({ maxAddresses: 3, now: () => now });
    for (const ip of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.3']) await starts.take(ip);
    const newcomer = await refusal(starts.take('10.0.0.4'));
    expect(newcomer).toBeInstanceOf(TooManyRequestsError);
    expect(newcomer).toMatchObject({ message: 'too many device logins started; wait a few minutes', limit: 'device_starts_table' });
    // The first address's two starts are still counted.
    expect(await refusal(starts.take('10.0.0.1'))).toMatchObject({ limit: 'device_starts' });
    // A new window starts every count again.
    now += 600_000;
    await starts.take('10.0.0.4');
    await starts.take('10.0.0.1');
  });

  it('counts the starts of every replica together in the store, per window', async () => {
    let now = 1_800_000_000_000;
    const store = tempStore(() => now);
    const [a, b] = [limiter({ store, total: 3, now: () => now }), limiter({ store, total: 3, now: () => now })];
    await a.take('10.0.1.1');
    await b.take('10.0.1.2');
    await a.take('10.0.1.3');
    const overall = await refusal(b.take('10.0.1.4'));
    expect(overall).toMatchObject({ message: 'too many device logins started; wait a few minutes', limit: 'device_starts_total' });
    expect((overall as TooManyRequestsError).retryAfterSeconds).toBeGreaterThan(0);
    now += 600_000;
    await b.take('10.0.1.4');
  });
});
