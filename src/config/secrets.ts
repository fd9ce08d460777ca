import { readFileSync } from 'node:fs';

/** Where a secret comes from: a file (preferred: mounted secrets) or an environment variable. */
export interface SecretSource {
  /** Path of a file holding the secret (trailing newline ignored). */
  file?: string | undefined;
  /** Name of an environment variable holding it. */
  env?: string | undefined;
}

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
      throw new Error(`${what}: cannot read secret file ${source.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (value === '') throw new Error(`${what}: secret file ${source.file} is empty`);
    return value;
  }
  const value = source.env ? env[source.env] : undefined;
  if (!value) throw new Error(`${what}: no secret: set ${source.env ? `environment variable ${source.env} or ` : ''}a secret file`);
  return value;
}
