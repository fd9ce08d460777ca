import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcrypt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { FileCredentialStore } from '../../src/client/credential-store.js';
import { runCli } from '../../src/cli/index.js';
import type { CliIo } from '../../src/client/io.js';
import { CLI_CLIENT_ID, pollForToken } from '../../src/client/login/device-client.js';
import { loginCommand, type LoginDeps } from '../../src/client/login/login-command.js';
import { buildOciImage } from '../support/oci-image.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { registryConfigYaml, startRegistry, DOCKER_REGISTRY } from '../support/registry.js';
import { SKOPEO, skopeoCopy, skopeoListTags } from '../support/skopeo.js';
import { runWharfCli } from '../support/wharf.js';

const HELPER_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/credential-helper.js');
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const START = Date.parse('2030-01-01T00:00:00Z');

/** What the fake token endpoint answers to one poll. */
type PollAnswer =
  | 'authorization_pending'
  | 'slow_down'
  | 'access_denied'
  | 'expired_token'
  | 'ok'
  | { status: number; body: string };

/** A clock that sleeps instantly: `sleep(ms)` only advances `now()`, and records the wait. */
class FakeClock {
  t = START;
  readonly sleeps: number[] = [];
  now = (): number => this.t;
  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.t += ms;
  };
}

interface Recorded {
  method: string;
  path: string;
  form: Record<string, string>;
  /** Fake-clock milliseconds since START when the request arrived. */
  at: number;
}

/**
 * The server half of the contract in one node:http server: `GET /v2/` is a registry's 401 Bearer
 * challenge whose realm is `<url>/wharf/token`, so Wharf's base is `<url>/wharf`, where the two
 * device endpoints live. Polls are answered from `script`, then `authorization_pending` forever.
 */
class FakeWharf {
  readonly requests: Recorded[] = [];
  script: PollAnswer[] = [];
  device: Record<string, unknown> = {};
  token = { access_token: 'wharf-access-token', token_type: 'Bearer', expires_in: 3600, account: 'alice' };
  challenge: string | undefined;
  private server!: Server;
  url = '';

  constructor(private readonly clock: { now(): number }) {}

  get host(): string {
    return new URL(this.url).host;
  }

  get base(): string {
    return `${this.url}/wharf`;
  }

  polls(): Recorded[] {
    return this.requests.filter((r) => r.path === '/wharf/device/token');
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.device = {
      device_code: 'dev-code-123',
      user_code: 'WDJB-MJHT',
      verification_uri: `${this.base}/device`,
      verification_uri_complete: `${this.base}/device?user_code=WDJB-MJHT`,
      expires_in: 900,
      interval: 5,
    };
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const path = (req.url ?? '').split('?')[0] as string;
    const form = Object.fromEntries(new URLSearchParams(body));
    this.requests.push({ method: req.method ?? '', path, form, at: this.clock.now() - START });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (req.method === 'GET' && path === '/v2/') {
      res.writeHead(401, { 'www-authenticate': this.challenge ?? `Bearer realm="${this.base}/token",service="fake-registry"` }).end('{}');
    } else if (req.method === 'POST' && path === '/wharf/device/code') {
      json(200, this.device);
    } else if (req.method === 'POST' && path === '/wharf/device/token') {
      const answer = this.script.shift() ?? 'authorization_pending';
      if (answer === 'ok') json(200, this.token);
      else if (typeof answer === 'string') json(400, { error: answer, error_description: `test says ${answer}` });
      else res.writeHead(answer.status, { 'content-type': 'text/html' }).end(answer.body);
    } else {
      json(404, { error: 'not_found' });
    }
  }
}

interface CapturedIo extends CliIo {
  out: string;
  err: string;
}

function captureIo(env: Record<string, string | undefined>): CapturedIo {
  const io: CapturedIo = {
    env,
    out: '',
    err: '',
    stdout: (s) => void (io.out += s),
    stderr: (s) => void (io.err += s),
    readStdin: async () => '',
  };
  return io;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;

let scratch: string;
let clock: FakeClock;
let wharf: FakeWharf;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'wharf-login-test-'));
  cleanups.push(() => rm(scratch, { recursive: true, force: true }));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A fresh fake Wharf and clock, and a sandbox for docker's config and the helper store. */
