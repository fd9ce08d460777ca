import { accessSync, constants, statSync } from 'node:fs';

/**
 * Throws when the executable at `path` is missing or not executable.
 * End-to-end tests call this in beforeAll: a missing tool must fail the run loudly with the fix,
 * never turn into a silently skipped test that looks green in CI.
 */
export function requireCommand(path: string, debianPackage: string): void {
  let problem: string | undefined;
  try {
    if (!statSync(path).isFile()) problem = 'not a regular file';
    else accessSync(path, constants.X_OK);
  } catch (err) {
    problem = (err as NodeJS.ErrnoException).code ?? String(err);
  }
  if (problem !== undefined) {
    throw new Error(
      `missing prerequisite ${path} (${problem}): install it with: apt-get install -y ${debianPackage}`,
    );
  }
}
