import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { FileCredentialStore } from '../../src/client/credential-store.js';
import { buildOciImage, type OciImage } from '../support/oci-image.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { runCommand, type CommandResult } from '../support/processes.js';
import { DOCKER_REGISTRY, registryConfigYaml, startRegistry, type RegistryHandle } from '../support/registry.js';
import { SKOPEO, skopeoCopy, skopeoInspect, skopeoListTags } from '../support/skopeo.js';

/** The built `docker-credential-wharf`, exactly what npm installs as the bin. */
const HELPER_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/credential-helper.js');
const NOT_FOUND = 'credentials not found in native keychain\n';
const STACK_TRACE = /^\s+at .*[\\/].*:\d+/m;

let scratch: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  if (!existsSync(HELPER_BIN)) throw new Error(`missing ${HELPER_BIN}: run \`npm run build\` first (npm test does)`);
  scratch = await mkdtemp(join(tmpdir(), 'wharf-credential-helper-test-'));
  cleanups.push(() => rm(scratch, { recursive: true, force: true }));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Runs the built helper with exactly `env` (plus PATH), `input` on stdin. */
function helper(action: string[], input: string | undefined, env: Record<string, string>): Promise<CommandResult> {
  return runCommand(process.execPath, [HELPER_BIN, ...action], { env: { PATH: process.env.PATH ?? '', ...env }, ...(input !== undefined ? { input } : {}) });
}

/** A helper bound to a fresh credentials file in a not-yet-existing directory. */
async function freshHelper() {
  const dir = await mkdtemp(join(scratch, 'case-'));
  const file = join(dir, 'store', 'credentials.json');
  const env = { WHARF_CREDENTIALS_FILE: file };
  return {
    dir,
    file,
    env,
    run: (action: string, input?: string) => helper([action], input, env),
  };
}

const storeInput = (serverUrl: string, username: string, secret: string) => JSON.stringify({ ServerURL: serverUrl, Username: username, Secret: secret });

