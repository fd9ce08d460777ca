import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { bootstrap, DEMO_USER, publicUrl, type Bootstrap } from './bootstrap.js';
import { parseCommandArgs, stringOption } from './command-args.js';
import type { CliIo } from '../client/io.js';
import { tokenAuthSection } from './registry-config.js';

/** How long requests under way may take to finish at shutdown before every connection is closed (the process's hard deadline is 10 s). */
const SHUTDOWN_GRACE_MS = 5000;

/** A running server (or a cluster of them), for main to stop on a signal. */
export interface RunningServer {
  url: string;
  log(message: string, fields?: Record<string, unknown>): void;
  close(): Promise<void>;
}

const SERVE_USAGE = `usage: wharf serve [--config FILE] [--workers N]

Runs the token service (what npm start runs).

options:
  --config FILE  configuration file (default: $WHARF_CONFIG, else the embedded defaults:
                 127.0.0.1:5001, in-process cache, generated keys under ./data, the demo user)
  --workers N    worker processes sharing one port, 1 to 64 (default 1); more than 1 needs the Redis cache
  -h, --help     show this help
`;

/**
 * `wharf serve [--config FILE] [--workers N]`: loads config, builds the app, listens, prints the
 * registry settings. With `--workers N` a primary process forks N workers sharing the port
 * (node:cluster); they must share state, so this needs the Redis cache.
 */
export async function serveCommand(argv: string[], io: CliIo): Promise<RunningServer | number> {
  const args = parseCommandArgs(io, { command: 'serve', usage: SERVE_USAGE, options: { config: { type: 'string' }, workers: { type: 'string' } } }, argv);
  if (typeof args === 'number') return args;
  const config = await loadConfig(stringOption(args, 'config') ?? io.env.WHARF_CONFIG, io.env);
  const workersOption = stringOption(args, 'workers');
  const workers = workersOption === undefined ? 1 : Number(workersOption);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error('--workers must be a whole number from 1 to 64');
  if (workers > 1 && config.cache.type !== 'redis') {
    throw new Error('--workers needs the Redis cache (set WHARF_REDIS_URL): workers are separate processes and must share refresh tokens, sessions and decisions');
  }
  // Keys, the hash key and the demo user are made once, by the primary, before any worker reads them.
  const boot = await bootstrap(config, io);
  if (workers > 1 && cluster.isPrimary) return startCluster(config, boot, workers, io);
  return startServer(config, boot, io, cluster.isWorker);
}

async function startServer(config: Config, boot: Bootstrap, io: CliIo, quiet: boolean): Promise<RunningServer> {
  // Imported here, not at the top: a `--workers` primary only forks and never loads the server
  // (fastify, Redis, every backend), which keeps its memory to a few tens of MB.
  const [{ buildApp }, { createLogger }, { createServices }] = await Promise.all([import('../app.js'), import('../logging.js'), import('../services.js')]);
  const logger = createLogger(config.log.level);
  const services = createServices(boot.config, { logger, keys: boot.keys.store, hashKey: boot.hashKey, env: io.env, keyRotation: boot.keys.rotation });
  const tls = config.server.tls;
  const https = tls ? { key: await readFile(tls.keyFile), cert: await readFile(tls.certFile) } : undefined;
  const descriptorLimit = await openFilesLimit();
  const app = await buildApp(services, { publicUrl: publicUrl(config), ...(https ? { https } : {}), ...(descriptorLimit !== undefined ? { descriptorLimit } : {}) });
  await services.start();
  await app.listen({ host: config.server.host, port: config.server.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = publicUrl(config, port);
  if (!quiet) io.stdout(describe(config, boot, url, io));
  return {
    url,
    log: (message, fields) => app.log.info(fields ?? {}, message),
    async close() {
      // A connection that never finished its request (a slow client part-way through its headers)
      // is neither idle nor answered, so it would hold the close until its header timeout and past
      // the process's hard deadline: requests under way get a few seconds, then what is left goes.
      const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
      try {
        await app.close();
      } finally {
        clearTimeout(force);
      }
      await services.close();
      // Standard output is written asynchronously: flush before the process exits.
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
}

/**
 * How many files this process may open (the soft limit, which Node raises to the hard limit at
 * start), from Linux's /proc; undefined where that cannot be read or there is no limit.
 */
async function openFilesLimit(): Promise<number | undefined> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

function startCluster(config: Config, boot: Bootstrap, workers: number, io: CliIo): Promise<RunningServer> {
  const url = publicUrl(config);
  let stopping = false;
  const fork = () => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    io.stderr(`worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    fork();
  });
  for (let i = 0; i < workers; i++) fork();
  io.stdout(describe(config, boot, url, io) + `running ${workers} workers\n`);
  return Promise.resolve({
    url,
    log: (message) => io.stderr(`${message}\n`),
    async close() {
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      await Promise.all(
        all.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  });
}

function describe(config: Config, boot: Bootstrap, url: string, io: CliIo): string {
  const lines = [
    `Wharf is listening on ${url} (token endpoint ${url}/token, JWKS ${url}/.well-known/jwks.json)`,
    `cache: ${config.cache.type}; authenticators: ${boot.config.authn.map((a) => a.type).join(', ') || 'none'}`,
  ];
  if (boot.keys.generated.length > 0) lines.push(`generated signing keys: ${boot.keys.generated.join(', ')}`);
  if (boot.config.demoUser) {
    lines.push(
      boot.generatedDemoPassword
        ? `demo account "${DEMO_USER}" created; password (shown only now): ${boot.generatedDemoPassword}`
        : `demo account "${DEMO_USER}" (password ${io.env.WHARF_DEMO_PASSWORD ? 'from WHARF_DEMO_PASSWORD' : 'as printed when it was created'}); it may push and pull ${DEMO_USER}/*`,
    );
  }
  lines.push(
    'Configure the registry with (or run `wharf registry-config --out DIR` for a whole config.yml):',
    stringify({ auth: { token: tokenAuthSection(config, boot.keys.rootBundleFile, `${url}/token`) } }),
  );
  return `${lines.join('\n')}\n`;
}
