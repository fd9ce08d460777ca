import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage } from '../support/oci-image.js';
import { type RegistryHandle } from '../support/registry.js';
import { skopeoCopy, skopeoInspect } from '../support/skopeo.js';
import { shutDown } from '../support/shut-down.js';
import { startAliceBesideRegistry, storeLoginCredential } from '../support/alice-beside-registry.js';
import { runWharfCli, type WharfHandle } from '../support/wharf.js';

// Robot accounts made with `wharf robot`, by an administrator and by a person with the credential
// a sign-in stored, used by skopeo against a real registry; `wharf accounts list` names them.
describe('robot accounts against a real registry', () => {
  let alicePassword: string;
  let adminSecret: string;
  let work: string;
  let configFile: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let image: { ref: string };
  let cliEnv: NodeJS.ProcessEnv;
  const repo = (name: string) => `docker://${registry.host}/${name}`;

  beforeAll(async () => {
    // alice owns her namespace; robots may push and pull anything by their own rule, so what
    // stops one is its scope and, for alice's, alice's rights.
    ({ work, configFile, wharf, registry, alicePassword, adminSecret } = await startAliceBesideRegistry('robots', {
      acl: { rules: [{ account: 'alice', name: 'alice/*', actions: ['push', 'pull'] }, { account: 'robot-*', name: '*', actions: ['push', 'pull'] }] },
    }));
    image = await buildOciImage(join(work, 'image'), { tag: 'v1', content: 'robots' });
    const push = await skopeoCopy(image.ref, repo('alice/app:v1'), { creds: `alice:${alicePassword}` });
    expect(push.code, push.stderr).toBe(0);
    cliEnv = await storeLoginCredential({ wharfUrl: wharf.url, registryHost: registry.host, adminSecret, work, account: 'alice' });
  });

  afterAll(() => shutDown(registry, wharf, work));

  it("an administrator's pull-only robot pulls and cannot push; wharf accounts list names it and its maker", async () => {
    const created = await runWharfCli(['robot', 'create', 'mirror', '--scope', 'repository:alice/*:pull', '--expires', '90d', '--admin', '--wharf', wharf.url], { env: { ...cliEnv, WHARF_ADMIN_SECRET: adminSecret } });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/^Created robot-mirror \(made by admin\), credential [0-9a-f]{12}: repository:alice\/\*:pull, expires /);
    const creds = `robot-mirror:${created.stdout.trim()}`;
    const pull = await skopeoCopy(repo('alice/app:v1'), `oci:${join(work, 'pulled')}:v1`, { creds });
    expect(pull.code, pull.stderr).toBe(0);
    const push = await skopeoCopy(image.ref, repo('alice/app:v2'), { creds });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/denied|unauthorized|authentication required/i);

    const listed = await runWharfCli(['accounts', 'list', '--config', configFile]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^robot-mirror\trobot \(made by admin\)\tadmin:[0-9a-f]{12}\t/m);
  });

  it("a person's robot, in the three commands of docs/credentials.md, pulls; listed and deleted by its maker, it stops", async () => {
    const created = await runWharfCli(['robot', 'create', 'ci-puller', '--scope', 'repository:alice/*:pull', '--expires', '90d'], { env: cliEnv });
    expect(created.code, created.stderr).toBe(0);
    const creds = `robot-ci-puller:${created.stdout.trim()}`;
    const inspect = await skopeoInspect(repo('alice/app:v1'), { creds, raw: true });
    expect(inspect.code, inspect.stderr).toBe(0);
    // Outside alice's own rights: refused at once.
    const outside = await runWharfCli(['robot', 'create', 'wide', '--scope', 'repository:*:pull'], { env: cliEnv });
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('403 a robot gets no right its maker lacks');

    const listed = await runWharfCli(['robot', 'list'], { env: cliEnv });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^robot-ci-puller\talice\t[0-9a-f]{12}\trepository:alice\/\*:pull\t/m);
    expect(listed.stdout).not.toContain('robot-mirror');

    const deleted = await runWharfCli(['robot', 'delete', 'ci-puller'], { env: cliEnv });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await skopeoInspect(repo('alice/app:v1'), { creds, raw: true })).code).not.toBe(0);
  });
});
