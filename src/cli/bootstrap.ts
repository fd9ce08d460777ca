import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import bcrypt from 'bcrypt';
import { DEFAULT_BCRYPT_COST } from '../authn/static/bcrypt-cost.js';
import type { Config } from '../config/schema.js';
import { hashKeyFrom } from '../config/secrets.js';
import { loadKeys, type KeySource, type LoadedKeys } from '../keys/key-files.js';
import type { CliIo } from '../client/io.js';

export { publicUrl } from '../config/public-url.js';

/** Name of the demo account of the embedded defaults. */
export const DEMO_USER = 'demo';

/** Resolved state that `serve` and `registry-config` share. */
export interface Bootstrap {
  keys: LoadedKeys;
  hashKey: Buffer;
  /** The config with the demo user (when enabled) added to the authenticator chain. */
  config: Config;
  /** Set only when a demo password was generated now; print it once. */
  generatedDemoPassword?: string;
}

/** Loads or generates keys, the hash key and the demo user. */
export async function bootstrap(config: Config, io: CliIo): Promise<Bootstrap> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadKeys(keySource(config));
  const hashKey = await loadHashKey(config, io, dataDir);
  if (!config.demoUser) return { keys, hashKey, config };

  const demo = await demoPasswordHash(dataDir, io.env.WHARF_DEMO_PASSWORD);
  const demoBackend = { type: 'static' as const, users: { [DEMO_USER]: { passwordHash: demo.hash, attributes: {} } }, verifiedCacheSeconds: 60 };
  const withDemo: Config = { ...config, authn: [demoBackend, ...config.authn] };
  return demo.generated ? { keys, hashKey, config: withDemo, generatedDemoPassword: demo.generated } : { keys, hashKey, config: withDemo };
}

/** Where the config says keys come from. */
export function keySource(config: Config): KeySource {
  return {
    ...config.keys,
    generatedDir: join(resolve(config.dataDir), 'keys'),
    kidFormat: config.token.kidFormat,
    maxTokenLifetimeSeconds: Math.max(config.token.lifetimeSeconds, ...Object.values(config.token.actionLifetimeSeconds)),
  };
}

async function loadHashKey(config: Config, io: CliIo, dataDir: string): Promise<Buffer> {
  const fromEnv = io.env.WHARF_HASH_KEY;
  // Set but empty is a mistake, not a request for the file: refused like any short key.
  if (fromEnv !== undefined) return hashKeyFrom(fromEnv, 'environment variable WHARF_HASH_KEY');
  const file = config.hashKeyFile ?? join(dataDir, 'hash-key');
  let text: string | undefined;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || config.hashKeyFile) throw new Error(`hash key: cannot read ${file} (${code ?? 'error'})`, { cause: err });
  }
  if (text !== undefined) return hashKeyFrom(text, config.hashKeyFile ? `hashKeyFile ${file}` : `${file} (delete it to have a new one generated)`);
  const key = randomBytes(32).toString('hex');
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return hashKeyFrom(key, 'a generated key');
}

async function demoPasswordHash(dataDir: string, fromEnv: string | undefined): Promise<{ hash: string; generated?: string }> {
  if (fromEnv) return { hash: await keptHash(join(dataDir, 'demo-password-env.bcrypt'), fromEnv) };
  const file = join(dataDir, 'demo-password.bcrypt');
  const stored = await readStoredHash(file);
  if (stored !== undefined) return { hash: stored };
  const password = randomBytes(18).toString('base64url');
  const hash = await bcrypt.hash(password, DEFAULT_BCRYPT_COST);
  await writeFile(file, `${hash}\n`, { mode: 0o600 });
  return { hash, generated: password };
}

/**
 * The hash of a password given at every start (WHARF_DEMO_PASSWORD): the one stored in `file`
 * while the password still verifies against it, else a new one, stored. Hashing anew at each
 * start gave a new salt, hence a new hash, which refresh tokens read as a password change (they
 * are bound to the hash), so every restart ended every `docker login` of the demo user. A file of
 * its own, so the generated password's hash is still there when the variable is unset again.
 */
async function keptHash(file: string, password: string): Promise<string> {
  const stored = await readStoredHash(file);
  // A file that is no bcrypt hash (edited, truncated) makes bcrypt throw: then it is replaced.
  if (stored !== undefined && (await bcrypt.compare(password, stored).catch(() => false))) return stored;
  const hash = await bcrypt.hash(password, DEFAULT_BCRYPT_COST);
  await writeFile(file, `${hash}\n`, { mode: 0o600 });
  return hash;
}

/** The trimmed content of a hash file; undefined when there is none. */
async function readStoredHash(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}
