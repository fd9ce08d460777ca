import { mkdir, readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CliIo } from '../io.js';
import { writeFileAtomic } from '../write-file-atomic.js';

/** docker's config.json cannot be used; it is never overwritten then. */
export class DockerConfigError extends Error {}

/** docker's config directory: `configDir` (--config-dir), else $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(configDir: string | undefined, env: CliIo['env'], homedir: () => string): string {
  return resolve(configDir ?? (env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker')));
}

/** The parsed config.json; `{}` when it is missing or empty. Throws {@link DockerConfigError}. */
export async function readDockerConfig(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new DockerConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DockerConfigError(`${file} is not valid JSON; fix it, or pick another --config-dir`);
  }
  if (!isPlainObject(json)) throw new DockerConfigError(`${file} is not a JSON object`);
  for (const key of ['auths', 'credHelpers']) {
    if (json[key] !== undefined && !isPlainObject(json[key])) throw new DockerConfigError(`${file}: "${key}" is not an object`);
  }
  return json;
}

/**
 * Read-modify-write of `<dir>/config.json`: the directory is created 0700, the file written 0600
 * atomically, every key `change` does not touch is kept as it was (docker's own tab indentation).
 * A symlinked config.json is followed, as docker does, so a dotfiles link stays a link.
 * Returns the file written.
 */
export async function updateDockerConfig(dir: string, change: (config: Record<string, unknown>) => void): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let file = join(dir, 'config.json');
  file = await realpath(file).catch(() => file);
  const config = await readDockerConfig(file);
  change(config);
  await writeFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`, 0o600);
  return file;
}

/** `config[key]` as an object to add entries to; anything else there is replaced by `{}`. */
export function childObject(config: Record<string, unknown>, key: string): Record<string, unknown> {
  if (!isPlainObject(config[key])) config[key] = {};
  return config[key] as Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
