import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrImages, ctrPull, startContainerd, type ContainerdHandle } from '../support/containerd.js';
import { freePort } from '../support/ports.js';
import { type RegistryHandle } from '../support/registry.js';
import { shutDown } from '../support/shut-down.js';
import { pushNewImage } from '../support/skopeo.js';
import { startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';

// containerd, the kubelet's runtime on most nodes, pulls through Wharf's tokens with the
// username and password an `auth` entry gives it: the harness the kubelet plugin's end-to-end
// test pulls with, checked here with a static user.
describe('containerd pulls from a registry behind Wharf', () => {
  const alicePassword = randomBytes(12).toString('base64url');
  const bobPassword = randomBytes(12).toString('base64url');
  let work: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let containerd: ContainerdHandle;
  const ref = () => `${registry.host}/alice/app:v1`;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-containerd-e2e-'));
    containerd = await startContainerd();
    const configFile = await writeConfig(
      {
        server: { host: '127.0.0.1', port: await freePort() },
        dataDir: join(work, 'data'),
        authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(alicePassword, 10) }, bob: { passwordHash: await bcrypt.hash(bobPassword, 10) } } }],
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, await freePort()));
    await pushNewImage(join(work, 'image'), ref(), `alice:${alicePassword}`, 'pulled by containerd');
  });

  afterAll(() => shutDown(containerd, registry, wharf, work));

  it('with the credentials of an account that may pull, fetches and unpacks the image', async () => {
    const pull = await ctrPull(containerd, ref(), { user: 'alice', password: alicePassword, plainHttp: true });
    expect(pull.code, `${pull.stdout}\n${pull.stderr}\n${registry.logs()}`).toBe(0);
    expect(pull.stdout).toMatch(/unpacking linux\/amd64 sha256:[0-9a-f]{64}\.\.\.\s*done/);
    expect(await ctrImages(containerd)).toContain(ref());
  });

  // What ctr prints is what a node's containerd logs and the kubelet shows in the pod's events.
  it.each([
    ['no credentials', {}, /pull access denied.*insufficient_scope/],
    ['a wrong password', { user: 'alice', password: 'not-her-password' }, /failed to fetch oauth token: unexpected status: 401 Unauthorized/],
    ['an account the repository is not granted to', { user: 'bob', password: bobPassword }, /pull access denied.*insufficient_scope/],
  ])('refuses the pull with %s, and says so', async (_name, creds, message) => {
    const pull = await ctrPull(containerd, ref(), { ...creds, plainHttp: true });
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(message);
  });
});
