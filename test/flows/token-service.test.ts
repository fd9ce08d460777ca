import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { InvalidGrantError, InvalidRequestError, UnauthorizedError } from '../../src/domain/errors.js';
import type { TokenRequest } from '../../src/flows/token-service.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import type { LoadedKeys } from '../../src/tokens/key-files.js';
import { testKeys } from '../support/keys.js';

let keys: LoadedKeys;
let hash: string;
const password = randomBytes(9).toString('base64url');

beforeAll(async () => {
  keys = await testKeys();
  hash = await bcrypt.hash(password, 10);
});

/** Services for the static user alice; `lines` collects the log lines (silent without), `now` is the clock. */
function services(extra: ConfigInput = {}, options: { lines?: Record<string, unknown>[]; now?: () => number } = {}) {
  const config = parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: hash } } }], ...extra }, {});
  const { lines, now } = options;
  const logger = lines ? createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) }) : createLogger('silent');
  return createServices(config, { store: tempStore(), logger, keys: keys.store, hashKey: randomBytes(32), ...(now ? { now } : {}) });
}

/**
 * Counts the password authentications `s` makes, remembered or verified (each first awaiting
 * `before`, when given); returns the count so far. Every one begins by asking the backends what
 * they remember.
 */
function countLogins(s: ReturnType<typeof services>, before?: () => Promise<unknown>): () => number {
  let logins = 0;
  const recall = s.authenticators.recall.bind(s.authenticators);
  s.authenticators.recall = async (...args) => {
    logins++;
    await before?.();
    return recall(...args);
  };
  return () => logins;
}

function request(overrides: Partial<TokenRequest> = {}): TokenRequest {
  return {
    service: 'registry',
    scopes: ['repository:alice/app:pull,push'],
    account: 'alice',
    credentials: { kind: 'password', username: 'alice', password },
    offline: false,
    clientId: 'docker',
    clientIp: '127.0.0.1',
    grantType: 'get',
    ...overrides,
  };
}

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

describe('TokenService lifetimes', () => {
  it('never lets a token outlive an identity that expires (an ID token used as password)', async () => {
    // A fixed clock: bcrypt on a loaded machine may take longer than the second a wall clock would allow.
    const now = Math.floor(Date.now() / 1000) * 1000;
    const exp = now / 1000 + 90;
    const s = services({ authn: [{ type: 'static', users: { alice: { passwordHash: hash, attributes: { expiresAt: exp } } } }] }, { now: () => now });
    expect((await s.tokens.issue(request())).expires_in).toBe(90);
  });
});

