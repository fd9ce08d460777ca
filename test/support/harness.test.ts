import { createHash } from 'node:crypto';
import { readFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { dockerLogin, findDockerCli, readDockerConfig } from './docker-cli.js';
import { blobPath, buildOciImage, readOciManifest, type OciImage } from './oci-image.js';
import { freePort } from './ports.js';
import { requireCommand } from './prerequisites.js';
import { httpGet, runCommand, startProcess, waitForHttp, waitUntil } from './processes.js';
import { pingRedis, REDIS_SERVER, startRedis, type RedisHandle } from './redis.js';
import { DOCKER_REGISTRY, registryConfigYaml, startRegistry, type RegistryHandle } from './registry.js';
import { SKOPEO, skopeoCopy, skopeoInspect, skopeoListTags, type SkopeoResult } from './skopeo.js';

const OPENSSL = '/usr/bin/openssl';

// Cleanups run in reverse order in afterAll, even when a test failed half-way.
const cleanups: Array<() => Promise<void>> = [];
let scratch: string;

async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(scratch, `${name}-`));
}

/** Puts the command's output in the assertion message, so a failure explains itself. */
function expectSuccess(result: SkopeoResult, what: string): void {
  expect(result.code, `${what} failed:\n${result.stderr}\n${result.stdout}`).toBe(0);
}

