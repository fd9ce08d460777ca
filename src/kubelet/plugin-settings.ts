import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PLUGIN_EXIT, PluginFailure } from './plugin-failure.js';

/** What the plugin needs to reach Wharf, from the provider's `args` and `env` in the CredentialProviderConfig. */
export interface PluginSettings {
  /** Wharf's base URL (`--url` / `WHARF_URL`), without a trailing slash. */
  readonly url: URL;
  /** PEM bundle that replaces the default CAs for Wharf's HTTPS (`--ca-file` / `WHARF_CA_FILE`). */
  readonly ca: string | undefined;
  /** The whole exchange, connect to last byte (`--timeout` / `WHARF_TIMEOUT`, seconds; default 10). */
  readonly timeoutMs: number;
}

/** Seconds the exchange may take when neither `--timeout` nor `WHARF_TIMEOUT` says. */
export const DEFAULT_TIMEOUT_SECONDS = 10;
// The kubelet kills a plugin after one minute: a longer timeout would never fire.
const MAX_TIMEOUT_SECONDS = 55;

/** `--help`: the plugin's args and env, for an operator running it by hand. */
export const PLUGIN_USAGE = `usage: wharf-kubelet-credential-provider [--url URL] [--ca-file FILE] [--timeout SECONDS]

A kubelet image credential provider (credentialprovider.kubelet.k8s.io/v1): reads a
CredentialProviderRequest on stdin, exchanges its service-account token at Wharf
(POST URL/api/v1/exchange) for a pull-only credential of the image's repository, and
writes a CredentialProviderResponse on stdout.

  --url URL          Wharf's base URL (env WHARF_URL); https, or http to a loopback address
  --ca-file FILE     PEM bundle trusted for Wharf's HTTPS instead of the default CAs (env WHARF_CA_FILE)
  --timeout SECONDS  for the whole exchange, at most ${MAX_TIMEOUT_SECONDS} (env WHARF_TIMEOUT; default ${DEFAULT_TIMEOUT_SECONDS})

Exit codes: 0 answered, 2 settings, 3 request on stdin, 4 Wharf refused, 5 Wharf unavailable.
`;

const isLoopback = (hostname: string) => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === 'localhost' || hostname === '[::1]';

const usage = (message: string) => new PluginFailure(PLUGIN_EXIT.usage, message);

/**
 * The settings from argv and env (an argument wins over its variable), or `'help'`. Reads the CA
 * file, so that a missing one is a settings problem named as such, not a TLS error later.
 */
export function readSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): PluginSettings | 'help' {
  let values: { url?: string | undefined; 'ca-file'?: string | undefined; timeout?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { url: { type: 'string' }, 'ca-file': { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw usage(`${(err as Error).message.split('\n')[0]} (the provider's args in the CredentialProviderConfig)`);
  }
  if (values.help === true) return 'help';

  const given = values.url ?? env.WHARF_URL;
  if (given === undefined || given === '') throw usage("no Wharf URL: give the provider args [--url, https://wharf.example] or env WHARF_URL in the kubelet's CredentialProviderConfig");
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw usage(`the Wharf URL ${JSON.stringify(given)} is not a URL (--url / WHARF_URL)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw usage(`the Wharf URL must be https://, got ${url.protocol} (--url / WHARF_URL)`);
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw usage(`refusing to send service-account tokens over plain HTTP to ${url.origin}: give Wharf's https:// URL (--url / WHARF_URL), with --ca-file for a private CA`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw usage('the Wharf URL must have no query, fragment or user info (--url / WHARF_URL)');
  url.pathname = url.pathname.replace(/\/+$/, '');

  const caFile = values['ca-file'] ?? env.WHARF_CA_FILE;
  let ca: string | undefined;
  if (caFile !== undefined && caFile !== '') {
    if (url.protocol !== 'https:') throw usage(`--ca-file / WHARF_CA_FILE is for https://, but the Wharf URL is ${url.origin}`);
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw usage(`cannot read the CA bundle ${caFile} (--ca-file / WHARF_CA_FILE): ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw usage(`the CA bundle ${caFile} holds no PEM certificate (--ca-file / WHARF_CA_FILE)`);
  }

  const timeoutText = values.timeout ?? env.WHARF_TIMEOUT;
  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  if (timeoutText !== undefined && timeoutText !== '') {
    timeoutSeconds = Number(timeoutText);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > MAX_TIMEOUT_SECONDS) {
      throw usage(`the timeout must be seconds above 0 and at most ${MAX_TIMEOUT_SECONDS} (the kubelet's own limit is 60), got ${JSON.stringify(timeoutText)} (--timeout / WHARF_TIMEOUT)`);
    }
  }
  return { url, ca, timeoutMs: Math.round(timeoutSeconds * 1000) };
}
