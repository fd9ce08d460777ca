import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { InvalidGrantError, InvalidRequestError, UnauthorizedError } from '../../src/domain/errors.js';
import type { TokenRequest } from '../../src/tokens/token-service.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import { aliceRequest, aliceServices, makeAlice, type Alice, type AliceOptions } from '../support/alice.js';
import { tempStore } from '../support/store.js';

let alice: Alice;
let keys: Alice['keys'];
let hash: string;
let password: string;

beforeAll(async () => {
  alice = await makeAlice();
  ({ keys, hash, password } = alice);
});

const services = (extra: ConfigInput = {}, options: AliceOptions = {}) => aliceServices(alice, extra, options);
const request = (overrides: Partial<TokenRequest> = {}) => aliceRequest(alice, overrides);

describe('TokenService', () => {
  it('issues a token with the granted access and no refresh token unless offline', async () => {
    const { tokens } = services();
    const answer = await tokens.issue(request());
    expect(answer.access_token).toBeUndefined(); // a GET answer carries the token once
    expect((await tokens.issue(request({ grantType: 'password' }))).access_token).toMatch(/^ey/); // an OAuth2 POST answer under both names
    expect(answer.expires_in).toBe(300);
    expect(answer.refresh_token).toBeUndefined();
    expect(answer.scope).toBeUndefined();
    expect(decodeJwt(answer.token)).toMatchObject({ sub: 'alice', aud: 'registry', iss: 'wharf', access: [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }] });
    expect(Date.parse(answer.issued_at)).not.toBeNaN();
  });

  it('gives a longer lifetime when an action with its own lifetime is granted', async () => {
    const { tokens } = services({ token: { actionLifetimeSeconds: { push: 3600 } } });
    expect((await tokens.issue(request())).expires_in).toBe(3600);
    expect((await tokens.issue(request({ scopes: ['repository:alice/app:pull'] }))).expires_in).toBe(300);
    // Asked for push but not granted: the short lifetime.
    expect((await tokens.issue(request({ scopes: ['repository:bob/app:push'] }))).expires_in).toBe(300);
  });

  it('issues a refresh token for offline requests that then works as a refresh grant', async () => {
    const { tokens } = services();
    const first = await tokens.issue(request({ offline: true, scopes: [] }));
    expect(first.refresh_token).toMatch(/^wharf_rt_/);
    const again = await tokens.issue(
      request({ credentials: { kind: 'refresh_token', refreshToken: first.refresh_token! }, grantType: 'refresh_token', account: undefined }),
    );
    expect(decodeJwt(again.token).sub).toBe('alice');
    expect(again.refresh_token).toBeUndefined();
    expect(again.scope).toBe('repository:alice/app:pull,push');
  });

  it('does not issue refresh tokens when they are disabled', async () => {
    const { tokens } = services({ refreshTokens: { enabled: false } });
    expect((await tokens.issue(request({ offline: true }))).refresh_token).toBeUndefined();
  });

  it('refuses a refresh token of a user since removed from the config, or whose password changed', async () => {
    const store = tempStore();
    const hashKey = randomBytes(32);
    const withUsers = (users: Record<string, { passwordHash: string }>) =>
      createServices(parseConfig({ authn: [{ type: 'static', users }] }, {}), { store, logger: createLogger('silent'), keys: keys.store, hashKey });
    const before = withUsers({ alice: { passwordHash: hash }, bob: { passwordHash: hash } });
    const alices = (await before.tokens.issue(request({ offline: true }))).refresh_token!;
    const bobs = (await before.tokens.issue(request({ offline: true, account: 'bob', credentials: { kind: 'password', username: 'bob', password } }))).refresh_token!;
    const refresh = (s: typeof before, refreshToken: string) => s.tokens.issue(request({ credentials: { kind: 'refresh_token', refreshToken }, grantType: 'refresh_token', account: undefined }));
    expect(decodeJwt((await refresh(before, alices)).token).sub).toBe('alice');
    // The same store after a config change: bob removed, alice with a new password hash.
    const after = withUsers({ alice: { passwordHash: await bcrypt.hash('a-new-password', 4) } });
    await expect(refresh(after, bobs)).rejects.toBeInstanceOf(InvalidGrantError);
    await expect(refresh(after, alices)).rejects.toBeInstanceOf(InvalidGrantError);
    // Used as a Basic password, it is refused too.
    await expect(after.tokens.issue(request({ credentials: { kind: 'password', username: 'alice', password: alices } }))).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('applies the attributes a static user has now, not those at login', async () => {
    const store = tempStore();
    const hashKey = randomBytes(32);
    const acl = { rules: [{ account: '*', group: 'team', name: 'team/*', actions: ['push', 'pull'] }] };
    const withGroups = (groups: string[]) =>
      createServices(parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: hash, attributes: { groups } } } }], authz: { acl } }, {}), { store, logger: createLogger('silent'), keys: keys.store, hashKey });
    const inTeam = withGroups(['team']);
    const { refresh_token } = await inTeam.tokens.issue(request({ offline: true, scopes: ['repository:team/base:push,pull'] }));
    const refresh = (s: typeof inTeam) => s.tokens.issue(request({ credentials: { kind: 'refresh_token', refreshToken: refresh_token! }, grantType: 'refresh_token', account: undefined, scopes: ['repository:team/base:push,pull'] }));
    expect((await refresh(inTeam)).scope).toBe('repository:team/base:push,pull');
    expect((await refresh(withGroups([]))).scope).toBe('');
  });

  it('gives a refresh token used as a password with offline access only its family’s remaining life, and revokes the family together', async () => {
    let now = Date.now();
    const s = services({ refreshTokens: { maxAgeSeconds: 3600 } }, { now: () => now });
    const first = (await s.tokens.issue(request({ offline: true }))).refresh_token!;
    now += 3000_000;
    const second = (await s.tokens.issue(request({ offline: true, credentials: { kind: 'password', username: 'alice', password: first } }))).refresh_token!;
    expect(second).toMatch(/^wharf_rt_/);
    const refresh = (refreshToken: string) => s.tokens.issue(request({ credentials: { kind: 'refresh_token', refreshToken }, grantType: 'refresh_token', account: undefined }));
    now += 599_000;
    expect(decodeJwt((await refresh(second)).token).sub).toBe('alice');
    now += 2_000;
    await expect(refresh(second)).rejects.toBeInstanceOf(InvalidGrantError);

    const third = (await s.tokens.issue(request({ offline: true }))).refresh_token!;
    const fourth = (await s.tokens.issue(request({ offline: true, credentials: { kind: 'password', username: 'alice', password: third } }))).refresh_token!;
    expect(await s.refreshTokens.revoke(third)).toBe(true);
    await expect(refresh(fourth)).rejects.toBeInstanceOf(InvalidGrantError);
  });

  it('gives no refresh token to a login whose backend cannot re-check it (external command)', async () => {
    const config = parseConfig({ authn: [{ type: 'command', command: [process.execPath, '-e', 'process.stdin.resume(); process.stdin.on("end", () => process.exit(0))'] }] }, {});
    const s = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: keys.store, hashKey: randomBytes(32) });
    const answer = await s.tokens.issue(request({ offline: true }));
    expect(decodeJwt(answer.token).sub).toBe('alice');
    expect(answer.refresh_token).toBeUndefined();
  });

  it('accepts a refresh token as the Basic password of its own account only', async () => {
    const s = services();
    const { refresh_token } = await s.tokens.issue(request({ offline: true }));
    const viaPassword = await s.tokens.issue(request({ credentials: { kind: 'password', username: 'alice', password: refresh_token! } }));
    expect(decodeJwt(viaPassword.token).sub).toBe('alice');
    await expect(
      s.tokens.issue(request({ account: 'bob', credentials: { kind: 'password', username: 'bob', password: refresh_token! } })),
    ).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('refuses an account parameter that differs from the username, and a wrong service', async () => {
    const { tokens } = services();
    await expect(tokens.issue(request({ account: 'bob' }))).rejects.toThrow('the account parameter does not match the username');
    await expect(tokens.issue(request({ service: 'elsewhere' }))).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it('gives anonymous clients a token with empty access and empty subject', async () => {
    const { tokens } = services();
    const answer = await tokens.issue(request({ credentials: { kind: 'anonymous' }, account: undefined }));
    expect(decodeJwt(answer.token)).toMatchObject({ sub: '', access: [] });
  });
});

describe('TokenService under a burst', () => {
  it('verifies 40 requests with the same right password at once only once, so a CI fleet behind one address is not refused', async () => {
    const s = services({ bruteForce: { perAccount: { failures: 3 }, maxConcurrentPerAddress: 2 } });
    // Each for another repository: no answer to share, every one needs the credential verified.
    const answers = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => s.tokens.issue(request({ scopes: [`repository:alice/app-${i}:pull`], grantType: 'password' }))));
    expect(answers.filter((a) => a.status === 'rejected').map((a) => String((a as PromiseRejectedResult).reason))).toEqual([]);
    expect(await s.metrics.registry.getSingleMetricAsString('wharf_credential_verifications_total')).toMatch(/backend="static"} 1$/m);
    // Distinct wrong guesses are still counted one by one.
    for (let i = 0; i < 3; i++) await expect(s.tokens.issue(request({ credentials: { kind: 'password', username: 'alice', password: `wrong-${i}` }, grantType: 'password' }))).rejects.toThrow(/invalid username or password/);
    await expect(s.tokens.issue(request({ credentials: { kind: 'password', username: 'alice', password: 'wrong-again' }, grantType: 'password' }))).rejects.toThrow(/too many/);
  });
});

describe('TokenService lifetimes', () => {
  it('never lets a token outlive an identity that expires (an ID token used as password)', async () => {
    // A fixed clock: bcrypt on a loaded machine may take longer than the second a wall clock would allow.
    const now = Math.floor(Date.now() / 1000) * 1000;
    const exp = now / 1000 + 90;
    const s = services({ authn: [{ type: 'static', users: { alice: { passwordHash: hash, attributes: { expiresAt: exp } } } }] }, { now: () => now });
    expect((await s.tokens.issue(request())).expires_in).toBe(90);
  });
});
