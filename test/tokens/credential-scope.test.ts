import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { CredentialScope } from '../../src/domain/credential-scope.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import type { Store } from '../../src/store/store.js';
import { aliceRequest, makeAlice, type Alice } from '../support/alice.js';
import { tempStore } from '../support/store.js';
import { captureLog, type LogCapture } from '../support/log-capture.js';

let alice: Alice;
beforeAll(async () => {
  alice = await makeAlice();
});

const identity = { account: 'alice', provider: 'static', subject: 'alice', attributes: {} };
const pushPull = { account: 'alice', name: 'alice/*', actions: ['push', 'pull'] };
const catalog = { account: 'alice', type: 'registry', name: 'catalog', actions: ['*'] };

/** Services for alice under these ACL rules, over `store` (shared to change the config under live credentials). */
function services(rules: object[], store: Store = tempStore(), hashKey = randomBytes(32), log?: LogCapture): Services {
  const config = parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: alice.hash } } }], authz: { acl: { rules } } } as ConfigInput, {});
  const logger = log?.logger ?? createLogger('silent');
  return createServices(config, { store, logger, keys: alice.keys.store, hashKey });
}

async function credential(s: Services, scope?: CredentialScope): Promise<string> {
  return (await s.credentials.create(identity, { label: 'ci', lifetimeSeconds: 86_400, source: 'browser', scope })).secret;
}

const ask = (s: Services, secret: string, scopes: string[], extra: object = {}) =>
  s.tokens.issue(aliceRequest(alice, { credentials: { kind: 'password', username: 'alice', password: secret }, scopes, ...extra }));
const access = (token: string) => (decodeJwt(token).access as unknown[]) ?? [];
const pullOnly: CredentialScope = [{ repositories: ['alice/app'], actions: ['pull'] }];

describe('a scoped credential', () => {
  it('gets the scope and no more: pull on alice/app, nothing on alice/other, where the account may push both', async () => {
    const log = captureLog('info');
    const s = services([pushPull], tempStore(), randomBytes(32), log);
    const scoped = await credential(s, pullOnly);
    const full = await credential(s);
    expect(access((await ask(s, scoped, ['repository:alice/app:pull,push'])).token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
    expect(access((await ask(s, scoped, ['repository:alice/other:pull'])).token)).toEqual([]);
    // Another credential of the same account, the same question from the same address within the second: its own answer.
    expect(access((await ask(s, full, ['repository:alice/app:pull,push'])).token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    // The audit line says what the scope removed, and why.
    const issued = log.events('token_issued');
    expect(issued[0]!.decisions).toEqual([
      { scope: 'repository:alice/app:pull,push', granted: ['pull'], source: 'credential', reason: expect.stringMatching(/^push not in the credential's scope/) as unknown },
    ]);
    expect(issued[1]!.decisions).toEqual([{ scope: 'repository:alice/other:pull', granted: [], source: 'credential', reason: expect.stringMatching(/^pull not in the credential's scope/) as unknown }]);
    await s.close();
  });

  it('never widens the account: a scope of everything gets what the ACL allows, and loses what the account loses at once', async () => {
    const store = tempStore();
    const hashKey = randomBytes(32);
    const before = services([pushPull], store, hashKey);
    const everything = await credential(before, [{ repositories: ['*'], actions: ['*'] }]);
    expect(access((await ask(before, everything, ['repository:alice/app:pull,push,delete', 'repository:bob/app:pull'])).token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    // The account may only pull now: so may every one of its credentials, scoped or not.
    const after = services([{ ...pushPull, actions: ['pull'] }], store, hashKey);
    expect(access((await ask(after, everything, ['repository:alice/app:pull,push'])).token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
    await before.close();
  });

  it('gets the catalog only with a catalog entry', async () => {
    const s = services([pushPull, catalog]);
    const without = await credential(s, [{ repositories: ['alice/*'], actions: ['pull'] }]);
    const withCatalog = await credential(s, [{ repositories: ['alice/*'], actions: ['pull'] }, { catalog: true }]);
    expect(access((await ask(s, without, ['registry:catalog:*'])).token)).toEqual([]);
    expect(access((await ask(s, withCatalog, ['registry:catalog:*'])).token)).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    await s.close();
  });

  it('gets no refresh token, which would carry the account’s full rights', async () => {
    const s = services([pushPull]);
    expect((await ask(s, await credential(s), [], { offline: true })).refresh_token).toMatch(/^wharf_rt_/);
    expect((await ask(s, await credential(s, pullOnly), [], { offline: true })).refresh_token).toBeUndefined();
    await s.close();
  });
});
