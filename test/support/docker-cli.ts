import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { runCommand, type CommandResult } from './processes.js';

/** Result of one docker CLI invocation; non-zero exits are returned, never thrown. */
export type DockerResult = CommandResult;

/** The parts of a docker `config.json` the tests look at. */
export interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; [key: string]: unknown }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * Finds `docker` on PATH like `which`, throwing a loud error with the Debian fix when absent.
 * On bookworm the CLI is packaged as `docker.io` (`docker-cli` only exists from trixie on).
 */
export function findDockerCli(pathEnv = process.env.PATH ?? ''): string {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'docker');
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // Not here; keep looking, as `which` does.
    }
  }
  throw new Error(
    `missing prerequisite docker CLI: no executable "docker" on PATH (${pathEnv}): ` +
      'install it with: apt-get install -y docker.io (the Debian bookworm package providing /usr/bin/docker; ' +
      'no engine needs to run for `docker login`)',
  );
}

/**
 * `docker --config DIR login HOST -u USER --password-stdin`, password on stdin.
 * Docker 28 logs in client-side (no engine needed) and, for 127.0.0.0/8 and localhost, falls back
 * from HTTPS to plain HTTP on its own. DOCKER_HOST/DOCKER_CONTEXT and the real HOME are dropped
 * so the host's docker setup never leaks in; DOCKER_CONFIG is set as well as --config.
 */
export async function dockerLogin(
  host: string,
  user: string,
  password: string,
  opts: { configDir: string; timeoutMs?: number },
): Promise<DockerResult> {
  const docker = findDockerCli();
  const home = await mkdtemp(join(tmpdir(), 'wharf-docker-home-'));
  try {
    return await runCommand(
      docker,
      ['--config', opts.configDir, 'login', host, '-u', user, '--password-stdin'],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, DOCKER_CONFIG: opts.configDir },
        input: password,
        timeoutMs: opts.timeoutMs ?? 30_000,
      },
    );
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Parses `<configDir>/config.json` as written by `docker login`; throws if it does not exist. */
export async function readDockerConfig(configDir: string): Promise<DockerConfig> {
  return JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as DockerConfig;
}
