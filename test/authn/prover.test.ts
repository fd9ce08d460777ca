import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidGrantError, UnauthorizedError } from '../../src/domain/errors.js';
import type { TokenRequest } from '../../src/tokens/token-service.js';
import { aliceRequest, aliceServices, makeAlice, type Alice } from '../support/alice.js';
import { captureLog } from '../support/log-capture.js';

let alice: Alice;
beforeAll(async () => {
  alice = await makeAlice();
});

/** A refresh token redeemed by the refresh grant, and the same token as alice's Basic password. */
const asGrant = (refreshToken: string): Partial<TokenRequest> => ({ credentials: { kind: 'refresh_token', refreshToken }, grantType: 'refresh_token', account: undefined });
const asPassword = (refreshToken: string): Partial<TokenRequest> => ({ credentials: { kind: 'password', username: 'alice', password: refreshToken }, grantType: 'password' });

/** How many refresh-token redemptions reached a verdict, by the verification metric. */
async function redemptions(s: ReturnType<typeof aliceServices>): Promise<number> {
  const text = await s.metrics.registry.getSingleMetricAsString('wharf_credential_verifications_total');
  return Number(/backend="refresh"} (\d+)$/m.exec(text)?.[1] ?? 0);
}

describe('the prover redeems a refresh token one way, by grant or as a password', () => {
  it('counts each redemption, whichever way the token came, and ends both ways with a revocation', async () => {
    const log = captureLog('info');
    const s = aliceServices(alice, {}, { log });
    const token = (await s.tokens.issue(aliceRequest(alice, { offline: true }))).refresh_token!;
    expect(decodeJwt((await s.tokens.issue(aliceRequest(alice, asGrant(token)))).token).sub).toBe('alice');
    expect(decodeJwt((await s.tokens.issue(aliceRequest(alice, asPassword(token)))).token).sub).toBe('alice');
    // Both are verifications of the same kind: an operator sees every redemption, not half of them.
    expect(await redemptions(s)).toBe(2);

    expect(await s.refreshTokens.revoke(token)).toBe(true);
    await expect(s.tokens.issue(aliceRequest(alice, asGrant(token)))).rejects.toBeInstanceOf(InvalidGrantError);
    await expect(s.tokens.issue(aliceRequest(alice, asPassword(token)))).rejects.toBeInstanceOf(UnauthorizedError);
    const denied = log.events('token_denied').map(({ account, grantType, reason }) => ({ account, grantType, reason }));
    expect(denied).toEqual([
      { account: '', grantType: 'refresh_token', reason: 'refresh token invalid, expired, revoked or for another service' },
      { account: 'alice', grantType: 'password', reason: 'refresh token is invalid, expired, revoked or not yours' },
    ]);
    expect(await redemptions(s)).toBe(4);
  });

  it('redeems identical refresh grants arriving together once', async () => {
    const s = aliceServices(alice);
    const token = (await s.tokens.issue(aliceRequest(alice, { offline: true }))).refresh_token!;
    const answers = await Promise.all(Array.from({ length: 20 }, () => s.tokens.issue(aliceRequest(alice, asGrant(token)))));
    expect(answers.map((a) => decodeJwt(a.token).sub)).toEqual(Array.from({ length: 20 }, () => 'alice'));
    expect(await redemptions(s)).toBe(1);
  });

  it('refuses a token both ways once its account belongs to another sign-in method, naming the account', async () => {
    const log = captureLog('info');
    const s = aliceServices(alice, {}, { log });
    const token = (await s.tokens.issue(aliceRequest(alice, { offline: true }))).refresh_token!;
    await s.bindings.unbind('alice');
    expect((await s.bindings.claim('alice', { source: 'ldap', subject: 'uid=alice' }, { bind: true })).kind).toBe('owned');
    const message = 'account "alice" belongs to another sign-in method; ask an administrator';
    await expect(s.tokens.issue(aliceRequest(alice, asGrant(token)))).rejects.toThrow(new InvalidGrantError(message));
    await expect(s.tokens.issue(aliceRequest(alice, asPassword(token)))).rejects.toThrow(new UnauthorizedError(message));
    expect(log.events('token_denied').map((l) => [l.account, l.reason])).toEqual([
      ['alice', message],
      ['alice', message],
    ]);
  });
});
