import { readFileSync } from 'node:fs';
import type { ReadSecret, SecretSource } from '../domain/backend.js';

/**
 * Reads a secret at start-up (never during config validation, which has no side effects).
 * The file wins over the environment. Throws naming the source, never the value.
 */
export function readSecret(what: string, source: SecretSource, env: Readonly<Record<string, string | undefined>>): string {
  if (source.file) {
    let value: string;
    try {
      value = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new Error(`${what}: cannot read secret file ${source.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
    if (value === '') throw new Error(`${what}: secret file ${source.file} is empty`);
    return value;
  }
  const value = source.env ? env[source.env] : undefined;
  if (!value) throw new Error(`${what}: no secret: set ${source.env ? `environment variable ${source.env} or ` : ''}a secret file`);
  return value;
}

/** `readSecret` bound to an environment: what backend factories get to read their secrets with. */
export function secretReader(env: Readonly<Record<string, string | undefined>>): ReadSecret {
  return (what, source) => readSecret(what, source, env);
}

/**
 * Fewest bytes a hash key may hold. It keys every HMAC in cache names, signs cookies and seals
 * upstream tokens (AES-GCM): a short or empty key makes all of them guessable. 32 bytes is
 * HMAC-SHA256's own output size.
 */
export const MIN_HASH_KEY_BYTES = 32;

/**
 * The hash key as bytes, or why it cannot be used: `source` names where it came from (a file, an
 * environment variable), never the value. Every source goes through here.
 */
export function hashKeyFrom(value: string, source: string): Buffer {
  const key = Buffer.from(value);
  if (key.length < MIN_HASH_KEY_BYTES) {
    throw new Error(
      `hash key from ${source} is ${key.length === 0 ? 'empty' : `${key.length} bytes`}; it must be at least ${MIN_HASH_KEY_BYTES} bytes (e.g. the output of \`openssl rand -hex 32\`)`,
    );
  }
  return key;
}
