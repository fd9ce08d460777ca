import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../logging.js';
import { createServices } from '../services.js';
import { bootstrap, DEMO_USER, publicUrl } from './bootstrap.js';
import type { CliIo } from './io.js';
import { tokenAuthSection } from './registry-config.js';
import { stringify } from 'yaml';

/** A running server, for main to stop on a signal. */
export interface RunningServer {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** `wharf serve [--config FILE]`: loads config, builds the app, listens, prints the registry settings. */
export async function serveCommand(argv: string[], io: CliIo): Promise<RunningServer> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const config = await loadConfig(values.config ?? io.env.WHARF_CONFIG, io.env);
  const boot = await bootstrap(config, io);
  const logger = createLogger(config.log.level);
  const services = createServices(boot.config, { logger, keys: boot.keys.store, hashKey: boot.hashKey, env: io.env, keyRotation: boot.keys.rotation });
  const app = await buildApp(services);
  await services.start();
  await app.listen({ host: config.server.host, port: config.server.port });

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = publicUrl({ ...boot.config, server: { ...boot.config.server, port } });
  const lines = [
    `Wharf is listening on ${url} (token endpoint ${url}/token, JWKS ${url}/.well-known/jwks.json)`,
    `cache: ${config.cache.type}; authenticators: ${services.authenticators.types().join(', ')}`,
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
    stringify({ auth: { token: tokenAuthSection({ ...boot.config, server: { ...boot.config.server, port } }, boot.keys.rootBundleFile) } }),
  );
  io.stdout(`${lines.join('\n')}\n`);

  return {
    app,
    url,
    async close() {
      await app.close();
      await services.close();
    },
  };
}
