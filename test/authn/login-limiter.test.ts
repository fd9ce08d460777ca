import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../src/authn/login-limiter.js';
import { TooManyRequestsError } from '../../src/domain/errors.js';

const limiter = () =>
  new LoginLimiter({ perIp: { failures: 100, windowSeconds: 60 }, perAccount: { failures: 4, windowSeconds: 60 }, perAccountTotal: { failures: 6, windowSeconds: 60 }, hashKey: randomBytes(32) });
const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (err: unknown) => err);

describe('LoginLimiter', () => {
  it('counts failures against an account only when the backend knows the account', async () => {
    const l = limiter();
    for (let i = 0; i < 20; i++) await (await l.reserve('10.1.0.1', 'ghost')).failed(false);
    await (await l.reserve('10.1.0.1', 'ghost')).failed(false);
    for (let i = 0; i < 4; i++) await (await l.reserve('10.1.0.1', 'carol')).failed(true);
    expect(await refusal(l.reserve('10.1.0.1', 'carol'))).toMatchObject({ limit: 'account' });
  });

  it('admits no more concurrent guesses at one account than its budget has left, without spending the address’s budget on the rest', async () => {
    const l = limiter();
    const claims = await Promise.allSettled(Array.from({ length: 50 }, () => l.reserve('10.2.0.1', 'carol')));
    const admitted = claims.filter((c) => c.status === 'fulfilled');
    expect(admitted).toHaveLength(4);
    expect(claims.filter((c) => c.status === 'rejected').every((c) => (c as PromiseRejectedResult).reason instanceof TooManyRequestsError)).toBe(true);
    for (const c of admitted) await (c as PromiseFulfilledResult<Awaited<ReturnType<LoginLimiter['reserve']>>>).value.failed(true);
    // The address spent 4 of its 100 points: 96 other usernames still get verified.
    for (let i = 0; i < 96; i++) await (await l.reserve('10.2.0.1', `user${i}`)).failed(false);
    expect(await refusal(l.reserve('10.2.0.1', 'user96'))).toMatchObject({ limit: 'ip' });
  });

  it('refuses an account guessed from many addresses once its total is spent, but not its remembered credential', async () => {
    const l = limiter();
    for (let i = 1; i <= 6; i++) await (await l.reserve(`10.3.0.${i}`, 'carol')).failed(true);
    expect(await refusal(l.reserve('10.3.0.7', 'carol'))).toMatchObject({ limit: 'account_total', message: 'too many failed logins for this account from many addresses; try again later' });
    await l.recalled('10.3.0.8', 'carol');
  });

  it('counts every spelling of a name in one budget, as directories match names without regard to case', async () => {
    const l = limiter();
    for (const name of ['carol', 'Carol', 'CAROL', 'cArOl']) await (await l.reserve('10.4.0.1', name)).failed(true);
    expect(await refusal(l.reserve('10.4.0.1', 'carol'))).toMatchObject({ limit: 'account' });
    expect(await refusal(l.reserve('10.4.0.1', 'CaRoL'))).toMatchObject({ limit: 'account' });
  });
});
