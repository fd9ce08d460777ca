import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage } from '../support/oci-image.js';
import { type RegistryHandle } from '../support/registry.js';
import { skopeoCopy, skopeoInspect } from '../support/skopeo.js';
import { runWharfCli, type WharfHandle } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';
import { startAliceBesideRegistry, storeLoginCredential } from '../support/alice-beside-registry.js';

// A pull-only credential for one repository, minted through the credential API by `wharf token`
// with the credential a sign-in stored, used by skopeo against a real registry.
describe('a scoped credential against a real registry', () => {
  let alicePassword: string;
  let adminSecret: string;
  let work: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let image: { ref: string };
  let cliEnv: NodeJS.ProcessEnv;
  const repo = (name: string) => `docker://${registry.host}/${name}`;

  beforeAll(async () => {
    ({ work, wharf, registry, alicePassword, adminSecret } = await startAliceBesideRegistry('scoped'));
    image = await buildOciImage(join(work, 'image'), { tag: 'v1', content: 'scoped credentials' });
    for (const name of ['alice/app:v1', 'alice/other:v1']) {
      const push = await skopeoCopy(image.ref, repo(name), { creds: `alice:${alicePassword}` });
      expect(push.code, push.stderr).toBe(0);
    }
    cliEnv = await storeLoginCredential({ wharfUrl: wharf.url, registryHost: registry.host, adminSecret, work, account: 'alice' });
  });

  afterAll(() => shutDown(registry, wharf, work));

  it('pulls its repository, pushes nothing, sees nothing else, rotates, and stops at revocation', async () => {
    const created = await runWharfCli(['token', 'create', '--scope', 'repository:alice/app:pull', '--expires', '30d', '--label', 'ci'], { env: cliEnv });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/^Created [0-9a-f]{12} \(ci\): repository:alice\/app:pull, expires /);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^wharf_cr_/);
    const creds = `alice:${secret}`;

    const pull = await skopeoCopy(repo('alice/app:v1'), `oci:${join(work, 'pulled')}:v1`, { creds });
    expect(pull.code, pull.stderr).toBe(0);
    const push = await skopeoCopy(image.ref, repo('alice/app:v2'), { creds });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/denied|unauthorized|authentication required/i);
    const other = await skopeoInspect(repo('alice/other:v1'), { creds, raw: true });
    expect(other.code).not.toBe(0);
    // The registry refused because the token lacked push: the audit line says the scope removed it.
    const narrowed = wharf.logs.find((l) => l.event === 'token_issued' && JSON.stringify(l.requested).includes('repository:alice/app:') && JSON.stringify(l.decisions).includes('"source":"credential"'));
    expect(JSON.stringify(narrowed?.decisions)).toContain("push not in the credential's scope");

    const listed = await runWharfCli(['token', 'list'], { env: cliEnv });
    expect(listed.code, listed.stderr).toBe(0);
    const row = listed.stdout.split('\n').find((l) => l.includes('\tci\t'))!;
    expect(row).toMatch(/^[0-9a-f]{12}\tci\trepository:alice\/app:pull\t.*\tapi\t$/);
    const id = row.split('\t')[0]!;

    // Rotated with no overlap: the old secret ends at once, the new one pulls.
    const rotated = await runWharfCli(['token', 'rotate', id, '--retire-after', '0h'], { env: cliEnv });
    expect(rotated.code, rotated.stderr).toBe(0);
    const renewed = `alice:${rotated.stdout.trim()}`;
    expect((await skopeoInspect(repo('alice/app:v1'), { creds, raw: true })).code).not.toBe(0);
    const withNew = await skopeoInspect(repo('alice/app:v1'), { creds: renewed, raw: true });
    expect(withNew.code, withNew.stderr).toBe(0);

    const revoked = await runWharfCli(['token', 'revoke', id], { env: cliEnv });
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await skopeoInspect(repo('alice/app:v1'), { creds: renewed, raw: true });
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain('unauthorized: invalid username or password'); // Wharf's 401, as skopeo prints it
  });
});