describe('docker-credential-wharf protocol', () => {
  it('store, get, list and erase round-trip, with server URLs normalised', async () => {
    const { run, file } = await freshHelper();
    const stored = await run('store', storeInput('https://registry.example.com:5000/', 'alice', 's3cret'));
    expect(stored).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect((await run('store', storeInput('other.example', '<token>', 'refresh-token'))).code).toBe(0);

    for (const query of ['registry.example.com:5000', 'https://registry.example.com:5000', 'http://registry.example.com:5000/\n']) {
      const got = await run('get', query);
      expect(got.code, query).toBe(0);
      expect(JSON.parse(got.stdout)).toEqual({ ServerURL: 'https://registry.example.com:5000/', Username: 'alice', Secret: 's3cret' });
    }
    const list = await run('list');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual({ 'https://registry.example.com:5000/': 'alice', 'other.example': '<token>' });

    // Replacing keeps one entry per registry.
    expect((await run('store', storeInput('registry.example.com:5000', 'bob', 'newer'))).code).toBe(0);
    expect(JSON.parse((await run('get', 'registry.example.com:5000')).stdout)).toEqual({ ServerURL: 'registry.example.com:5000', Username: 'bob', Secret: 'newer' });

    const erased = await run('erase', 'https://registry.example.com:5000');
    expect(erased).toMatchObject({ code: 0, stdout: '' });
    expect(await run('get', 'registry.example.com:5000')).toMatchObject({ code: 1, stdout: NOT_FOUND });
    expect(await run('erase', 'registry.example.com:5000')).toMatchObject({ code: 1, stdout: NOT_FOUND });
    expect(JSON.parse((await run('list')).stdout)).toEqual({ 'other.example': '<token>' });

    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(file))).mode & 0o777).toBe(0o700);
    // Atomic writes leave no temporary files behind.
    expect(await readdir(dirname(file))).toEqual(['credentials.json']);
  });

  it('keeps Docker Hub\'s https://index.docker.io/v1/ as it is', async () => {
    const { run } = await freshHelper();
    expect((await run('store', storeInput('https://index.docker.io/v1/', 'hubuser', 'hubpass'))).code).toBe(0);
    expect(JSON.parse((await run('get', 'https://index.docker.io/v1/')).stdout).Username).toBe('hubuser');
    expect(await run('get', 'index.docker.io/v1')).toMatchObject({ code: 1, stdout: NOT_FOUND });
    expect(JSON.parse((await run('list')).stdout)).toEqual({ 'https://index.docker.io/v1/': 'hubuser' });
  });

  it('answers not found (exit 1, docker\'s exact message on stdout) when there is no store yet', async () => {
    const { run, file } = await freshHelper();
    expect(await run('get', 'registry.example.com')).toEqual({ code: 1, stdout: NOT_FOUND, stderr: '', timedOut: false });
    expect(await run('list')).toMatchObject({ code: 0, stdout: '{}\n' });
    expect(existsSync(file)).toBe(false);
  });

  it('treats expired entries as not found, and drops them on the next write', async () => {
    const { run, file } = await freshHelper();
    // Written as of two hours ago, so the second write does not already prune the first entry.
    const store = new FileCredentialStore(file, () => Date.now() - 7200_000);
    await store.store({ serverUrl: 'old.example', username: 'alice', secret: 'stale', expiresAt: new Date(Date.now() - 1000).toISOString() });
    await store.store({ serverUrl: 'live.example', username: 'bob', secret: 'fresh', expiresAt: new Date(Date.now() + 3600_000).toISOString() });
    expect(await run('get', 'old.example')).toMatchObject({ code: 1, stdout: NOT_FOUND });
    expect(JSON.parse((await run('get', 'live.example')).stdout)).toEqual({ ServerURL: 'live.example', Username: 'bob', Secret: 'fresh' });
    expect(JSON.parse((await run('list')).stdout)).toEqual({ 'live.example': 'bob' });
    expect(await readFile(file, 'utf8')).toContain('stale');
    expect((await run('store', storeInput('third.example', 'carol', 'x'))).code).toBe(0);
    expect(await readFile(file, 'utf8')).not.toContain('stale');
  });

  it('finds its file under $XDG_CONFIG_HOME, else ~/.config', async () => {
    const dir = await mkdtemp(join(scratch, 'locations-'));
    const xdg = join(dir, 'xdg');
    const home = join(dir, 'home');
    expect((await helper(['store'], storeInput('a.example', 'a', 'x'), { XDG_CONFIG_HOME: xdg, HOME: home })).code).toBe(0);
    expect(existsSync(join(xdg, 'wharf', 'credentials.json'))).toBe(true);
    expect((await helper(['store'], storeInput('b.example', 'b', 'y'), { HOME: home })).code).toBe(0);
    expect(JSON.parse((await helper(['list'], undefined, { HOME: home })).stdout)).toEqual({ 'b.example': 'b' });
    expect(existsSync(join(home, '.config', 'wharf', 'credentials.json'))).toBe(true);
  });

  it('rejects malformed input with exit 1 and a message, never a stack trace or the secret', async () => {
    const { run, file } = await freshHelper();
    const cases: Array<[string, string, RegExp]> = [
      ['store', '{"ServerURL": "r.example", "Secret": "hunter2-secret"', /^store: standard input is not JSON/],
      ['store', '', /^store: standard input is not JSON/],
      ['store', '["r.example","alice","hunter2-secret"]', /^store: expected \{"ServerURL"/],
      ['store', '{"ServerURL": "r.example", "Username": "alice", "Secret": 42}', /^store: expected \{"ServerURL"/],
      ['store', storeInput('', 'alice', 'hunter2-secret'), /^no credentials server URL\n$/],
      ['store', storeInput('r.example', '', 'hunter2-secret'), /^no credentials username\n$/],
      ['get', '', /^no credentials server URL\n$/],
      ['get', 'one.example\ntwo.example', /^expected one server URL on standard input\n$/],
      ['erase', '   \n', /^no credentials server URL\n$/],
    ];
    for (const [action, input, message] of cases) {
      const result = await run(action, input);
      expect(result.code, `${action} ${input}`).toBe(1);
      expect(result.stdout).toMatch(message);
      expect(result.stdout + result.stderr).not.toContain('hunter2-secret');
      expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
    }
    expect(existsSync(file)).toBe(false);
  });

  it('exits 2 with usage for a missing or unknown action', async () => {
    const { run } = await freshHelper();
    for (const action of [[], ['fetch'], ['get', 'extra']]) {
      const result = await helper(action, '', {});
      expect(result.code, action.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: docker-credential-wharf get|store|erase|list');
    }
    expect((await run('--help')).stdout).toContain('usage: docker-credential-wharf');
  });

  it('refuses a credentials file it does not understand, and leaves it untouched', async () => {
    const { run, file } = await freshHelper();
    await mkdir(dirname(file), { recursive: true });
    for (const content of ['{"version": 1, "credentials": {"r": {"serverUrl": "r", "username": 5}}}', '{ not json hunter2-secret']) {
      await writeFile(file, content);
      for (const [action, input] of [['get', 'r'], ['list', undefined], ['store', storeInput('r', 'u', 's')]] as const) {
        const result = await run(action, input);
        expect(result.code, `${action} on ${content}`).toBe(1);
        expect(result.stdout).toContain(file);
        expect(result.stdout).not.toContain('hunter2-secret');
        expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
      }
      expect(await readFile(file, 'utf8')).toBe(content);
    }
  });

  it('reports an unusable credentials location in one line', async () => {
    const dir = await mkdtemp(join(scratch, 'unusable-'));
    await writeFile(join(dir, 'not-a-dir'), '');
    const result = await helper(['store'], storeInput('r.example', 'u', 's'), { WHARF_CREDENTIALS_FILE: join(dir, 'not-a-dir', 'credentials.json') });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^cannot read \S+\/not-a-dir\/credentials\.json: ENOTDIR[^\n]*\n$/);
    expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
  });
});

