import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerLogin, readDockerConfig } from '../support/docker-cli.js';
import { buildOciImage } from '../support/oci-image.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { httpGet } from '../support/processes.js';
import { type RegistryHandle } from '../support/registry.js';
import { skopeoCopy, skopeoInspect, skopeoListTags } from '../support/skopeo.js';
import { startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// The real thing end to end: distribution 2.8 configured by `wharf registry-config`, skopeo and
// the docker CLI as clients, Wharf built by the same buildApp as `wharf serve`.
describe('a real registry and real clients accept Wharf tokens', () => {
  const alicePassword = randomBytes(12).toString('base64url');
  const bobPassword = randomBytes(12).toString('base64url');
  let work: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let image: { ref: string; layerDigest: string };
  const repo = (name: string) => `docker://${registry.host}/${name}`;

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-e2e-'));
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    const configFile = await writeConfig(
      {
        server: { host: '127.0.0.1', port: wharfPort },
        dataDir: join(work, 'data'),
        token: { issuer: 'wharf-e2e', service: 'registry-e2e' },
        authn: [
          {
            type: 'static',
            users: {
              alice: { passwordHash: await bcrypt.hash(alicePassword, 10) },
              bob: { passwordHash: await bcrypt.hash(bobPassword, 10) },
            },
          },
        ],
        authz: {
          acl: {
            rules: [
              { account: 'alice', type: 'registry', name: 'catalog', actions: ['*'] },
              { account: 'alice', name: 'public/*', actions: ['push'] },
              { account: '*', name: '${account}/*', actions: ['push', 'pull'] },
            ],
            anonymous: { pull: ['public/*'] },
          },
        },
      },
      work,
    );
    // The registry config comes from the CLI, as an operator would make it.
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort));
    image = await buildOciImage(join(work, 'image'), { tag: 'v1', content: 'hello from wharf e2e' });
  });

  afterAll(() => shutDown(registry, wharf, work));

  it('lets skopeo push, list and pull back an image in the account namespace', async () => {
    const push = await skopeoCopy(image.ref, repo('alice/app:v1'), { creds: `alice:${alicePassword}` });
    expect(push.code, push.stderr).toBe(0);

    const tags = await skopeoListTags(repo('alice/app'), { creds: `alice:${alicePassword}` });
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout).Tags).toEqual(['v1']);

    const back = join(work, 'pulled');
    const pull = await skopeoCopy(repo('alice/app:v1'), `oci:${back}:v1`, { creds: `alice:${alicePassword}` });
    expect(pull.code, pull.stderr).toBe(0);
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8'));
    const manifestDigest: string = index.manifests[0].digest;
    const manifest = JSON.parse(await readFile(join(back, 'blobs', ...manifestDigest.split(':')), 'utf8'));
    expect(manifest.layers[0].digest).toBe(image.layerDigest);
  });

  it('refuses a push outside the account namespace, and the log says why', async () => {
    const push = await skopeoCopy(image.ref, repo('bob/stolen:v1'), { creds: `alice:${alicePassword}` });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/denied|unauthorized|authentication required/i);
    const decision = wharf.logs.find(
      (l) => l.event === 'token_issued' && JSON.stringify(l.requested).includes('repository:bob/stolen:'),
    ) as { decisions: Array<{ granted: string[]; reason: string }> } | undefined;
    expect(decision?.decisions[0]?.granted).toEqual([]);
    expect(decision?.decisions[0]?.reason).toBe('no rule matched');

    const bobTags = await skopeoListTags(repo('bob/stolen'), { creds: `bob:${bobPassword}` });
    expect(bobTags.code).not.toBe(0); // nothing was written there
  });

  it('refuses a wrong password with Wharf’s message', async () => {
    const push = await skopeoCopy(image.ref, repo('alice/app:v2'), { creds: 'alice:wrong-password' });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('invalid username or password');
  });

  it('serves anonymous pulls of the public list only', async () => {
    const push = await skopeoCopy(image.ref, repo('public/base:v1'), { creds: `alice:${alicePassword}` });
    expect(push.code, push.stderr).toBe(0);
    const anonymous = await skopeoInspect(repo('public/base:v1'), { raw: true });
    expect(anonymous.code, anonymous.stderr).toBe(0);
    expect(JSON.parse(anonymous.stdout).layers[0].digest).toBe(image.layerDigest);
    const privateRepo = await skopeoInspect(repo('alice/app:v1'), { raw: true });
    expect(privateRepo.code).not.toBe(0);
  });

  it('grants registry:catalog:* so the catalog lists repositories', async () => {
    const auth = Buffer.from(`alice:${alicePassword}`).toString('base64');
    const tokenAnswer = await httpGet(`${wharf.url}/token?service=registry-e2e&scope=registry:catalog:*`, { headers: { authorization: `Basic ${auth}` } });
    expect(tokenAnswer.status).toBe(200);
    const { token } = JSON.parse(tokenAnswer.body);
    const catalog = await httpGet(`${registry.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } });
    expect(catalog.status).toBe(200);
    expect(JSON.parse(catalog.body).repositories).toContain('alice/app');

    const bobAuth = Buffer.from(`bob:${bobPassword}`).toString('base64');
    const bobToken = JSON.parse((await httpGet(`${wharf.url}/token?service=registry-e2e&scope=registry:catalog:*`, { headers: { authorization: `Basic ${bobAuth}` } })).body).token;
    const bobCatalog = await httpGet(`${registry.url}/v2/_catalog`, { headers: { authorization: `Bearer ${bobToken}` } });
    expect(bobCatalog.status).toBe(401);
  });

  describe('docker login', () => {
    let configDir: string;

    beforeAll(async () => {
      configDir = join(work, 'docker-config');
    });

    it('stores an identitytoken, not the password', async () => {
      const login = await dockerLogin(registry.host, 'alice', alicePassword, { configDir });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toContain('Login Succeeded');
      const config = await readDockerConfig(configDir);
      const entry = config.auths?.[registry.host];
      expect(entry?.identitytoken).toMatch(/^wharf_rt_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(entry?.auth ?? '', 'base64').toString()).toBe('alice:');
      expect(await readFile(join(configDir, 'config.json'), 'utf8')).not.toContain(alicePassword);
    });

    it('prints Wharf’s message for a wrong password', async () => {
      const login = await dockerLogin(registry.host, 'alice', 'not-the-password', { configDir: join(work, 'docker-bad') });
      expect(login.code).not.toBe(0);
      expect(login.stderr).toContain('invalid username or password');
    });

    it('lets skopeo pull with that identitytoken (POST refresh_token grant)', async () => {
      const before = wharf.logs.filter((l) => l.grantType === 'refresh_token').length;
      const pull = await skopeoInspect(repo('alice/app:v1'), { authfile: join(configDir, 'config.json'), raw: true });
      expect(pull.code, pull.stderr).toBe(0);
      expect(JSON.parse(pull.stdout).layers[0].digest).toBe(image.layerDigest);
      expect(wharf.logs.filter((l) => l.grantType === 'refresh_token').length).toBeGreaterThan(before);
    });

    it('stops working once the refresh token is revoked', async () => {
      const config = await readDockerConfig(configDir);
      const refreshToken = config.auths?.[registry.host]?.identitytoken ?? '';
      const revoke = await fetch(`${wharf.url}/token/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken }),
      });
      expect(revoke.status).toBe(200);
      const pull = await skopeoInspect(repo('alice/app:v1'), { authfile: join(configDir, 'config.json'), raw: true });
      expect(pull.code).not.toBe(0);
    });
  });

  it('never writes a password or refresh token into its logs', async () => {
    const logs = wharf.rawLogs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(alicePassword);
    expect(logs).not.toContain(bobPassword);
    expect(logs).not.toMatch(/wharf_rt_[A-Za-z0-9_-]{20}/);
  });
});
