import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { UnauthorizedError } from '../../src/domain/errors.js';
import type { TokenRequest } from '../../src/tokens/token-service.js';
import { aliceRequest, aliceServices, countDecisions, countLogins, makeAlice, type Alice, type AliceOptions } from '../support/alice.js';
import { captureLog } from '../support/log-capture.js';

// RecentAnswers (src/tokens/recent-answers.ts): what the token route calls, in front of the token service.
let alice: Alice;
let password: string;

beforeAll(async () => {
  alice = await makeAlice();
  password = alice.password;
});

const services = (extra: ConfigInput = {}, options: AliceOptions = {}) => aliceServices(alice, extra, options);
const request = (overrides: Partial<TokenRequest> = {}) => aliceRequest(alice, overrides);

describe('RecentAnswers', () => {
  it('answers an identical request again for a second without deciding anew, and never for another password', async () => {
    let now = Date.now();
    const s = services({}, { now: () => now });
    const decisions = countDecisions(s);

    const first = await s.tokens.issue(request());
    now += 400;
    const again = await s.tokens.issue(request());
    expect(decisions()).toBe(1);
    expect(again.token).toBe(first.token);
    expect(first.expires_in - again.expires_in).toBeLessThanOrEqual(1); // 0.4 s later, in whole seconds

    await expect(s.tokens.issue(request({ credentials: { kind: 'password', username: 'alice', password: 'wrong' } }))).rejects.toBeInstanceOf(UnauthorizedError);
    await s.tokens.issue(request({ clientIp: '10.0.0.9' })); // another client address decides anew
    await s.tokens.issue(request({ offline: true })); // refresh tokens are never handed out twice
    expect(decisions()).toBe(3); // the wrong password was refused before any decision

    s.tokens.forgetAll(); // what any invalidation or revocation does
    await s.tokens.issue(request());
    expect(decisions()).toBe(4);
    now += 1100;
    await s.tokens.issue(request());
    expect(decisions()).toBe(5);
  });

  it('keeps anonymous answers to a share of their own: a flood of fresh anonymous requests never pushes out what logged-in clients hold', async () => {
    let now = Date.now();
    const s = services({}, { now: () => now });
    const decisions = countDecisions(s);
    // 500 logged-in clients' answers (alice from as many addresses), then 2,000 anonymous requests
    // for names nobody asked for before, within the same second.
    const clients = Array.from({ length: 500 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    for (const clientIp of clients) await s.tokens.issue(request({ clientIp }));
    const anonymous = (i: number, clientIp = '192.0.2.7') => request({ credentials: { kind: 'anonymous' }, account: undefined, clientIp, scopes: [`repository:someone/name-${i}:pull`] });
    for (let i = 0; i < 2_000; i++) await s.tokens.issue(anonymous(i));
    expect(decisions()).toBe(2_500);

    now += 300;
    for (const clientIp of clients) await s.tokens.issue(request({ clientIp }));
    expect(decisions()).toBe(2_500); // every logged-in client's answer was still held

    // Anonymous answers are still handed out again within their share: the first 100 of the flood
    // were kept, the others decided anew.
    await s.tokens.issue(anonymous(0));
    expect(decisions()).toBe(2_500);
    await s.tokens.issue(anonymous(1_999));
    expect(decisions()).toBe(2_501);

    // A second later the share is free again for a public image's pullers.
    now += 1_100;
    s.tokens.sweep();
    await s.tokens.issue(anonymous(5_000, '192.0.2.8'));
    now += 100;
    await s.tokens.issue(anonymous(5_000, '192.0.2.8'));
    expect(decisions()).toBe(2_502);
  });

  it('audits an answer handed out again in one line per answer, with the count, once its second is over', async () => {
    let now = Date.now();
    const log = captureLog('info');
    const s = services({}, { log, now: () => now });

    const first = await s.tokens.answer(request());
    const again = [];
    for (let i = 0; i < 3; i++) {
      now += 100;
      again.push(await s.tokens.answer(request()));
    }
    expect(log.events('token_issued')).toHaveLength(1);
    expect(log.events('token_reused')).toHaveLength(0); // still within its second

    now += 800; // the answer's second is over
    s.tokens.sweep();
    const issued = log.events('token_issued')[0]!;
    const reused = log.events('token_reused');
    expect(reused).toHaveLength(1);
    expect(reused[0]).toMatchObject({ account: 'alice', provider: 'static', jti: issued.jti, clientIp: '127.0.0.1', grantType: 'get', count: 3 });
    expect(reused[0]!.requested).toEqual(['repository:alice/app:pull,push']);
    expect(reused[0]!.granted).toEqual(['repository:alice/app:pull,push']);
    expect(Date.parse(reused[0]!.lastAt as string)).toBe(now - 800);
    expect(JSON.stringify(log.lines)).not.toContain(password);

    // An answer handed out once is not audited twice; one still held is written when it is forgotten.
    await s.tokens.answer(request({ scopes: ['repository:alice/other:pull'] }));
    s.tokens.sweep();
    expect(log.events('token_reused')).toHaveLength(1);
    await s.tokens.answer(request({ scopes: ['repository:alice/other:pull'] }));
    s.tokens.forgetAll();
    expect(log.events('token_reused').map((l) => l.count)).toEqual([3, 1]);

    for (const answer of [first, ...again]) expect(JSON.parse(answer.body.toString())).toEqual(answer.response);
    expect(Object.keys(JSON.parse(again[2]!.body.toString())).sort()).toEqual(['expires_in', 'issued_at', 'token']);
    expect(again[2]!.response.token).toBe(first.response.token);
  });

  it('decides identical requests that arrive together once, and shares a refusal the same way', async () => {
    const log = captureLog('info');
    const s = services({}, { log });
    const decisions = countDecisions(s, () => new Promise((resolve) => setTimeout(resolve, 50)));

    const answers = await Promise.all(Array.from({ length: 10 }, () => s.tokens.issue(request())));
    expect(decisions()).toBe(1);
    expect(new Set(answers.map((a) => decodeJwt(a.token).jti)).size).toBe(1);
    s.tokens.forgetAll();
    expect(log.events('token_issued')).toHaveLength(1);
    expect(log.events('token_reused').map((l) => l.count)).toEqual([9]);

    const logins = countLogins(s);
    const wrong = request({ credentials: { kind: 'password', username: 'alice', password: 'wrong' } });
    const refused = await Promise.allSettled(Array.from({ length: 5 }, () => s.tokens.issue(wrong)));
    expect(refused.map((r) => r.status === 'rejected' && r.reason instanceof UnauthorizedError)).toEqual([true, true, true, true, true]);
    expect(logins()).toBe(1); // one verification for the five
    expect(decisions()).toBe(1); // refused before any decision
    // Requests that differ in anything are decided each on their own.
    await Promise.all([s.tokens.issue(request()), s.tokens.issue(request({ clientIp: '10.0.0.9' }))]);
    expect(decisions()).toBe(3);
  });

  it('does not keep an answer decided while an invalidation came, nor let later requests wait for it', async () => {
    const s = services();
    const decisions = countDecisions(s, () => new Promise((resolve) => setTimeout(resolve, 50)));
    const pause = () => new Promise((resolve) => setTimeout(resolve, 10));
    const before = s.tokens.issue(request());
    await pause();
    s.tokens.forgetAll(); // e.g. the account's access was just changed
    await before;
    await s.tokens.issue(request());
    expect(decisions()).toBe(2);

    const deciding = s.tokens.issue(request({ scopes: ['repository:alice/other:pull'] }));
    await pause();
    s.tokens.forgetAll();
    const afterwards = s.tokens.issue(request({ scopes: ['repository:alice/other:pull'] }));
    await Promise.all([deciding, afterwards]);
    expect(decisions()).toBe(4);
    await s.tokens.issue(request({ scopes: ['repository:alice/other:pull'] }));
    expect(decisions()).toBe(4); // the answer decided after the invalidation is kept
  });

  it('never joins a decision older than the reuse window, and decides anew when the one it waited for was not kept', async () => {
    let now = Date.now();
    const log = captureLog('info');
    const s = services({}, { log, now: () => now });
    // Each login waits until the test lets it through.
    const gates: Array<() => void> = [];
    const decisions = countDecisions(s, () => new Promise<void>((resolve) => gates.push(resolve)));
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
    expect(decisions()).toBe(2);

    // A follower whose decision was not kept (an invalidation came) decides on its own, audited.
    now += 5000;
    const issued = () => log.events('token_issued').length;
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
    expect(decisions()).toBe(4);
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
    expect(decisions()).toBe(6);
  });

  it('drops recent answers when a refresh token or credential is revoked', async () => {
    const s = services();
    const { refresh_token } = await s.tokens.issue(request({ offline: true }));
    const decisions = countDecisions(s);
    await s.tokens.issue(request());
    await s.tokens.issue(request());
    expect(decisions()).toBe(1);
    await s.refreshTokens.revoke(refresh_token!);
    await s.tokens.issue(request());
    expect(decisions()).toBe(2);
  });
});
