import { ConfigError, loadConfig } from '../config/load.js';
import type { CliIo } from './io.js';

/** `wharf config check FILE`: validates a config file and prints every problem with its path. */
export async function configCheckCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, file] = argv;
  if (sub !== 'check' || !file) {
    io.stderr('usage: wharf config check FILE\n');
    return 2;
  }
  try {
    await loadConfig(file, io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
    for (const p of err.problems) io.stderr(`  ${p.path}: ${p.message}\n`);
    return 1;
  }
  io.stdout(`${file}: ok\n`);
  return 0;
}