describe('TokenService recent answers', () => {
  it('answers an identical request again for a second without deciding anew, and never for another password', async () => {
    let now = Date.now();
    const s = services({}, { now: () => now });
    const logins = countLogins(s);

    const first = await s.tokens.issue(request());
    now += 400;
    const again = await s.tokens.issue(request());
    expect(logins()).toBe(1);
    expect(again.token).toBe(first.token);
    expect(first.expires_in - again.expires_in).toBeLessThanOrEqual(1); // 0.4 s later, in whole seconds

    await expect(s.tokens.issue(request({ credentials: { kind: 'password', username: 'alice', password: 'wrong' } }))).rejects.toBeInstanceOf(UnauthorizedError);
    await s.tokens.issue(request({ clientIp: '10.0.0.9' })); // another client address decides anew
    await s.tokens.issue(request({ offline: true })); // refresh tokens are never handed out twice
    expect(logins()).toBe(4);

    s.tokens.forgetAll(); // what any invalidation or revocation does
    await s.tokens.issue(request());
    expect(logins()).toBe(5);
    now += 1100;
    await s.tokens.issue(request());
    expect(logins()).toBe(6);
  });

  it('audits an answer handed out again in one line per answer, with the count, once its second is over', async () => {
    let now = Date.now();
    const lines: Record<string, unknown>[] = [];
    const s = services({}, { lines, now: () => now });

    const first = await s.tokens.answer(request());
    const again = [];
    for (let i = 0; i < 3; i++) {
      now += 100;
      again.push(await s.tokens.answer(request()));
    }
    expect(lines.filter((l) => l.event === 'token_issued')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'token_reused')).toHaveLength(0); // still within its second

    now += 800; // the answer's second is over
    s.tokens.sweep();
    const issued = lines.find((l) => l.event === 'token_issued')!;
    const reused = lines.filter((l) => l.event === 'token_reused');
    expect(reused).toHaveLength(1);
    expect(reused[0]).toMatchObject({ account: 'alice', provider: 'static', jti: issued.jti, clientIp: '127.0.0.1', grantType: 'get', count: 3 });
    expect(reused[0]!.requested).toEqual(['repository:alice/app:pull,push']);
    expect(reused[0]!.granted).toEqual(['repository:alice/app:pull,push']);
    expect(Date.parse(reused[0]!.lastAt as string)).toBe(now - 800);
    expect(JSON.stringify(lines)).not.toContain(password);

    // An answer handed out once is not audited twice; one still held is written when it is forgotten.
    await s.tokens.answer(request({ scopes: ['repository:alice/other:pull'] }));
    s.tokens.sweep();
    expect(lines.filter((l) => l.event === 'token_reused')).toHaveLength(1);
    await s.tokens.answer(request({ scopes: ['repository:alice/other:pull'] }));
    s.tokens.forgetAll();
    expect(lines.filter((l) => l.event === 'token_reused').map((l) => l.count)).toEqual([3, 1]);

    for (const answer of [first, ...again]) expect(JSON.parse(answer.body)).toEqual(answer.response);
    expect(Object.keys(JSON.parse(again[2]!.body)).sort()).toEqual(['expires_in', 'issued_at', 'token']);
    expect(again[2]!.response.token).toBe(first.response.token);
  });

  it('decides identical requests that arrive together once, and shares a refusal the same way', async () => {
    const lines: Record<string, unknown>[] = [];
    const s = services({}, { lines });
    const logins = countLogins(s, () => new Promise((resolve) => setTimeout(resolve, 50)));

    const answers = await Promise.all(Array.from({ length: 10 }, () => s.tokens.issue(request())));
    expect(logins()).toBe(1);
    expect(new Set(answers.map((a) => decodeJwt(a.token).jti)).size).toBe(1);
    s.tokens.forgetAll();
    expect(lines.filter((l) => l.event === 'token_issued')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'token_reused').map((l) => l.count)).toEqual([9]);

    const wrong = request({ credentials: { kind: 'password', username: 'alice', password: 'wrong' } });
    const refused = await Promise.allSettled(Array.from({ length: 5 }, () => s.tokens.issue(wrong)));
    expect(refused.map((r) => r.status === 'rejected' && r.reason instanceof UnauthorizedError)).toEqual([true, true, true, true, true]);
    expect(logins()).toBe(2);
    // Requests that differ in anything are decided each on their own.
    await Promise.all([s.tokens.issue(request()), s.tokens.issue(request({ clientIp: '10.0.0.9' }))]);
    expect(logins()).toBe(4);
  });

  it('does not keep an answer decided while an invalidation came, nor let later requests wait for it', async () => {
    const s = services();
    const logins = countLogins(s, () => new Promise((resolve) => setTimeout(resolve, 50)));
    const pause = () => new Promise((resolve) => setTimeout(resolve, 10));
    const before = s.tokens.issue(request());
    await pause();
    s.tokens.forgetAll(); // e.g. the account's access was just changed
    await before;
    await s.tokens.issue(request());
    expect(logins()).toBe(2);

    const deciding = s.tokens.issue(request({ scopes: ['repository:alice/other:pull'] }));
    await pause();
    s.tokens.forgetAll();
    const afterwards = s.tokens.issue(request({ scopes: ['repository:alice/other:pull'] }));
    await Promise.all([deciding, afterwards]);
    expect(logins()).toBe(4);
    await s.tokens.issue(request({ scopes: ['repository:alice/other:pull'] }));
    expect(logins()).toBe(4); // the answer decided after the invalidation is kept
  });

  it('never joins a decision older than the reuse window, and decides anew when the one it waited for was not kept', async () => {
    let now = Date.now();
    const lines: Record<string, unknown>[] = [];
    const s = services({}, { lines, now: () => now });
    // Each login waits until the test lets it through.
    const gates: Array<() => void> = [];
    const logins = countLogins(s, () => new Promise<void>((resolve) => gates.push(resolve)));
    const started = async (count: number) => {
      while (gates.length < count) await new Promise((resolve) => setTimeout(resolve, 1));
    };

    // A slow upstream: a request 1.5 s into the first decision does not take its answer.
    const slow = s.tokens.issue(request());
    await started(1);
    now += 1500;
    const late = s.tokens.issue(request());
    await started(2);
    gates[0]!();
    gates[1]!();
    await Promise.all([slow, late]);
    expect(logins()).toBe(2);

    // A follower whose decision was not kept (an invalidation came) decides on its own, audited.
    now += 5000;
    const issued = () => lines.filter((l) => l.event === 'token_issued').length;
    const before = issued();
    const leader = s.tokens.issue(request());
    await started(3);
    const follower = s.tokens.issue(request());
    await new Promise((resolve) => setTimeout(resolve, 5));
    s.tokens.forgetAll();
    gates[2]!();
    await leader;
    await started(4);
    gates[3]!();
    await follower;
    expect(logins()).toBe(4);
    expect(issued()).toBe(before + 2);

    // After an invalidation, the old decision finishing does not unhook the new one from its followers.
    now += 5000;
    const old = s.tokens.issue(request());
    await started(5);
    s.tokens.forgetAll();
    const fresh = s.tokens.issue(request());
    await started(6);
    gates[4]!();
    await old;
    const joining = s.tokens.issue(request());
    await new Promise((resolve) => setTimeout(resolve, 5));
    gates[5]!();
    await Promise.all([fresh, joining]);
    expect(logins()).toBe(6);
  });

  it('drops recent answers when a refresh token or credential is revoked', async () => {
    const s = services();
    const { refresh_token } = await s.tokens.issue(request({ offline: true }));
    const logins = countLogins(s);
    await s.tokens.issue(request());
    await s.tokens.issue(request());
    expect(logins()).toBe(1);
    await s.refreshTokens.revoke(refresh_token!);
    await s.tokens.issue(request());
    expect(logins()).toBe(2);
  });
});