describe('skopeo gets registry credentials from docker-credential-wharf', () => {
  const password = 'correct horse battery staple';
  let registry: RegistryHandle;
  let image: OciImage;
  let authfile: string;
  let credentials: string;
  let skopeoEnv: Record<string, string>;

  beforeAll(async () => {
    requireCommand(DOCKER_REGISTRY, 'docker-registry');
    requireCommand(SKOPEO, 'skopeo');
    const dir = await mkdtemp(join(scratch, 'skopeo-'));
    await writeFile(join(dir, 'htpasswd'), `alice:${await bcrypt.hash(password, 10)}\n`);
    const config = parse(registryConfigYaml({ port: await freePort(), storageDir: join(dir, 'storage') })) as Record<string, unknown>;
    config.auth = { htpasswd: { realm: 'wharf-test', path: join(dir, 'htpasswd') } };
    await writeFile(join(dir, 'config.yml'), stringify(config));
    registry = await startRegistry({ configFile: join(dir, 'config.yml') });
    cleanups.push(() => registry.stop());
    image = await buildOciImage(join(dir, 'oci'), { tag: 'v1', content: 'pushed with helper credentials\n' });

    // The shim is what `npm install -g` would put on PATH; node by absolute path, so PATH needs no node.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'docker-credential-wharf'), `#!/bin/sh\nexec '${process.execPath}' '${HELPER_BIN}' "$@"\n`);
    await chmod(join(bin, 'docker-credential-wharf'), 0o755);
    authfile = join(dir, 'docker', 'config.json');
    await mkdir(dirname(authfile));
    await writeFile(authfile, JSON.stringify({ auths: {}, credHelpers: { [registry.host]: 'wharf' } }));
    credentials = join(dir, 'wharf', 'credentials.json');
    skopeoEnv = { PATH: `${bin}:${process.env.PATH ?? ''}`, WHARF_CREDENTIALS_FILE: credentials };
  });

  const store = (secret: string) => helper(['store'], storeInput(registry.host, 'alice', secret), { WHARF_CREDENTIALS_FILE: credentials });

  it('pushes, lists and inspects with only credHelpers in the auth file', async () => {
    expect((await store(password)).code).toBe(0);
    const ref = `docker://${registry.host}/alice/app`;
    const push = await skopeoCopy(image.ref, `${ref}:v1`, { authfile, env: skopeoEnv });
    expect(push.code, push.stderr).toBe(0);
    const tags = await skopeoListTags(ref, { authfile, env: skopeoEnv });
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout)).toEqual({ Repository: `${registry.host}/alice/app`, Tags: ['v1'] });
    const inspect = await skopeoInspect(`${ref}:v1`, { authfile, env: skopeoEnv });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(image.manifestDigest);
  });

  it('is refused when the helper has a wrong secret, none, or is not on PATH', async () => {
    const ref = `docker://${registry.host}/alice/app`;
    expect((await store('wrong password')).code).toBe(0);
    const wrong = await skopeoListTags(ref, { authfile, env: skopeoEnv });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unauthorized|authentication required/i);

    expect((await helper(['erase'], registry.host, { WHARF_CREDENTIALS_FILE: credentials })).code).toBe(0);
    const none = await skopeoListTags(ref, { authfile, env: skopeoEnv });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/unauthorized|authentication required/i);

    expect((await store(password)).code).toBe(0);
    const noHelper = await skopeoListTags(ref, { authfile, env: { WHARF_CREDENTIALS_FILE: credentials } });
    expect(noHelper.code).not.toBe(0);
    expect(noHelper.stderr).toMatch(/docker-credential-wharf/);
    // And with the helper back on PATH the same credential works again.
    expect((await skopeoListTags(ref, { authfile, env: skopeoEnv })).code).toBe(0);
  });
});
