import { access, constants, stat } from 'node:fs/promises';
import type { Finding } from '../domain/backend.js';

/**
 * Checks that a configured command's program exists and is executable by this process, for
 * `wharf config check` (authenticator and authorizer alike). Runs nothing.
 */
export async function preflightCommand(argv: readonly string[], options: { path?: string } = {}): Promise<Finding[]> {
  const path = options.path ? `${options.path}.command` : 'command';
  const program = argv[0];
  if (program === undefined) return [{ severity: 'error', path, message: 'no program given' }];
  try {
    if (!(await stat(program)).isFile()) return [{ severity: 'error', path, message: `${program} is not a regular file` }];
    await access(program, constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return [{ severity: 'error', path, message: code === 'ENOENT' ? `${program} does not exist` : `${program} is not executable by this user (${code})` }];
  }
  return [];
}
