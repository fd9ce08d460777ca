#!/usr/bin/env node
// `docker-credential-wharf`: the only file of this binary that reads argv, the environment and stdin.
import { credentialHelperCommand } from './client/credential-helper-command.js';
import { processIo } from './client/io.js';

const io = processIo();

try {
  process.exitCode = await credentialHelperCommand(process.argv.slice(2), io);
} catch (err) {
  // stdout, not stderr: docker shows a helper's stdout as the error. Never a stack trace.
  process.stdout.write(`docker-credential-wharf: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