beforeAll(async () => {
  requireCommand(REDIS_SERVER, 'redis-server');
  requireCommand(DOCKER_REGISTRY, 'docker-registry');
  requireCommand(SKOPEO, 'skopeo');
  findDockerCli();
  scratch = await mkdtemp(join(tmpdir(), 'wharf-harness-test-'));
  cleanups.push(() => rm(scratch, { recursive: true, force: true }));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('ports and prerequisites', () => {
  it('freePort returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    await new Promise<void>((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  });

  it('requireCommand throws loudly with the apt-get fix for a missing executable', () => {
    expect(() => requireCommand('/nonexistent/skopeo', 'skopeo')).toThrow(
      /missing prerequisite \/nonexistent\/skopeo.*install it with: apt-get install -y skopeo/,
    );
    expect(() => requireCommand(SKOPEO, 'skopeo')).not.toThrow();
  });

  it('findDockerCli fails loudly when docker is not on PATH', () => {
    expect(() => findDockerCli('/nonexistent')).toThrow(/apt-get install -y docker\.io/);
  });
});

describe('processes', () => {
  it('fails fast with the last output when a server dies before it is ready', async () => {
    const port = await freePort();
    const proc = await startProcess('/bin/sh', ['-c', 'echo booting; echo "fatal: bad config" >&2; exit 3'], {
      name: 'dying-server',
    });
    const started = Date.now();
    await expect(waitForHttp(`http://127.0.0.1:${port}/`, { process: proc, timeoutMs: 10_000 })).rejects.toThrow(
      /dying-server exited with code 3[\s\S]*booting[\s\S]*fatal: bad config/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    // An ignored signal survives exec, so `sleep` itself ignores SIGTERM.
    const proc = await startProcess('/bin/sh', ['-c', 'trap "" TERM; echo trap-set; exec sleep 30']);
    // Signalling before the trap is installed would let plain SIGTERM win the race.
    await waitUntil('trap installed', async () => (proc.logs().includes('trap-set') ? true : undefined), {
      process: proc,
    });
    await proc.stop(300);
    expect(proc.exitInfo()?.signal).toBe('SIGKILL');
  });

  it('runCommand kills a command at its timeout and reports it', async () => {
    const result = await runCommand('/bin/sleep', ['10'], { timeoutMs: 200 });
    expect(result.timedOut).toBe(true);
    expect(result.code).toBeNull();
  });
});

describe('redis', () => {
  let redis: RedisHandle;

  it('starts redis-server and answers PING', async () => {
    redis = await startRedis();
    cleanups.push(() => redis.stop());
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await pingRedis(redis.port)).toBe('+PONG');
  });

  it('stop() really ends the server', async () => {
    await redis.stop();
    await expect(pingRedis(redis.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('registry without auth + skopeo + hand-built OCI images', () => {
  let registry: RegistryHandle;
  let storageDir: string;
  let imageA: OciImage;
  let imageB: OciImage;

  beforeAll(async () => {
    storageDir = await tempDir('registry-storage');
    const port = await freePort();
    registry = await startRegistry({ configYaml: registryConfigYaml({ port, storageDir }) });
    cleanups.push(() => registry.stop());
    imageA = await buildOciImage(await tempDir('oci-a'), { tag: 'v1', content: 'image A\n' });
    imageB = await buildOciImage(await tempDir('oci-b'), { tag: 'v2', content: 'image B\n' });
  });

  it('serves /v2/ anonymously on 127.0.0.1', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(registry.url).toBe(`http://${registry.host}`);
    const res = await httpGet(`${registry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('builds reproducible OCI images whose digests depend on the content', async () => {
    const again = await buildOciImage(await tempDir('oci-a-again'), { tag: 'v1', content: 'image A\n' });
    expect(again.layerDigest).toBe(imageA.layerDigest);
    expect(again.manifestDigest).toBe(imageA.manifestDigest);
    expect(imageB.layerDigest).not.toBe(imageA.layerDigest);
    expect(imageB.manifestDigest).not.toBe(imageA.manifestDigest);
    expect(imageA.ref).toBe(`oci:${imageA.dir}:v1`);
    const layer = await readFile(blobPath(imageA.dir, imageA.layerDigest));
    expect(`sha256:${createHash('sha256').update(layer).digest('hex')}`).toBe(imageA.layerDigest);
  });

  it('the hand-written layer is a tar that GNU tar reads, and diff_ids match it', async () => {
    const layerFile = blobPath(imageA.dir, imageA.layerDigest);
    const listing = await runCommand('/bin/tar', ['-tvzf', layerFile]);
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stderr).toBe('');
    expect(listing.stdout).toMatch(/^-rw-r--r-- root\/root\s+8 2020-01-01 00:00 hello\.txt\n$/);
    const extracted = await runCommand('/bin/tar', ['-xzOf', layerFile, 'hello.txt']);
    expect(extracted.stdout).toBe('image A\n');
    const { manifest } = await readOciManifest(imageA.dir, 'v1');
    const config = JSON.parse(await readFile(blobPath(imageA.dir, manifest.config.digest), 'utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    const tar = gunzipSync(await readFile(layerFile));
    expect(tar.length % 512).toBe(0);
    expect(config.rootfs.diff_ids).toEqual([`sha256:${createHash('sha256').update(tar).digest('hex')}`]);
  });

  it('skopeo inspects the hand-built layout as linux/amd64', async () => {
    const result = await skopeoInspect(imageA.ref);
    expectSuccess(result, 'skopeo inspect oci');
    const info = JSON.parse(result.stdout) as { Architecture: string; Os: string; Layers: string[]; Digest: string };
    expect(info.Architecture).toBe('amd64');
    expect(info.Os).toBe('linux');
    expect(info.Layers).toEqual([imageA.layerDigest]);
    expect(info.Digest).toBe(imageA.manifestDigest);
  });

  it('skopeo copies the image into the registry and list-tags shows it', async () => {
    const dest = `docker://${registry.host}/demo/test:v1`;
    expectSuccess(await skopeoCopy(imageA.ref, dest), 'skopeo copy oci -> registry');
    const tags = await skopeoListTags(`docker://${registry.host}/demo/test`);
    expectSuccess(tags, 'skopeo list-tags');
    expect(JSON.parse(tags.stdout)).toEqual({ Repository: `${registry.host}/demo/test`, Tags: ['v1'] });
    // The registry really used the storage dir it was configured with.
    const repoDir = join(storageDir, 'docker/registry/v2/repositories/demo/test');
    expect((await stat(repoDir)).isDirectory()).toBe(true);
  });

  it('the pushed manifest is byte-identical to the hand-built one', async () => {
    const raw = await skopeoInspect(`docker://${registry.host}/demo/test:v1`, { raw: true });
    expectSuccess(raw, 'skopeo inspect --raw');
    expect(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`).toBe(imageA.manifestDigest);
  });

  it('skopeo copies the image back out with the same layer digest', async () => {
    const outDir = await tempDir('oci-copied-back');
    expectSuccess(
      await skopeoCopy(`docker://${registry.host}/demo/test:v1`, `oci:${outDir}:v1`),
      'skopeo copy registry -> oci',
    );
    const { manifest, manifestDigest } = await readOciManifest(outDir, 'v1');
    expect(manifest.layers.map((l) => l.digest)).toEqual([imageA.layerDigest]);
    expect(manifestDigest).toBe(imageA.manifestDigest);
    const layer = await readFile(blobPath(outDir, imageA.layerDigest));
    expect(`sha256:${createHash('sha256').update(layer).digest('hex')}`).toBe(imageA.layerDigest);
  });

  it('a second image with different content gets a different digest in the registry', async () => {
    expectSuccess(await skopeoCopy(imageB.ref, `docker://${registry.host}/demo/test:v2`), 'skopeo copy image B');
    const tags = await skopeoListTags(`docker://${registry.host}/demo/test`);
    expectSuccess(tags, 'skopeo list-tags');
    expect((JSON.parse(tags.stdout) as { Tags: string[] }).Tags.sort()).toEqual(['v1', 'v2']);
    const v1 = JSON.parse((await skopeoInspect(`docker://${registry.host}/demo/test:v1`)).stdout) as { Digest: string };
    const v2 = JSON.parse((await skopeoInspect(`docker://${registry.host}/demo/test:v2`)).stdout) as { Digest: string };
    expect(v1.Digest).toBe(imageA.manifestDigest);
    expect(v2.Digest).toBe(imageB.manifestDigest);
    expect(v2.Digest).not.toBe(v1.Digest);
  });

  it('skopeo reports a missing tag as a non-zero exit instead of throwing', async () => {
    const result = await skopeoInspect(`docker://${registry.host}/demo/test:nope`);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/manifest unknown/i);
  });
});

describe('registry with htpasswd auth + docker login + skopeo credentials', () => {
  const user = 'alice';
  const password = 'correct horse battery staple';
  let registry: RegistryHandle;

  beforeAll(async () => {
    const dir = await tempDir('registry-htpasswd');
    const htpasswd = join(dir, 'htpasswd');
    await writeFile(htpasswd, `${user}:${await bcrypt.hash(password, 10)}\n`);
    const port = await freePort();
    // Exercise the configFile path: extend the generated config the way a caller would.
    const config = parse(registryConfigYaml({ port, storageDir: join(dir, 'storage') })) as Record<string, unknown>;
    config.auth = { htpasswd: { realm: 'wharf-test', path: htpasswd } };
    const configFile = join(dir, 'config.yml');
    await writeFile(configFile, stringify(config));
    registry = await startRegistry({ configFile });
    cleanups.push(() => registry.stop());
  });

  it('challenges anonymous requests with Basic auth', async () => {
    const res = await httpGet(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="wharf-test"');
  });

  it('docker login fails with a wrong password and writes no credentials', async () => {
    const configDir = await tempDir('docker-config-wrong');
    const result = await dockerLogin(registry.host, user, 'wrong password', { configDir });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unauthorized/i);
    await expect(readDockerConfig(configDir)).rejects.toThrow(/ENOENT/);
  });

  it('docker login succeeds with the right password and stores an auths entry', async () => {
    const configDir = await tempDir('docker-config');
    const result = await dockerLogin(registry.host, user, password, { configDir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Login Succeeded');
    const config = await readDockerConfig(configDir);
    expect(Object.keys(config.auths ?? {})).toEqual([registry.host]);
    const auth = config.auths?.[registry.host]?.auth ?? '';
    expect(Buffer.from(auth, 'base64').toString()).toBe(`${user}:${password}`);
  });

  it('skopeo pushes with --dest-creds, and rejects anonymous and wrong credentials', async () => {
    const image = await buildOciImage(await tempDir('oci-auth'), { tag: 'v1', content: 'authenticated\n' });
    const dest = `docker://${registry.host}/private/app:v1`;
    const anonymous = await skopeoCopy(image.ref, dest);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/unauthorized|authentication required/i);
    const wrong = await skopeoCopy(image.ref, dest, { creds: `${user}:nope` });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unauthorized|authentication required/i);
    expectSuccess(await skopeoCopy(image.ref, dest, { creds: `${user}:${password}` }), 'skopeo copy with creds');
  });

  it('skopeo reads credentials from the config.json docker login wrote', async () => {
    const configDir = await tempDir('docker-config-authfile');
    expect((await dockerLogin(registry.host, user, password, { configDir })).code).toBe(0);
    const authfile = join(configDir, 'config.json');
    const withAuthfile = await skopeoListTags(`docker://${registry.host}/private/app`, { authfile });
    expectSuccess(withAuthfile, 'skopeo list-tags --authfile');
    expect((JSON.parse(withAuthfile.stdout) as { Tags: string[] }).Tags).toEqual(['v1']);
    const withoutAuthfile = await skopeoListTags(`docker://${registry.host}/private/app`);
    expect(withoutAuthfile.code).not.toBe(0);
  });
});

describe('registryConfigYaml with token auth', () => {
  it('produces a config distribution 2.8 accepts, challenging with the Bearer realm', async () => {
    const dir = await tempDir('registry-token');
    // distribution refuses to start without a parseable signing root, so give it a real one.
    // openssl rather than @peculiar/x509: the latter needs a reflect-metadata polyfill loaded first.
    requireCommand(OPENSSL, 'openssl');
    const rootCertBundle = join(dir, 'root.pem');
    const openssl = await runCommand(OPENSSL, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', rootCertBundle, '-days', '1', '-subj', '/CN=wharf-test-token-signer',
    ]);
    expect(openssl.code, openssl.stderr).toBe(0);
    const realm = 'http://127.0.0.1:1/token';
    const yamlText = registryConfigYaml({
      port: await freePort(),
      storageDir: join(dir, 'storage'),
      realm,
      service: 'wharf-registry',
      issuer: 'wharf-test',
      rootCertBundle,
    });
    const config = parse(yamlText) as { version: string; auth: { token: Record<string, string> } };
    expect(config.version).toBe('0.1');
    expect(config.auth.token).toEqual({ realm, service: 'wharf-registry', issuer: 'wharf-test', rootcertbundle: rootCertBundle });

    const registry = await startRegistry({ configYaml: yamlText });
    cleanups.push(() => registry.stop());
    const res = await httpGet(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${realm}",service="wharf-registry"`);
  });

  it('refuses token auth without the fields distribution requires', () => {
    expect(() => registryConfigYaml({ port: 1, storageDir: '/x', realm: 'http://127.0.0.1:1/token' })).toThrow(
      /service, issuer, rootCertBundle/,
    );
  });
});
