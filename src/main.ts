#!/usr/bin/env node
// The only file that reads argv and the environment, listens, and handles signals.
import { ConfigError } from './config/load.js';
import { runCli } from './cli/index.js';
import { processIo } from './client/io.js';

const io = processIo();

try {
  const result = await runCli(process.argv.slice(2), io);
  if (typeof result === 'number') {
    process.exitCode = result;
  } else {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      result.log('shutting down', { signal });
      // Fastify stops accepting, lets in-flight requests finish, then closes; a hard deadline guards hung sockets.
      setTimeout(() => process.exit(1), 10_000).unref();
      result.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  }
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`wharf: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
