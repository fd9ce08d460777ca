import { randomBytes } from 'node:crypto';
import { sign } from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';

// The account page's forms, driven as a browser without JavaScript sends them: a credential made
// with a scope (one of the presets, or a repository and ticked actions) and an expiry, listed with
// its scope in words and an "ends in N days" badge, rotated and retired; bad fields get a page that
// says what to change, and nothing is made.
const owner = { source: 'github', subject: '1' };
const alice = { account: 'alice', provider: 'github', subject: '1', attributes: {}, owner };
const upstream = { provider: 'github', sealed: 'opaque', grant: 'login-1', renewable: true };
const clock = { now: 1_800_000_000_000 };
let services: Services;
let app: FastifyInstance;

beforeAll(async () => {
  const federation = { providers: [{ type: 'github' as const, clientId: 'Iv1.test', webUrl: 'http://127.0.0.1:9/gh', apiUrl: 'http://127.0.0.1:9/api', allowedOrgs: ['acme'] }], credentials: { maxDays: 60 } };
  services = createServices(parseConfig({ federation }, {}), {
    store: tempStore(() => clock.now),
    logger: createLogger('silent'),
    keys: (await testKeys()).store,
    hashKey: randomBytes(32),
    env: { WHARF_GITHUB_CLIENT_SECRET: 'github-secret' },
    now: () => clock.now,
  });
  app = await buildApp(services);
  await services.bindings.claim('alice', owner, { bind: true });
});
afterAll(async () => {
  await app?.close();
  await services?.close();
});