async function setup() {
  clock = new FakeClock();
  wharf = await new FakeWharf(clock).start();
  const dir = await mkdtemp(join(scratch, 'case-'));
  const browser: string[] = [];
  const deps: Partial<LoginDeps> = { sleep: clock.sleep, now: clock.now, openBrowser: (url) => void browser.push(url) };
  const env = { HOME: join(dir, 'home'), WHARF_CREDENTIALS_FILE: join(dir, 'wharf', 'credentials.json'), PATH: '' };
  const run = (args: string[], extraEnv: Record<string, string> = {}) => {
    const io = captureIo({ ...env, ...extraEnv });
    return loginCommand(args, io, deps).then((code) => ({ code, out: io.out, err: io.err }));
  };
  return { dir, env, browser, run, dockerDir: join(dir, 'docker'), credentials: env.WHARF_CREDENTIALS_FILE };
}

afterEach(async () => {
  await wharf?.stop();
});

describe('wharf login (device authorization against a real HTTP server)', () => {
  it('discovers Wharf from the 401 challenge, polls at the RFC 8628 spacing, and stores through the helper', async () => {
    const { run, browser, dockerDir, credentials } = await setup();
    wharf.script = ['authorization_pending', 'authorization_pending', 'slow_down', 'ok'];
    await mkdir(dockerDir);
    const existing = {
      auths: { 'other.example': { auth: 'b3RoZXI6c2VjcmV0' }, [wharf.host]: { auth: 'c3RhbGU6b2xk' } },
      credHelpers: { 'gcr.io': 'gcloud' },
      proxies: { default: { httpProxy: 'http://proxy.example:3128' } },
      detachKeys: 'ctrl-e,e',
    };
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify(existing), { mode: 0o644 });

    const result = await run([wharf.host, '--config-dir', dockerDir], { DISPLAY: ':0' });

    expect(result.err).not.toMatch(/wharf login:/);
    expect(result.code).toBe(0);
    // 3600 s after the last poll, which came 25 s after the start.
    expect(result.out).toBe('Login Succeeded as alice (expires 2030-01-01T01:00:25Z)\n');
    // Interval 5 s, twice pending, slow_down makes it 10 s from that poll on.
    expect(clock.sleeps).toEqual([5000, 5000, 5000, 10000]);
    expect(wharf.polls().map((p) => p.at)).toEqual([5000, 10000, 15000, 25000]);

    // Discovery: one /v2/ probe answered (HTTPS failed on this plain-HTTP loopback host first).
    expect(wharf.requests.filter((r) => r.path === '/v2/').map((r) => r.method)).toEqual(['GET']);
    expect(wharf.requests.find((r) => r.path === '/wharf/device/code')?.form).toEqual({ client_id: CLI_CLIENT_ID, registry: wharf.host });
    for (const poll of wharf.polls()) {
      expect(poll.form).toEqual({ grant_type: DEVICE_GRANT, device_code: 'dev-code-123', client_id: 'wharf-cli' });
    }

    expect(result.err).toContain(`\n    ${wharf.base}/device\n`);
    expect(result.err).toContain('\n    WDJB-MJHT\n');
    expect(result.err).toContain(`\n    ${wharf.base}/device?user_code=WDJB-MJHT\n`);
    expect(browser).toEqual([`${wharf.base}/device?user_code=WDJB-MJHT`]);
    expect(result.err).toMatch(/docker-credential-wharf is not on PATH/);

    const config = await readJson(join(dockerDir, 'config.json'));
    expect(config).toEqual({
      auths: { 'other.example': { auth: 'b3RoZXI6c2VjcmV0' } },
      credHelpers: { 'gcr.io': 'gcloud', [wharf.host]: 'wharf' },
      proxies: existing.proxies,
      detachKeys: 'ctrl-e,e',
    });
    expect(await mode(join(dockerDir, 'config.json'))).toBe(0o600);

    const stored = await new FileCredentialStore(credentials, clock.now).get(wharf.host);
    expect(stored).toEqual({ serverUrl: wharf.host, username: 'alice', secret: 'wharf-access-token', expiresAt: '2030-01-01T01:00:25.000Z' });
    expect(await mode(credentials)).toBe(0o600);
    expect(await mode(dirname(credentials))).toBe(0o700);
    expect(await readdir(dirname(credentials))).toEqual(['credentials.json']);
    // The same entry is gone once its access token has expired.
    clock.t = Date.parse('2030-01-01T01:00:26Z');
    expect(await new FileCredentialStore(credentials, clock.now).get(wharf.host)).toBeUndefined();
  });

  it('keeps every slow_down for all later polls, cumulatively', async () => {
    await setup();
    wharf.script = ['slow_down', 'slow_down', 'authorization_pending', 'ok'];
    const result = await pollForToken(
      { tokenUrl: `${wharf.base}/device/token`, deviceCode: 'dev-code-123', intervalSeconds: 5, expiresInSeconds: 900 },
      { fetch, sleep: clock.sleep, now: clock.now },
    );
    expect(result).toEqual({ kind: 'ok', token: wharf.token });
    expect(clock.sleeps).toEqual([5000, 10000, 15000, 15000]);
    expect(wharf.polls().map((p) => p.at)).toEqual([5000, 15000, 30000, 45000]);
  });

  it('polls every 5 s when the server sends no interval, and at least every 1 s', async () => {
    await setup();
    wharf.script = ['authorization_pending', 'ok'];
    const poll = (intervalSeconds: number | undefined) =>
      pollForToken({ tokenUrl: `${wharf.base}/device/token`, deviceCode: 'd', intervalSeconds, expiresInSeconds: 900 }, { fetch, sleep: clock.sleep, now: clock.now });
    expect((await poll(undefined)).kind).toBe('ok');
    wharf.script = ['ok'];
    expect((await poll(0)).kind).toBe('ok');
    expect(clock.sleeps).toEqual([5000, 5000, 1000]);
  });

  it('--store config writes auths[REGISTRY].auth into a new 0700 directory, without asking the registry', async () => {
    const { run, dockerDir, credentials, browser } = await setup();
    wharf.script = ['ok'];
    const nested = join(dockerDir, 'nested');
    const result = await run([wharf.host, '--wharf', `${wharf.base}/`, '--store', 'config', '--config-dir', nested, '--no-browser'], {
      DISPLAY: ':0',
    });
    expect(result.code, result.err).toBe(0);
    expect(result.out).toBe('Login Succeeded as alice (expires 2030-01-01T01:00:05Z)\n');
    expect(wharf.requests.map((r) => r.path)).toEqual(['/wharf/device/code', '/wharf/device/token']);
    expect(browser).toEqual([]);
    const config = await readJson(join(nested, 'config.json'));
    expect(config).toEqual({ auths: { [wharf.host]: { auth: Buffer.from('alice:wharf-access-token').toString('base64') } } });
    expect(await mode(nested)).toBe(0o700);
    expect(await mode(dockerDir)).toBe(0o700);
    expect(await mode(join(nested, 'config.json'))).toBe(0o600);
    expect(existsSync(credentials)).toBe(false);
  });

  it('--store config keeps every other key, replaces this registry entry and drops its credHelpers line', async () => {
    const { run, dockerDir } = await setup();
    wharf.script = ['ok'];
    await mkdir(dockerDir);
    await writeFile(
      join(dockerDir, 'config.json'),
      JSON.stringify({
        auths: { [wharf.host]: { identitytoken: 'old-refresh-token' }, 'other.example': { auth: 'eDp5' } },
        credHelpers: { [wharf.host]: 'wharf', 'gcr.io': 'gcloud' },
        credsStore: 'pass',
        psFormat: 'table {{.ID}}',
      }),
    );
    const result = await run([wharf.host, '--store', 'config', '--config-dir', dockerDir]);
    expect(result.code, result.err).toBe(0);
    expect(await readJson(join(dockerDir, 'config.json'))).toEqual({
      auths: { [wharf.host]: { auth: Buffer.from('alice:wharf-access-token').toString('base64') }, 'other.example': { auth: 'eDp5' } },
      credHelpers: { 'gcr.io': 'gcloud' },
      credsStore: 'pass',
      psFormat: 'table {{.ID}}',
    });
    expect(result.err).toMatch(/credsStore "pass"/);
  });

  it('uses DOCKER_CONFIG, else ~/.docker, when --config-dir is not given', async () => {
    const { run, env } = await setup();
    wharf.script = ['ok'];
    const viaEnv = join(env.HOME, 'from-env');
    expect((await run([wharf.host, '--store', 'config'], { DOCKER_CONFIG: viaEnv })).code).toBe(0);
    expect(Object.keys((await readJson(join(viaEnv, 'config.json'))).auths)).toEqual([wharf.host]);
    wharf.script = ['ok'];
    expect((await run([wharf.host, '--store', 'config'])).code).toBe(0);
    expect(Object.keys((await readJson(join(env.HOME, '.docker', 'config.json'))).auths)).toEqual([wharf.host]);
  });

  it('exits 1 and stores nothing when the user denies the login', async () => {
    const { run, dockerDir, credentials } = await setup();
    wharf.script = ['authorization_pending', 'access_denied'];
    const result = await run([wharf.host, '--config-dir', dockerDir]);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toContain('wharf login: the login was denied in the browser');
    expect(wharf.polls()).toHaveLength(2);
    expect(existsSync(join(dockerDir, 'config.json'))).toBe(false);
    expect(existsSync(credentials)).toBe(false);
  });

  it('exits 1 when Wharf says the code expired', async () => {
    const { run, dockerDir } = await setup();
    wharf.script = ['authorization_pending', 'expired_token'];
    const result = await run([wharf.host, '--config-dir', dockerDir]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/wharf login: the code expired/);
    expect(existsSync(join(dockerDir, 'config.json'))).toBe(false);
  });

  it('stops polling at the code lifetime even if Wharf never says expired_token', async () => {
    const { run, dockerDir } = await setup();
    wharf.device.expires_in = 12;
    const result = await run([wharf.host, '--config-dir', dockerDir]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/the code expired/);
    // Polls at 5 s and 10 s; the next would be at 15 s, after the 12 s lifetime.
    expect(wharf.polls().map((p) => p.at)).toEqual([5000, 10000]);
    expect(clock.t - START).toBe(10000);
  });

  it('exits 1 on an OAuth error outside the contract, without retrying', async () => {
    const { run } = await setup();
    wharf.script = [{ status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: 'unknown device_code' }) }];
    const result = await run([wharf.host]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('Wharf refused the login: invalid_grant: unknown device_code');
    expect(wharf.polls()).toHaveLength(1);
  });

  it('retries 5xx with backoff on top of the interval, then succeeds', async () => {
    const { run, dockerDir } = await setup();
    wharf.script = [{ status: 503, body: 'down' }, { status: 502, body: '<html>bad gateway</html>' }, 'ok'];
    const result = await run([wharf.host, '--config-dir', dockerDir]);
    expect(result.code, result.err).toBe(0);
    expect(clock.sleeps).toEqual([5000, 6000, 7000]);
  });

  it('gives up with exit 3 after 4 failed polls in a row', async () => {
    const { run, credentials } = await setup();
    wharf.script = Array.from({ length: 10 }, () => ({ status: 500, body: 'boom' }));
    const result = await run([wharf.host]);
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/device\/token failed 4 times in a row \(last: HTTP 500 boom\)/);
    expect(wharf.polls()).toHaveLength(4);
    expect(clock.sleeps).toEqual([5000, 6000, 7000, 9000]);
    expect(existsSync(credentials)).toBe(false);
  });

  it('exits 3 when Wharf cannot be reached, after retrying the device code request', async () => {
    const { run } = await setup();
    const closed = `http://127.0.0.1:${await freePort()}`;
    const result = await run([wharf.host, '--wharf', closed]);
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/cannot reach Wharf: .*\/device\/code failed 4 times in a row \(last: ECONNREFUSED\)/);
    expect(clock.sleeps).toEqual([1000, 2000, 4000]);
  });

  it('exits 3 when the registry itself cannot be reached for discovery', async () => {
    const { run } = await setup();
    const host = `127.0.0.1:${await freePort()}`;
    const result = await run([host]);
    expect(result.code).toBe(3);
    expect(result.err).toContain(`cannot reach the registry: https://${host}/v2/: `);
    expect(result.err).toContain(`; http://${host}/v2/: ECONNREFUSED; pass --wharf URL`);
  });

  it('exits 3 when the registry does not challenge with Bearer, or its realm is not a Wharf /token', async () => {
    const { run } = await setup();
    wharf.challenge = 'Basic realm="htpasswd"';
    const basic = await run([wharf.host]);
    expect(basic.code).toBe(3);
    expect(basic.err).toContain('answered 401 without a Bearer challenge');
    wharf.challenge = `Bearer realm="${wharf.url}/auth",service="x"`;
    const other = await run([wharf.host]);
    expect(other.code).toBe(3);
    expect(other.err).toContain(`token realm ${wharf.url}/auth is not a Wharf …/token endpoint`);
    expect(wharf.requests.filter((r) => r.path.startsWith('/wharf/'))).toEqual([]);
  });

  it('finds the realm among several challenges and with unquoted parameters', async () => {
    const { run } = await setup();
    wharf.script = ['ok'];
    wharf.challenge = `Basic realm="x", Bearer service=reg, realm="${wharf.base}/token"`;
    const result = await run([`http://${wharf.host}/`, '--store', 'config']);
    expect(result.code, result.err).toBe(0);
    expect(wharf.requests.find((r) => r.path === '/wharf/device/code')?.form.registry).toBe(wharf.host);
  });

  it('refuses plain HTTP to a Wharf that is not on loopback unless --insecure', async () => {
    const { run } = await setup();
    const result = await run(['registry.example.com', '--wharf', 'http://wharf.example.com']);
    expect(result.code).toBe(3);
    expect(result.err).toContain('refusing to send the login over plain HTTP to http://wharf.example.com; pass --insecure');
  });

  it('does not start a browser without a display or with --no-browser', async () => {
    const { run, browser } = await setup();
    wharf.script = ['ok'];
    expect((await run([wharf.host, '--store', 'config'])).code).toBe(0);
    wharf.script = ['ok'];
    expect((await run([wharf.host, '--store', 'config', '--no-browser'], { WAYLAND_DISPLAY: 'wayland-0' })).code).toBe(0);
    expect(browser).toEqual([]);
    wharf.script = ['ok'];
    expect((await run([wharf.host, '--store', 'config'], { WAYLAND_DISPLAY: 'wayland-0' })).code).toBe(0);
    expect(browser).toHaveLength(1);
  });

  it('refuses a corrupt docker config.json before asking Wharf, and leaves it alone', async () => {
    const { run, dockerDir } = await setup();
    await mkdir(dockerDir);
    await writeFile(join(dockerDir, 'config.json'), '{"auths": {');
    const result = await run([wharf.host, '--config-dir', dockerDir]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('config.json is not valid JSON');
    expect(wharf.requests).toEqual([]);
    expect(await readFile(join(dockerDir, 'config.json'), 'utf8')).toBe('{"auths": {');
  });

  it('refuses a credentials file it cannot extend before asking Wharf', async () => {
    const { run, dockerDir, credentials } = await setup();
    await mkdir(dirname(credentials), { recursive: true });
    await writeFile(credentials, '{"version": 2}');
    const result = await run([wharf.host, '--config-dir', dockerDir]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`${credentials} is not a Wharf credentials file`);
    expect(wharf.requests).toEqual([]);
    expect(await readFile(credentials, 'utf8')).toBe('{"version": 2}');
  });

  it('rejects bad usage with exit 2', async () => {
    const { run } = await setup();
    for (const args of [[], ['a.example', 'b.example'], ['a.example', '--store', 'keychain'], ['a.example', '--bogus'], ['a.example', '--wharf', 'ftp://x'], ['a b']]) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err).toContain('usage: wharf login REGISTRY');
    }
    expect(wharf.requests).toEqual([]);
  });
});

