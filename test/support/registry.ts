import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { requireCommand } from './prerequisites.js';
import { startProcess, waitForHttp } from './processes.js';

/** Path of the distribution (Docker Registry v2) binary the harness runs. */
export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

/** Options for {@link registryConfigYaml}. */
export interface RegistryConfigOptions {
  port: number;
  /** Filesystem storage root; owned by the caller (not deleted on stop). */
  storageDir: string;
  /** Token realm URL; when set, an `auth.token` section is emitted and the fields below are required. */
  realm?: string;
  service?: string;
  issuer?: string;
  /** PEM bundle of certificates whose keys may sign tokens. */
  rootCertBundle?: string;
}

/**
 * Produces a distribution 2.8 `config.yml`: filesystem storage with delete enabled, plain HTTP on
 * 127.0.0.1:PORT, and bearer-token auth when `realm` is given.
 */
export function registryConfigYaml(opts: RegistryConfigOptions): string {
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text' },
    storage: {
      filesystem: { rootdirectory: opts.storageDir },
      delete: { enabled: true },
      // Upload purging starts a background sweep that only adds noise to test logs.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${opts.port}`,
      // Without a fixed secret distribution warns and generates one; state it explicitly.
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
  };
  if (opts.realm !== undefined) {
    const missing = (['service', 'issuer', 'rootCertBundle'] as const).filter((k) => !opts[k]);
    if (missing.length > 0) {
      throw new Error(`registryConfigYaml: token auth (realm) also needs ${missing.join(', ')}`);
    }
    config.auth = {
      token: {
        realm: opts.realm,
        service: opts.service,
        issuer: opts.issuer,
        rootcertbundle: opts.rootCertBundle,
      },
    };
  }
  return stringify(config);
}

/** A running registry owned by the test. */
export interface RegistryHandle {
  /** http://127.0.0.1:PORT (https when the config has http.tls). */
  url: string;
  /** 127.0.0.1:PORT, the form image references and `docker login` use. */
  host: string;
  port: number;
  /** The config file the registry was started with. */
  configFile: string;
  /** Last lines of the registry's output (it logs requests and auth errors to stderr). */
  logs(): string;
  /** Stops the registry and removes the temp dir holding a generated config (not storage). */
  stop(): Promise<void>;
}

/**
 * Runs `docker-registry serve <config.yml>` and waits until `GET /v2/` answers 200 or 401.
 * Accepts either YAML text (written to a temp dir) or an existing file, because the product will
 * later generate its own registry config via its CLI.
 */
export async function startRegistry(
  opts: ({ configYaml: string } | { configFile: string }) & { timeoutMs?: number },
): Promise<RegistryHandle> {
  requireCommand(DOCKER_REGISTRY, 'docker-registry');
  let tempDir: string | undefined;
  let configFile: string;
  let yamlText: string;
  if ('configYaml' in opts) {
    tempDir = await mkdtemp(join(tmpdir(), 'wharf-registry-'));
    configFile = join(tempDir, 'config.yml');
    yamlText = opts.configYaml;
    await writeFile(configFile, yamlText);
  } else {
    configFile = opts.configFile;
    yamlText = await readFile(configFile, 'utf8');
  }
  const cleanup = async (): Promise<void> => {
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
  };

  // The URL comes from the config itself so the two can never disagree.
  const config = (parse(yamlText) ?? {}) as { http?: { addr?: unknown; tls?: unknown } };
  const addr = config.http?.addr;
  const match = typeof addr === 'string' ? /^(.*):(\d+)$/.exec(addr) : null;
  if (!match) {
    await cleanup();
    throw new Error(`startRegistry: config ${configFile} needs http.addr as HOST:PORT, got ${JSON.stringify(addr)}`);
  }
  const port = Number(match[2]);
  const bindHost = match[1] === '' || match[1] === '0.0.0.0' ? '127.0.0.1' : (match[1] as string);
  const host = `${bindHost}:${port}`;
  const url = `${config.http?.tls ? 'https' : 'http'}://${host}`;

  // distribution lets REGISTRY_* variables override any config key; never inherit them.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;

  const proc = await startProcess(DOCKER_REGISTRY, ['serve', configFile], { name: `docker-registry:${port}`, env });
  const stop = async (): Promise<void> => {
    await proc.stop();
    await cleanup();
  };
  try {
    await waitForHttp(`${url}/v2/`, {
      process: proc,
      timeoutMs: opts.timeoutMs ?? 15_000,
      accept: (s) => s === 200 || s === 401,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, host, port, configFile, logs: () => proc.logs(), stop };
}
