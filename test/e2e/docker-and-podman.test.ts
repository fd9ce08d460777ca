import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerLogin, readDockerConfig } from '../support/docker-cli.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { runCommand } from '../support/processes.js';
import { type RegistryHandle } from '../support/registry.js';
import { pushNewImage, skopeoInspect } from '../support/skopeo.js';
import { startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

const PODMAN = '/usr/bin/podman';

// README's troubleshooting entry: after `docker login` has stored Wharf's identitytoken, podman
// (which also reads docker's config.json) refuses to log in to the same registry; a separate
// auth file, or logging docker's entry out, gets past it.
describe('docker and podman on one machine', () => {
  let work: string;
  let home: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  const password = 'podman-and-docker-both';

  /** podman as a person runs it: their HOME (where docker's config.json is), no auth file of its own unless given. */
  const podman = (args: string[], env: Record<string, string> = {}, input?: string) =>
    runCommand(PODMAN, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_RUNTIME_DIR: join(home, 'run'), ...env },
      ...(input !== undefined ? { input } : {}),
    });
  const login = (env: Record<string, string> = {}) => podman(['login', '--tls-verify=false', '-u', 'alice', '--password-stdin', registry.host], env, password);

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    requireCommand(PODMAN, 'podman');
    work = await mkdtemp(join(tmpdir(), 'wharf-podman-'));
    home = join(work, 'home');
    await mkdir(join(home, 'run'), { recursive: true, mode: 0o700 });
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    const configFile = await writeConfig(
      {
        server: { port: wharfPort },
        dataDir: join(work, 'data'),
        refreshTokens: { enabled: true },
        authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 10) } } }],
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort));
    await pushNewImage(join(work, 'image'), `${registry.host}/alice/app:v1`, `alice:${password}`, 'podman');
    // docker login stores Wharf's refresh token as an identitytoken in ~/.docker/config.json.
    const docker = await dockerLogin(registry.host, 'alice', password, { configDir: join(home, '.docker') });
    expect(docker.code, docker.stderr).toBe(0);
    expect((await readDockerConfig(join(home, '.docker'))).auths?.[registry.host]?.identitytoken).toBeTruthy();
  });

  afterAll(() => shutDown(registry, wharf, work));

  it('podman login refuses while docker’s config.json holds the identity token', async () => {
    const refused = await login();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('auth file contains an Identity token');
  });

  it('podman needs no login of its own: it pulls with docker’s stored identity token', async () => {
    const pull = await podman(['--root', join(work, 'storage'), '--runroot', join(home, 'run', 'storage'), '--storage-driver', 'vfs', 'pull', '--tls-verify=false', `${registry.host}/alice/app:v1`]);
    expect(pull.code, pull.stderr).toBe(0);
  });

  it('a separate REGISTRY_AUTH_FILE, with DOCKER_CONFIG pointing away from docker’s file, gets past it; the credential it stores works', async () => {
    const authFile = join(work, 'podman-auth.json');
    // REGISTRY_AUTH_FILE alone is not enough: podman 4 still reads ~/.docker/config.json.
    const alone = await login({ REGISTRY_AUTH_FILE: authFile });
    expect(alone.stderr).toContain('auth file contains an Identity token');
    await mkdir(join(work, 'no-docker'), { recursive: true });
    const ok = await login({ REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: join(work, 'no-docker') });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(await readFile(authFile, 'utf8')).auths[registry.host]).toBeTruthy();
    const pull = await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { authfile: authFile, raw: true });
    expect(pull.code, pull.stderr).toBe(0);
    // docker's own login is untouched.
    expect((await readDockerConfig(join(home, '.docker'))).auths?.[registry.host]?.identitytoken).toBeTruthy();
  });

  it('podman logout alone does not help: the identity token is docker’s, not podman’s', async () => {
    const out = await podman(['logout', registry.host]);
    expect(out.stderr).toContain('not logged into');
    expect((await login()).stderr).toContain('auth file contains an Identity token');
  });

  it('logging the registry out of docker’s config.json (docker logout) gets past it', async () => {
    const out = await runCommand('docker', ['--config', join(home, '.docker'), 'logout', registry.host], { env: { PATH: process.env.PATH ?? '', HOME: home } });
    expect(out.code, out.stderr).toBe(0);
    const ok = await login();
    expect(ok.code, ok.stderr).toBe(0);
  });
});