describe('wharf login through the built CLI', () => {
  it('is wired into `wharf` and uses the real clock', async () => {
    const { env, dockerDir } = await setup();
    wharf.device.interval = 1;
    wharf.script = ['ok'];
    const started = Date.now();
    const result = await runWharfCli(['login', wharf.host, '--store', 'config', '--config-dir', dockerDir, '--no-browser'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Login Succeeded as alice \(expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n$/);
    const expires = Date.parse(/expires (\S+)\)/.exec(result.stdout)?.[1] ?? '');
    expect(Math.abs(expires - (started + 3600_000))).toBeLessThan(60_000);
    expect(result.stderr).toContain('WDJB-MJHT');
    // The usage text lists it (in-process: every CLI start costs a second of imports).
    const io = captureIo({});
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.out).toContain('  login REGISTRY [--wharf URL] [--insecure] [--no-browser] [--store helper|config] [--config-dir DIR]\n');
  });
});

describe('skopeo uses what wharf login stored', () => {
  const password = 'device-issued secret';
  let registryHost: string;

  beforeAll(async () => {
    requireCommand(DOCKER_REGISTRY, 'docker-registry');
    requireCommand(SKOPEO, 'skopeo');
    if (!existsSync(HELPER_BIN)) throw new Error(`missing ${HELPER_BIN}: run \`npm run build\` first`);
    const dir = await mkdtemp(join(scratch, 'registry-'));
    await writeFile(join(dir, 'htpasswd'), `alice:${await bcrypt.hash(password, 10)}\n`);
    const config = parse(registryConfigYaml({ port: await freePort(), storageDir: join(dir, 'storage') })) as Record<string, unknown>;
    config.auth = { htpasswd: { realm: 'wharf-test', path: join(dir, 'htpasswd') } };
    await writeFile(join(dir, 'config.yml'), stringify(config));
    const registry = await startRegistry({ configFile: join(dir, 'config.yml') });
    cleanups.push(() => registry.stop());
    registryHost = registry.host;
    // Put one image there, so list-tags has something to show.
    const image = await buildOciImage(join(dir, 'oci'), { tag: 'v1', content: 'login e2e\n' });
    const push = await skopeoCopy(image.ref, `docker://${registryHost}/alice/app:v1`, { creds: `alice:${password}` });
    expect(push.code, push.stderr).toBe(0);
  });

  it.each(['config', 'helper'] as const)('--store %s', async (storeMode) => {
    const { run, dockerDir, credentials, dir } = await setup();
    wharf.token.access_token = password;
    wharf.script = ['ok'];
    const shimDir = join(dir, 'bin');
    await mkdir(shimDir);
    await writeFile(join(shimDir, 'docker-credential-wharf'), `#!/bin/sh\nexec '${process.execPath}' '${HELPER_BIN}' "$@"\n`);
    await chmod(join(shimDir, 'docker-credential-wharf'), 0o755);
    const result = await run([registryHost, '--wharf', wharf.base, '--store', storeMode, '--config-dir', dockerDir], { PATH: shimDir });
    expect(result.code, result.err).toBe(0);
    expect(result.err).not.toContain('not on PATH');

    const authfile = join(dockerDir, 'config.json');
    const env = { PATH: `${shimDir}:${process.env.PATH ?? ''}`, WHARF_CREDENTIALS_FILE: credentials };
    // The fake clock is in 2030, so the stored credential is still valid on the real clock.
    const tags = await skopeoListTags(`docker://${registryHost}/alice/app`, { authfile, env });
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout)).toEqual({ Repository: `${registryHost}/alice/app`, Tags: ['v1'] });
    // Control: without the stored secret (the helper's store, or the auths entry) skopeo is refused.
    await rm(storeMode === 'config' ? authfile : credentials);
    const without = await skopeoListTags(`docker://${registryHost}/alice/app`, { ...(storeMode === 'helper' ? { authfile } : {}), env });
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/unauthorized|authentication required/i);
  });
});
