import { normalizeServerUrl } from '../credential-store.js';
import { parseCommandLine } from '../command-line.js';
import type { CliIo } from '../io.js';
import { httpUrl } from './http-url.js';

/** What `wharf login --help` prints; a usage error is followed by it on stderr. */
export const LOGIN_USAGE = `usage: wharf login REGISTRY [--wharf URL] [--insecure] [--no-browser] [--store helper|config] [--config-dir DIR]

Signs in through the browser (OAuth 2.0 device authorization, RFC 8628) and stores a docker
credential for REGISTRY (host[:port]).
  --wharf URL        Wharf's base URL; default: discovered from REGISTRY's /v2/ Bearer challenge
  --insecure         allow plain HTTP to a registry or Wharf that is not on loopback
  --no-browser       only print the link; never start a browser
  --store helper     (default) keep the secret in docker-credential-wharf's store and set
                     credHelpers[REGISTRY] = "wharf" in docker's config.json
  --store config     write auths[REGISTRY].auth into docker's config.json instead
  --config-dir DIR   docker's config directory; default $DOCKER_CONFIG, else ~/.docker
exit status: 0 signed in, 1 denied, expired or not stored, 2 usage, 3 Wharf unreachable
`;

/** Exit statuses of `wharf login`; scripts rely on them. */
export const LOGIN_EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** The command line of `wharf login`, checked (see {@link LOGIN_USAGE}). */
export interface LoginOptions {
  /** host[:port], normalised as the credential store keys it. */
  registry: string;
  /** Wharf's base URL without trailing `/`; undefined = discover it from the registry. */
  wharf?: string | undefined;
  insecure: boolean;
  noBrowser: boolean;
  store: 'helper' | 'config';
  configDir?: string | undefined;
}

/**
 * Parses `wharf login`'s arguments. A number means the command is over: `--help` was printed
 * (exit 0) or the usage was wrong and has been reported on stderr (exit 2).
 */
export function parseLoginArgs(argv: string[], io: CliIo): LoginOptions | number {
  const parsed = parseCommandLine(
    argv,
    io,
    {
      wharf: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'no-browser': { type: 'boolean', default: false },
      store: { type: 'string', default: 'helper' },
      'config-dir': { type: 'string' },
    },
    LOGIN_USAGE,
    (message) => usageError(io, message),
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError(io, positionals.length === 0 ? 'REGISTRY is required' : 'only one REGISTRY at a time');
  const registry = normalizeServerUrl(positionals[0] as string);
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/i.test(registry)) {
    return usageError(io, `REGISTRY must be a registry host[:port], got ${JSON.stringify(positionals[0])}`);
  }
  if (values.store !== 'helper' && values.store !== 'config') return usageError(io, '--store must be helper or config');
  let wharf: string | undefined;
  if (values.wharf !== undefined) {
    const url = httpUrl.safeParse(values.wharf);
    if (!url.success) return usageError(io, `--wharf must be an http(s) URL, got ${JSON.stringify(values.wharf)}`);
    wharf = url.data.replace(/\/+$/, '');
  }
  if (values['config-dir'] === '') return usageError(io, '--config-dir must not be empty');
  return {
    registry,
    wharf,
    insecure: values.insecure,
    noBrowser: values['no-browser'],
    store: values.store,
    configDir: values['config-dir'],
  };
}

function usageError(io: CliIo, message: string): number {
  io.stderr(`wharf login: ${message}\n${LOGIN_USAGE}`);
  return LOGIN_EXIT.usage;
}