async function signIn() {
  const { id, session } = await services.sessions.create(alice, upstream);
  return { cookie: `wharf_session=${encodeURIComponent(sign(id, services.cookieSecret))}`, csrf: session.csrf };
}
/** The signed-in browser; signed in again when the clock has moved past its session. */
const browser: { current?: { cookie: string; csrf: string } | undefined } = {};
const accountPage = async () => {
  browser.current ??= await signIn();
  return app.inject({ method: 'GET', url: '/account', headers: { cookie: browser.current.cookie } });
};
/** A form post as the browser sends it (repeated names for ticked checkboxes). */
async function post(url: string, fields: Array<[string, string]>) {
  browser.current ??= await signIn();
  const { cookie, csrf } = browser.current;
  return app.inject({ method: 'POST', url, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams([['csrf', csrf], ...fields]).toString() });
}
const secretOf = (body: string) => /<pre id="credential">([^<]+)<\/pre>/.exec(body)?.[1];
/** The actions (sorted) a token request with this credential is granted on `name`, or the status when refused. */
async function granted(secret: string, name = 'alice/app'): Promise<string[] | number> {
  const answer = await app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:pull,push`, headers: { authorization: `Basic ${Buffer.from(`alice:${secret}`).toString('base64')}` } });
  if (answer.statusCode !== 200) return answer.statusCode;
  return [...((decodeJwt(answer.json<{ token: string }>().token).access as Array<{ actions: string[] }>)[0]?.actions ?? [])].sort();
}
const rowOf = (body: string, label: string) => body.split('<tr>').find((r) => r.startsWith(`<td>${label}</td>`)) ?? '';

describe('the account page makes credentials with a scope', () => {
  it('makes each preset, lists its scope in words, and its tokens get no more than it', async () => {
    const readOnly = await post('/account/credentials', [['label', 'mirror'], ['preset', 'read-only'], ['days', '30']]);
    expect(readOnly.statusCode).toBe(200);
    expect(readOnly.body).toContain('It may: pull on every repository.');
    expect(await granted(secretOf(readOnly.body)!)).toEqual(['pull']);
    expect(await granted(secretOf(readOnly.body)!, 'alice/other')).toEqual(['pull']);

    const pullOne = await post('/account/credentials', [['label', 'deploy'], ['preset', 'repository-pull'], ['repository', 'alice/app']]);
    expect(await granted(secretOf(pullOne.body)!)).toEqual(['pull']);
    expect(await granted(secretOf(pullOne.body)!, 'alice/other')).toEqual([]);
    const pushOne = await post('/account/credentials', [['label', 'ci'], ['preset', 'repository-push'], ['repository', 'alice/app']]);
    expect(await granted(secretOf(pushOne.body)!)).toEqual(['pull', 'push']);
    const custom = await post('/account/credentials', [['label', 'cleaner'], ['preset', 'custom'], ['repository', 'alice/*'], ['actions', 'pull'], ['actions', 'delete']]);
    expect(custom.body).toContain('It may: pull, delete on alice/*.');
    const full = await post('/account/credentials', [['label', 'laptop'], ['preset', 'full']]);
    expect(await granted(secretOf(full.body)!, 'alice/other')).toEqual(['pull', 'push']);

    const page = await accountPage();
    expect(rowOf(page.body, 'mirror')).toContain('<td>pull on every repository</td>');
    expect(rowOf(page.body, 'deploy')).toContain('<td>pull on alice/app</td>');
    expect(rowOf(page.body, 'ci')).toContain('<td>pull, push on alice/app</td>');
    expect(rowOf(page.body, 'laptop')).toContain('<td>Full rights of the account</td>');
    // Last used: the token requests above, at the clock's time.
    expect(rowOf(page.body, 'deploy')).toContain(`<td>${new Date(clock.now).toISOString().replace('T', ' ').slice(0, 16)} UTC</td>`);
  });

  it('shows "ends in N days" for a credential ending within 7 days, and not before', async () => {
    await post('/account/credentials', [['label', 'short'], ['preset', 'read-only'], ['days', '3']]);
    await post('/account/credentials', [['label', 'long'], ['preset', 'read-only'], ['days', '8']]);
    const now = await accountPage();
    expect(rowOf(now.body, 'short')).toContain('<strong class="badge">ends in 3 days</strong>');
    expect(rowOf(now.body, 'long')).not.toContain('badge');
    clock.now += 2 * 86_400_000;
    browser.current = undefined;
    const later = await accountPage();
    expect(rowOf(later.body, 'short')).toContain('ends in 1 day<');
    expect(rowOf(later.body, 'long')).toContain('ends in 6 days');
  });

  it('refuses each bad field with a page that says what to change, and makes nothing', async () => {
    const before = (await services.credentials.list('alice')).length;
    const cases: Array<[Array<[string, string]>, string]> = [
      [[['preset', 'everything']], 'Choose one of the offered scopes.'],
      [[['preset', 'repository-pull']], 'Name the repository'],
      [[['preset', 'repository-pull'], ['repository', '   ']], 'Name the repository'],
      [[['preset', 'repository-push'], ['repository', 'alice/app$(rm)']], 'A repository is a name such as team/app'],
      [[['preset', 'custom'], ['repository', 'alice/app']], 'Tick at least one action'],
      [[['preset', 'custom'], ['repository', 'alice/app'], ['actions', 'admin']], 'Actions are pull, push and delete.'],
      [[['preset', 'read-only'], ['days', '0']], 'A credential is valid for 1 to 60 whole days.'],
      [[['preset', 'read-only'], ['days', '-3']], 'A credential is valid for 1 to 60 whole days.'],
      [[['preset', 'read-only'], ['days', '2.5']], 'A credential is valid for 1 to 60 whole days.'],
      [[['preset', 'read-only'], ['days', 'soon']], 'A credential is valid for 1 to 60 whole days.'],
    ];
    for (const [fields, message] of cases) {
      const answer = await post('/account/credentials', [['label', 'bad'], ...fields]);
      expect(answer.statusCode, JSON.stringify(fields)).toBe(400);
      expect(answer.headers['content-type']).toMatch(/^text\/html/);
      expect(answer.body).toContain('<p class="error" role="alert">Not created: ');
      expect(answer.body).toContain(message);
      expect(answer.body).not.toContain('<pre id="credential">');
      expect(answer.body).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    expect((await services.credentials.list('alice')).length).toBe(before);
    // Past the ceiling, a lifetime is cut to it, and the notice says when it ends.
    const long = await post('/account/credentials', [['label', 'too long'], ['preset', 'read-only'], ['days', '61']]);
    expect(long.statusCode).toBe(200);
    expect(long.body).toContain(`It expires on ${new Date(clock.now + 60 * 86_400_000).toISOString().replace('T', ' ').slice(0, 16)} UTC.`);
  });
});

describe('the account page rotates and revokes', () => {
  it('shows the new secret once; both secrets work until "retire the previous secret", then only the new one', async () => {
    const made = await post('/account/credentials', [['label', 'rotating'], ['preset', 'repository-pull'], ['repository', 'alice/app']]);
    const first = secretOf(made.body)!;
    const id = (await services.credentials.list('alice')).find((c) => c.label === 'rotating')!.id;
    const rotated = await post(`/account/credentials/${id}/rotate`, []);
    expect(rotated.statusCode).toBe(200);
    const second = secretOf(rotated.body)!;
    expect(second).toMatch(/^wharf_cr_/);
    expect(second).not.toBe(first);
    expect(rotated.body).toContain(`action="/account/credentials/${id}/retire-previous"`);
    expect(await granted(first)).toEqual(['pull']);
    expect(await granted(second)).toEqual(['pull']);
    const listed = await accountPage();
    expect(listed.body).not.toContain(second);
    expect(rowOf(listed.body, 'rotating')).toContain('previous secret works until');

    const retired = await post(`/account/credentials/${id}/retire-previous`, []);
    expect(retired.body).toContain('Previous secret retired');
    expect(await granted(first)).toBe(401);
    expect(await granted(second)).toEqual(['pull']);
    expect(rowOf(retired.body, 'rotating')).not.toContain('previous secret works until');

    const revoked = await post(`/account/credentials/${id}/revoke`, []);
    expect(revoked.body).toContain('Credential revoked.');
    expect(await granted(second)).toBe(401);
  });

  it('answers a credential that is not one of the account\'s with "No such credential", and refuses a form without its CSRF token', async () => {
    for (const id of ['0123456789ab', '..%2F..', 'x'.repeat(40)]) {
      const answer = await post(`/account/credentials/${id}/rotate`, []);
      expect(answer.statusCode).toBe(404);
      expect(answer.body).toContain('No such credential.');
    }
    const { cookie } = (browser.current ??= await signIn());
    const id = (await services.credentials.list('alice'))[0]!.id;
    for (const action of ['rotate', 'retire-previous', 'revoke']) {
      const forged = await app.inject({ method: 'POST', url: `/account/credentials/${id}/${action}`, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'csrf=forged' });
      expect(forged.statusCode).toBe(403);
    }
    expect((await services.credentials.list('alice')).some((c) => c.id === id)).toBe(true);
  });
});

describe('the account page lists and deletes the robots the person made', () => {
  it('shows each robot with its scope, expiry and last use, and deletes it with the CSRF token: its credential stops', async () => {
    browser.current ??= await signIn();
    const { cookie, csrf } = browser.current;
    const made = await app.inject({
      method: 'POST',
      url: '/api/v1/robots',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      payload: { name: 'ci', scope: [{ repositories: ['alice/app'], actions: ['pull'] }], expiresInDays: 20 },
    });
    expect(made.statusCode, made.body).toBe(201);
    const secret = made.json<{ secret: string }>().secret;
    const robotToken = () => app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:alice/app:pull', headers: { authorization: `Basic ${Buffer.from(`robot-ci:${secret}`).toString('base64')}` } });
    expect((await robotToken()).statusCode).toBe(200);
    // Someone else's robot is neither listed nor deletable here.
    await services.bindings.claimRobot('robot-bobs', 'bob');

    const page = await accountPage();
    const stamp = (ms: number) => `${new Date(ms).toISOString().replace('T', ' ').slice(0, 16)} UTC`;
    expect(page.body).toContain('<h2>Your robots</h2>');
    expect(rowOf(page.body, 'robot-ci')).toContain(`<td>pull on alice/app</td><td>${stamp(clock.now + 20 * 86_400_000)}</td><td>${stamp(clock.now)}</td>`);
    expect(rowOf(page.body, 'robot-ci')).toContain('action="/account/robots/robot-ci/delete"');
    expect(page.body).not.toContain('robot-bobs');

    const forged = await app.inject({ method: 'POST', url: '/account/robots/robot-ci/delete', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'csrf=forged' });
    expect(forged.statusCode).toBe(403);
    expect((await robotToken()).statusCode).toBe(200);
    const others = await post('/account/robots/robot-bobs/delete', []);
    expect(others.statusCode).toBe(404);
    expect(others.body).toContain('No such robot.');
    expect(await services.bindings.get('robot-bobs')).toBeDefined();

    const deleted = await post('/account/robots/robot-ci/delete', []);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.body).toContain('Robot robot-ci deleted');
    expect(deleted.body).not.toContain('<h2>Your robots</h2>');
    expect((await robotToken()).statusCode).toBe(401);
    expect(await services.bindings.get('robot-ci')).toBeUndefined();
  });
});
