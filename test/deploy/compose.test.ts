import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader, importX509, jwtVerify } from 'jose';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { runCommand, startProcess, waitForHttp, type ManagedProcess } from '../support/processes.js';
import { runWharfCli, startWharf, writeConfig, type WharfHandle } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// No container engine runs here, so the Dockerfile and docker-compose.yml are checked as data:
// every setting that must agree between the services agrees, and what can run without an engine
// runs for real (the HEALTHCHECK command, `wharf registry-config`, Wharf with the compose
// environment against the reference platform).

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) continue; // comments, also inside continuations
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/s.exec(line)!;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`cannot parse FROM ${args}`);
      stages.push({ image: from[1]!, name: from[2], instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`${keyword} before FROM`);
      stages.at(-1)!.instructions.push({ keyword, args });
    }
  }
  return stages;
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1);

/** `ENV A=1 B="x y"` (and the legacy `ENV A 1`) of a stage, later lines winning. */
function envOfStage(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of all(stage, 'ENV')) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
      const [name, ...value] = args.split(/\s+/);
      env[name!] = value.join(' ');
      continue;
    }
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      env[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    }
  }
  return env;
}

/** The exec (JSON array) form of CMD, ENTRYPOINT, VOLUME, HEALTHCHECK … CMD; throws on shell form. */
function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  const value = JSON.parse(json) as unknown;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`not an exec form: ${args}`);
  return value as string[];
}

/** COPY flags and paths. */
function parseCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = args.trim().startsWith('[') ? execForm(args) : words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** Whether a .dockerignore pattern list excludes a context path (the subset of the syntax we use, plus `*`). */
function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = posix.normalize((negate ? raw.slice(1) : raw).replace(/^\/+/, ''));
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\0').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\0/g, '.*')}(/.*)?$`);
    if (regex.test(path)) ignored = !negate;
  }
  return ignored;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const runtime = dockerfile.at(-1)!;
const imageEnv = envOfStage(runtime);
const imageUser = last(runtime, 'USER')?.args ?? 'root';
const imageDataDir = imageEnv.WHARF_DATA_DIR!;

