import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { buildApp } from '../../src/app.js';
import { bootstrap } from '../../src/cli/bootstrap.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createServices, type Services } from '../../src/services.js';
import { captureLog, type LogLine } from './log-capture.js';
import { runCommand, type CommandResult } from './processes.js';
import { startRegistry, type RegistryHandle } from './registry.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The compiled CLI, as `bin/wharf` runs it. */
export const WHARF_BIN = join(ROOT, 'dist/main.js');

/** Runs the built `wharf` CLI; fails loudly when the build is missing. */
export async function runWharfCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<CommandResult> {
  if (!existsSync(WHARF_BIN)) throw new Error(`missing ${WHARF_BIN}: run \`npm run build\` (npm test does it first)`);
  return runCommand(process.execPath, [WHARF_BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
}

/** Writes a config file into a fresh temp dir; returns its path. */
export async function writeConfig(config: ConfigInput, dir?: string): Promise<string> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'wharf-config-')));
  const file = join(target, 'wharf.yml');
  await writeFile(file, stringify(config));
  return file;
}

/** An in-process Wharf built by the same `buildApp` as `main`, with its log lines captured. */
export interface WharfHandle {
  url: string;
  app: FastifyInstance;
  services: Services;
  /** Every log line written so far, parsed. */
  logs: LogLine[];
  /** The raw log text, to search for secrets. */
  rawLogs(): string;
  stop(): Promise<void>;
}

/** Starts Wharf from a config file exactly as `wharf serve --config FILE` would, minus the process. */
export async function startWharf(configFile: string, env: Record<string, string> = {}): Promise<WharfHandle> {
  const config = await loadConfig(configFile, env);
  const io = { env, stdout: () => {}, stderr: () => {}, readStdin: async () => '' };
  const boot = await bootstrap(config, io);
  const log = captureLog(config.log.level);
  const services = createServices(boot.config, { logger: log.logger, keys: boot.keys.store, hashKey: boot.hashKey, env, keyRotation: boot.keys.rotation });
  const app = await buildApp(services);
  await services.start();
  await app.listen({ host: config.server.host, port: config.server.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    services,
    logs: log.lines,
    rawLogs: log.text,
    async stop() {
      await app.close();
      await services.close();
    },
  };
}

/** Wharf and the registry it issues tokens for, both running. */
export interface WharfAndRegistry {
  wharf: WharfHandle;
  registry: RegistryHandle;
}

/**
 * Starts what an operator runs: `wharf registry-config` writes the registry's config from Wharf's
 * (into `work/registry`, the registry to listen on `registryPort`), which must succeed; then Wharf
 * (in process, with `env` for its secrets) and the registry start.
 */
export async function startWharfAndRegistry(configFile: string, work: string, registryPort: number, env: Record<string, string> = {}): Promise<WharfAndRegistry> {
  const cli = await runWharfCli(['registry-config', '--config', configFile, '--out', join(work, 'registry'), '--listen', `127.0.0.1:${registryPort}`], { env });
  expect(cli.code, cli.stderr).toBe(0);
  const wharf = await startWharf(configFile, env);
  const registry = await startRegistry({ configFile: join(work, 'registry', 'config.yml') });
  return { wharf, registry };
}