describe('Dockerfile', () => {
  it('builds in its own stage and ships only dist, node_modules and package.json', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    const build = dockerfile.find((s) => s.name !== undefined && s !== runtime)!;
    expect(build, 'a named build stage').toBeDefined();
    const buildRuns = all(build, 'RUN').map((r) => r.args).join('\n');
    for (const step of [/\bnpm ci\b/, /\bnpm run build\b/, /\bnpm prune --omit=dev\b/]) expect(buildRuns).toMatch(step);
    // The runtime image is the current Node LTS line on Debian slim, and satisfies package.json engines.
    expect(runtime.image).toMatch(/^node:(\d+)-bookworm-slim$/);
    const major = Number(/^node:(\d+)/.exec(runtime.image)![1]);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(major).toBeGreaterThanOrEqual(Number(/(\d+)/.exec(engines)![1]));
    const workdir = last(build, 'WORKDIR')!.args;
    const copied = all(runtime, 'COPY').map((c) => parseCopy(c.args));
    expect(copied.map((c) => c.from)).toEqual(copied.map(() => build.name));
    expect(copied.flatMap((c) => c.sources.map((s) => posix.relative(workdir, s))).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    expect(all(runtime, 'RUN').map((r) => r.args).join('\n')).not.toMatch(/\bnpm\b/);
  });

  it('runs as the non-root uid 10001', () => {
    const uid = imageUser.split(':')[0]!;
    expect(uid).toMatch(/^\d+$/); // numeric, so Kubernetes can enforce runAsNonRoot
    expect(uid).not.toBe('0');
    expect(uid).toBe('10001');
  });

  it('keeps its state in a VOLUME that WHARF_DATA_DIR points at and the user owns', () => {
    expect(imageDataDir).toBe('/var/lib/wharf');
    const volumes = all(runtime, 'VOLUME').flatMap((v) => (v.args.startsWith('[') ? execForm(v.args) : v.args.split(/\s+/)));
    expect(volumes).toContain(imageDataDir);
    const uid = imageUser.split(':')[0]!;
    const chown = all(runtime, 'RUN').find((r) => r.args.includes(`chown ${uid}`) && r.args.includes(imageDataDir));
    expect(chown, `a RUN that chowns ${imageDataDir} to ${uid}`).toBeDefined();
  });

  it('listens on all interfaces on 5001 and starts `wharf serve`', () => {
    expect(imageEnv.HOST).toBe('0.0.0.0');
    expect(imageEnv.PORT, 'PORT would override server.port of every config file').toBeUndefined();
    expect(all(runtime, 'EXPOSE').map((e) => e.args)).toEqual(['5001']);
    expect(execForm(last(runtime, 'ENTRYPOINT')!.args)).toEqual(['node', '/app/dist/main.js']);
    expect(execForm(last(runtime, 'CMD')!.args)).toEqual(['serve']);
    // /app/dist/main.js is the package's `wharf` bin, compiled from src/main.ts.
    expect(last(runtime, 'WORKDIR')!.args).toBe('/app');
    expect((JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.wharf).toBe('dist/main.js');
    const tsBuild = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(tsBuild.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync(join(ROOT, 'src/main.ts'))).toBe(true);
  });

  describe('HEALTHCHECK', () => {
    let server: Server;
    let status = 200;
    let port: number;
    const healthcheck = () => {
      const instruction = last(runtime, 'HEALTHCHECK');
      if (!instruction) throw new Error('no HEALTHCHECK in the runtime stage');
      return execForm(instruction.args.slice(instruction.args.indexOf('CMD')));
    };
    const runHealthcheck = (env: Record<string, string>) => {
      const [command, ...args] = healthcheck();
      expect(command).toBe('node'); // slim images have no curl or wget
      return runCommand(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeoutMs: 10_000 });
    };
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.writeHead(req.url === '/healthz' ? status : 404).end();
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((done) => server.close(() => done())));

    it('passes while /healthz answers 200', async () => {
      status = 200;
      expect((await runHealthcheck({ PORT: String(port) })).code).toBe(0);
    });

    it('fails when /healthz answers an error, or nothing listens', async () => {
      status = 503;
      expect((await runHealthcheck({ PORT: String(port) })).code).toBe(1);
      expect((await runHealthcheck({ PORT: String(await freePort()) })).code).toBe(1);
    });

    it('checks port 5001 when PORT is unset', () => {
      expect(healthcheck().join(' ')).toMatch(/process\.env\.PORT\s*\|\|\s*5001/);
    });
  });

  it('copies only files that exist in the build context and are not dockerignored', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const required of ['node_modules', 'dist', 'data', 'test-output', '.git']) expect(ignore).toContain(required);
    const fromContext = dockerfile.flatMap((s) => all(s, 'COPY').map((c) => parseCopy(c.args))).filter((c) => c.from === undefined);
    expect(fromContext.length).toBeGreaterThan(0);
    for (const source of fromContext.flatMap((c) => c.sources)) {
      const path = posix.normalize(source).replace(/\/$/, '');
      expect(existsSync(join(ROOT, path)), `COPY ${source}: missing from the build context`).toBe(true);
      expect(dockerIgnored(ignore, path), `COPY ${source}: excluded by .dockerignore`).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | { target: number; published: string | number }>;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  read_only?: boolean;
  tmpfs?: string[] | string;
  user?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText) as ComposeFile;

function service(name: string): ComposeService {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** A service's environment as strings (map or list form). */
function envOf(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function required(env: Record<string, string>, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

/** Volume mounts as {source, target, readOnly}, short or long syntax. */
function mountsOf(name: string): Array<{ source: string; target: string; readOnly: boolean }> {
  return (service(name).volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source, target, mode] = v.split(':');
    return { source: source!, target: target!, readOnly: (mode ?? '').split(',').includes('ro') };
  });
}

/** Published ports as {host, container}. */
function portsOf(name: string): Array<{ host: number; container: number }> {
  return (service(name).ports ?? []).map((p) => {
    if (typeof p !== 'string') return { host: Number(p.published), container: p.target };
    const parts = p.split(':');
    return { host: Number(parts.at(-2)), container: Number(parts.at(-1)) };
  });
}

function dependencies(name: string): Record<string, string | undefined> {
  const deps = service(name).depends_on ?? {};
  return Array.isArray(deps) ? Object.fromEntries(deps.map((d) => [d, undefined])) : Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition]));
}

const wharfEnv = envOf('wharf');
const platformEnv = envOf('platform');
const registryEnv = envOf('registry');
/** What the Wharf container sees: the image's ENV, then the compose environment. */
const wharfContainerEnv = { ...imageEnv, ...wharfEnv };
const platformPort = Number(platformEnv.PORT ?? 8080);
const SECRETISH = /SECRET|HASH_KEY|PASSWORD|TOKEN$/;

describe('docker-compose.yml', () => {
  it('runs the registry, Redis, the reference platform and Wharf built from the Dockerfile', () => {
    expect(service('registry').image).toBe('registry:2');
    expect(portsOf('registry')).toContainEqual({ host: 5000, container: 5000 });
    expect(service('redis').image).toBe('redis:7-alpine');
    expect(service('platform').image).toMatch(/^node:(2[2-9]|[3-9]\d)\b/);
    const build = service('wharf').build;
    const context = typeof build === 'string' ? build : build?.context;
    const file = typeof build === 'string' ? 'Dockerfile' : (build?.dockerfile ?? 'Dockerfile');
    expect(context).toBe('.');
    expect(file).toBe('Dockerfile');
  });

  it('gives the registry the service and issuer Wharf signs with', () => {
    expect(required(registryEnv, 'REGISTRY_AUTH_TOKEN_SERVICE')).toBe(required(wharfEnv, 'WHARF_SERVICE'));
    expect(required(registryEnv, 'REGISTRY_AUTH_TOKEN_ISSUER')).toBe(required(wharfEnv, 'WHARF_ISSUER'));
  });

  it('hands out Wharf’s public URL + /token as the realm, on a port published to the host', () => {
    const publicUrl = new URL(required(wharfEnv, 'WHARF_PUBLIC_URL'));
    expect(required(registryEnv, 'REGISTRY_AUTH_TOKEN_REALM')).toBe(`${publicUrl.origin}/token`);
    // The docker CLI runs on the host: the realm must be reachable from there.
    expect(publicUrl.hostname).toBe('localhost');
    const listening = Number(wharfContainerEnv.PORT ?? 5001);
    expect(portsOf('wharf')).toContainEqual({ host: Number(publicUrl.port), container: listening });
  });

  it('lets the registry read keys/ca.pem from Wharf’s data dir through a shared read-only volume', () => {
    const dataDir = required(wharfContainerEnv, 'WHARF_DATA_DIR');
    const wharfMount = mountsOf('wharf').find((m) => m.target === dataDir);
    expect(wharfMount, `a volume mounted at Wharf's data dir ${dataDir}`).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(wharfMount!.source); // a named volume, not a host path
    const registryMount = mountsOf('registry').find((m) => m.source === wharfMount!.source);
    expect(registryMount, 'the registry mounts the same volume').toBeDefined();
    expect(registryMount!.readOnly).toBe(true);
    const bundle = required(registryEnv, 'REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE');
    expect(posix.relative(registryMount!.target, bundle)).toBe('keys/ca.pem');
  });

  it('reaches Redis and the platform by service name and port', () => {
    const redis = new URL(required(wharfEnv, 'WHARF_REDIS_URL'));
    expect(redis.protocol).toBe('redis:');
    expect(compose.services[redis.hostname]?.image).toMatch(/^redis:/);
    expect(Number(redis.port || 6379)).toBe(6379);
    // The store on a Redis of its own that keeps everything; the cache's may evict.
    const store = new URL(required(wharfEnv, 'WHARF_STORE_REDIS_URL'));
    expect(store.protocol).toBe('redis:');
    expect(store.hostname).not.toBe(redis.hostname);
    expect(compose.services[store.hostname]?.image).toMatch(/^redis:/);
    const flags = (name: string) => {
      const command = compose.services[name]!.command;
      const args = Array.isArray(command) ? command.map(String) : String(command).split(/\s+/);
      return Object.fromEntries(args.flatMap((a, i) => (a.startsWith('--') ? [[a.slice(2), args[i + 1]]] : [])));
    };
    expect(flags(store.hostname)).toMatchObject({ appendonly: 'yes', 'maxmemory-policy': 'noeviction' });
    expect(flags(redis.hostname)['maxmemory-policy']).toBe('allkeys-lru');
    const platformSource = read('examples/reference-platform/server.mjs');
    for (const [name, path] of [
      ['WHARF_INTROSPECTION_URL', '/introspect'],
      ['WHARF_AUTHZ_WEBHOOK_URL', '/authz'],
    ] as const) {
      const url = new URL(required(wharfEnv, name));
      expect(url.hostname, name).toBe('platform');
      expect(Number(url.port || 80), name).toBe(platformPort);
      expect(url.pathname, name).toBe(path);
      expect(platformSource).toContain(`'${path}'`);
    }
    expect(platformEnv.HOST).toBe('0.0.0.0'); // its default 127.0.0.1 is unreachable from Wharf's container
  });

  it('runs the reference platform from the repository, read-only', () => {
    const mount = mountsOf('platform').find((m) => m.source.replace(/\/$/, '') === './examples/reference-platform');
    expect(mount).toBeDefined();
    expect(mount!.readOnly).toBe(true);
    const command = service('platform').command;
    const script = (Array.isArray(command) ? command : String(command).split(/\s+/)).find((a) => a.endsWith('.mjs'))!;
    expect(posix.dirname(script)).toBe(mount!.target);
    expect(existsSync(join(ROOT, 'examples/reference-platform', posix.basename(script)))).toBe(true);
  });

  it('shares the platform secrets between Wharf and the platform', () => {
    expect(required(wharfEnv, 'WHARF_INTROSPECTION_CLIENT_ID')).toBe(required(platformEnv, 'INTROSPECTION_CLIENT_ID'));
    expect(required(wharfEnv, 'WHARF_INTROSPECTION_CLIENT_SECRET')).toBe(required(platformEnv, 'INTROSPECTION_CLIENT_SECRET'));
    expect(required(wharfEnv, 'WHARF_AUTHZ_WEBHOOK_SECRET')).toBe(required(platformEnv, 'WHARF_AUTHZ_WEBHOOK_SECRET'));
    expect(required(platformEnv, 'WHARF_AUTHZ_WEBHOOK_SECRET').length).toBeGreaterThanOrEqual(16); // the platform refuses shorter
    expect(required(wharfEnv, 'WHARF_HASH_KEY').length).toBeGreaterThanOrEqual(32); // Wharf refuses shorter
  });

  it('marks every secret as demo-only', () => {
    expect(composeText).toMatch(/DEMO ONLY/);
    const secrets = Object.entries(compose.services).flatMap(([name]) => Object.entries(envOf(name)).filter(([key]) => SECRETISH.test(key)));
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    for (const [key, value] of secrets) expect(value, key).toMatch(/^demo-only-/);
  });

  it('documents a docker login with a demo token the reference platform knows', () => {
    const login = /docker login (\S+) -u (\S+) -p (\S+)/.exec(composeText);
    expect(login, 'a `docker login` line in the header').not.toBeNull();
    const [, host, user, token] = login!;
    expect(host).toBe(`localhost:${portsOf('registry')[0]!.container}`);
    // DEMO_TOKENS would replace the built-in table that holds the token.
    expect(platformEnv.DEMO_TOKENS).toBeUndefined();
    const entry = new RegExp(`'${token!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}':\\s*\\{\\s*active:\\s*true,\\s*username:\\s*'([^']+)'`).exec(read('examples/reference-platform/server.mjs'));
    expect(entry, `${token} in the reference platform's built-in demo tokens`).not.toBeNull();
    expect(entry![1]).toBe(user);
  });

  it('starts each service once what it needs is healthy', () => {
    expect(dependencies('wharf')).toEqual({ redis: 'service_healthy', 'redis-store': 'service_healthy', platform: 'service_healthy' });
    // The registry refuses to start without its rootcertbundle, which Wharf writes on first start.
    expect(dependencies('registry')).toEqual({ wharf: 'service_healthy' });
    for (const name of ['redis', 'redis-store', 'platform', 'wharf']) {
      const test = service(name).healthcheck?.test;
      expect(test, `${name} healthcheck`).toBeDefined();
      expect(service(name).healthcheck?.disable).not.toBe(true);
    }
    expect(String(service('wharf').healthcheck!.test)).toContain(`127.0.0.1:${wharfContainerEnv.PORT ?? 5001}/healthz`);
    expect(String(service('platform').healthcheck!.test)).toContain(`127.0.0.1:${platformPort}/healthz`);
  });

  it('runs Wharf with a read-only root filesystem, writing only its data volume', () => {
    expect(service('wharf').read_only).toBe(true);
    const tmpfs = service('wharf').tmpfs;
    expect(Array.isArray(tmpfs) ? tmpfs : [tmpfs]).toContain('/tmp');
    expect(mountsOf('wharf').filter((m) => !m.readOnly).map((m) => m.target)).toEqual([imageDataDir]);
  });

  it('agrees with `wharf registry-config` run with the compose environment', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wharf-compose-'));
    try {
      const cli = await runWharfCli(['registry-config'], { env: { ...wharfContainerEnv, WHARF_DATA_DIR: dataDir } });
      expect(cli.code, cli.stderr).toBe(0);
      const token = (parse(cli.stdout) as { auth: { token: Record<string, string> } }).auth.token;
      expect(token.service).toBe(registryEnv.REGISTRY_AUTH_TOKEN_SERVICE);
      expect(token.issuer).toBe(registryEnv.REGISTRY_AUTH_TOKEN_ISSUER);
      expect(token.realm).toBe(registryEnv.REGISTRY_AUTH_TOKEN_REALM);
      // Where the CLI says the bundle is, relative to the data dir, is where the registry looks in the shared volume.
      const registryMount = mountsOf('registry').find((m) => m.source === mountsOf('wharf').find((w) => w.target === imageDataDir)?.source)!;
      expect(posix.relative(dataDir, token.rootcertbundle!)).toBe(posix.relative(registryMount.target, registryEnv.REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE!));
      expect(new X509Certificate(await readFile(token.rootcertbundle!)).ca).toBe(true);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The demo stack's login and push, without an engine: the reference platform with the compose
// environment, and Wharf (in process) with the compose environment pointed at it.
// ---------------------------------------------------------------------------------------------

describe('the compose demo, run without containers', () => {
  let platform: ManagedProcess;
  let wharf: WharfHandle;
  let work: string;
  const [, , user, demoToken] = /docker login (\S+) -u (\S+) -p (\S+)/.exec(composeText) ?? [];
  const registryService = registryEnv.REGISTRY_AUTH_TOKEN_SERVICE!;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-compose-demo-'));
    const port = await freePort();
    const platformUrl = `http://127.0.0.1:${port}`;
    // Only the listen address changes; every secret and setting is the compose file's.
    platform = await startProcess(process.execPath, [join(ROOT, 'examples/reference-platform/server.mjs')], {
      name: 'reference-platform',
      env: { PATH: process.env.PATH ?? '', ...platformEnv, HOST: '127.0.0.1', PORT: String(port) },
    });
    await waitForHttp(`${platformUrl}/healthz`, { process: platform, accept: (s) => s === 200 });
    const env: Record<string, string> = Object.fromEntries(
      Object.entries({ ...wharfContainerEnv, HOST: '127.0.0.1', PORT: '0', WHARF_DATA_DIR: join(work, 'data') }).map(([k, v]) => [k, v.replace(`http://platform:${platformPort}`, platformUrl)]),
    );
    // No Redis here: the in-process cache and the embedded store stand in for them.
    delete env.WHARF_REDIS_URL;
    delete env.WHARF_STORE_REDIS_URL;
    // No config file, as in the compose file: the embedded defaults (which add the `demo` user).
    wharf = await startWharf(await writeConfig({ demoUser: true }, work), env);
  });

  afterAll(() => shutDown(wharf, platform, work));

  const tokenRequest = (query: string) =>
    fetch(`${wharf.url}/token?service=${encodeURIComponent(registryService)}&account=${user}&${query}`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${demoToken}`).toString('base64')}` },
    });

  it('accepts the documented docker login', async () => {
    const res = await tokenRequest('client_id=docker&offline_token=true');
    expect(res.status, await res.clone().text()).toBe(200);
  });

  it('grants a push to the user’s namespace, in a token the compose registry accepts', async () => {
    const res = await tokenRequest(`scope=${encodeURIComponent(`repository:${user}/busybox:pull,push`)}&scope=${encodeURIComponent('repository:bob/app:pull')}`);
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const claims = decodeJwt(token);
    expect(claims.iss).toBe(registryEnv.REGISTRY_AUTH_TOKEN_ISSUER);
    expect(claims.aud).toBe(registryEnv.REGISTRY_AUTH_TOKEN_SERVICE);
    // bob/app is denied by the platform's policy: it is left out of the token.
    expect(claims.access).toEqual([{ type: 'repository', name: `${user}/busybox`, actions: ['pull', 'push'] }]);
    // Signed by the x5c leaf, which chains to keys/ca.pem in the data dir: the registry's rootcertbundle.
    const header = decodeProtectedHeader(token);
    const leafPem = `-----BEGIN CERTIFICATE-----\n${header.x5c![0]}\n-----END CERTIFICATE-----\n`;
    await jwtVerify(token, await importX509(leafPem, header.alg!));
    const bundle = posix.relative(mountsOf('registry').find((m) => m.readOnly)!.target, registryEnv.REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE!);
    const ca = new X509Certificate(await readFile(join(work, 'data', bundle)));
    expect(new X509Certificate(leafPem).verify(ca.publicKey)).toBe(true);
  });

  it('refuses a wrong platform token', async () => {
    const res = await fetch(`${wharf.url}/token?service=${encodeURIComponent(registryService)}&account=${user}`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:demo-token-wrong`).toString('base64')}` },
    });
    expect(res.status).toBe(401);
  });
});
