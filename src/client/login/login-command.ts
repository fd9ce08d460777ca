import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, realpath } from 'node:fs/promises';
import { homedir as osHomedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { CredentialFileError, credentialsFilePath, FileCredentialStore, normalizeServerUrl, writeFileAtomic } from '../credential-store.js';
import type { CliIo } from '../io.js';

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

/** The OAuth client id the CLI presents; Wharf's device endpoints expect exactly this. */
export const CLI_CLIENT_ID = 'wharf-cli';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8628 §3.2: the polling interval when the server sends none. */
const DEFAULT_INTERVAL_SECONDS = 5;
/** A floor on the server's interval, so a buggy `interval: 0` cannot turn the loop into a busy loop. */
const MIN_INTERVAL_SECONDS = 1;
/** RFC 8628 §3.5: what `slow_down` adds to the interval, for that poll and every later one. */
const SLOW_DOWN_STEP_MS = 5_000;
/** Attempts per request when Wharf is unreachable, answers 5xx/408/429 or garbage (so 3 retries). */
const MAX_ATTEMPTS = 4;
/** Backoff after the n-th consecutive transient failure: 1 s, 2 s, 4 s… capped here. */
const MAX_BACKOFF_MS = 30_000;
/** Per-request timeout. */
const REQUEST_TIMEOUT_MS = 15_000;

/** The outside world `wharf login` touches beyond {@link CliIo}; tests replace the clock and sleep. */
export interface LoginDeps {
  fetch: typeof globalThis.fetch;
  /** Waits `ms` of the injected clock. */
  sleep: (ms: number) => Promise<void>;
  /** Epoch milliseconds. */
  now: () => number;
  /** Starts a browser on `url`; must never throw or wait. */
  openBrowser: (url: string, env: CliIo['env']) => void;
  homedir: () => string;
}

/** What {@link pollForToken} needs from {@link LoginDeps}. */
export type PollDeps = Pick<LoginDeps, 'fetch' | 'sleep' | 'now'>;

/** Starts `xdg-open URL` detached; a missing xdg-open or a failing browser is ignored. */
export function openBrowserWithXdgOpen(url: string, env: CliIo['env']): void {
  try {
    const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true, env: { ...env } });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // Best effort by design: the link is printed anyway.
  }
}

const defaultDeps: LoginDeps = {
  fetch: (...args) => globalThis.fetch(...args),
  sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
  now: Date.now,
  openBrowser: openBrowserWithXdgOpen,
  homedir: osHomedir,
};

const httpUrl = z.string().refine((s) => {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}, 'not an http(s) URL');

/** RFC 8628 §3.2 device authorization response, as Wharf sends it. */
const deviceCodeSchema = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_uri: httpUrl,
  verification_uri_complete: httpUrl.optional(),
  expires_in: z.number().positive(),
  interval: z.number().nonnegative().optional(),
});
/** The device authorization response. */
export type DeviceCodeResponse = z.infer<typeof deviceCodeSchema>;

/** RFC 6749 §5.1 token response with Wharf's `account`; `account:secret` must survive Basic auth. */
const tokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().positive(),
  account: z.string().regex(/^[^:\u0000-\u001f\u007f]+$/, 'an account name without ":" or control characters'),
});
/** A successful token response. */
export type TokenResponse = z.infer<typeof tokenSchema>;

const oauthErrorSchema = z.object({ error: z.string().min(1), error_description: z.string().optional() });

/** One HTTP exchange, classified the way the device flow needs it. */
type Reply =
  | { kind: 'network'; message: string }
  | { kind: 'http'; status: number; json: unknown; text: string };

/** How polling ended. */
export type PollResult =
  | { kind: 'ok'; token: TokenResponse }
  | { kind: 'denied'; message: string }
  | { kind: 'expired'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'unreachable'; message: string };

/** What {@link pollForToken} polls. */
export interface PollRequest {
  tokenUrl: string;
  deviceCode: string;
  /** From the device authorization response; default 5 s, at least 1 s. */
  intervalSeconds?: number | undefined;
  /** Lifetime of the device code; polling stops when the next poll would come after it. */
  expiresInSeconds: number;
}

/**
 * Polls the token endpoint (RFC 8628 §3.4/3.5) until the user approves, denies or the code
 * expires. Waits one interval before every poll; `slow_down` adds 5 s to the interval for good;
 * network errors, 408/429/5xx and unparseable answers are retried with backoff on top of the
 * interval, up to {@link MAX_ATTEMPTS} in a row. The clock and sleep are parameters so tests
 * run without waiting.
 */
export async function pollForToken(request: PollRequest, deps: PollDeps): Promise<PollResult> {
  let intervalMs = Math.max(MIN_INTERVAL_SECONDS, request.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS) * 1000;
  const deadline = deps.now() + request.expiresInSeconds * 1000;
  let failures = 0;
  let lastFailure = '';
  for (;;) {
    const wait = intervalMs + (failures > 0 ? backoffMs(failures) : 0);
    if (deps.now() + wait >= deadline) {
      return { kind: 'expired', message: 'the code expired before the login was approved; run wharf login again' };
    }
    await deps.sleep(wait);
    const reply = await postForm(deps.fetch, request.tokenUrl, {
      grant_type: DEVICE_CODE_GRANT,
      device_code: request.deviceCode,
      client_id: CLI_CLIENT_ID,
    });
    if (reply.kind === 'http' && reply.status === 200) {
      const token = tokenSchema.safeParse(reply.json);
      if (token.success) return { kind: 'ok', token: token.data };
      return { kind: 'unreachable', message: `${request.tokenUrl} answered 200 without a usable token (${describeIssues(token.error)})` };
    }
    const oauth = oauthError(reply);
    if (oauth !== undefined) {
      failures = 0;
      switch (oauth.error) {
        case 'authorization_pending':
          continue;
        case 'slow_down':
          intervalMs += SLOW_DOWN_STEP_MS;
          continue;
        case 'access_denied':
          return { kind: 'denied', message: 'the login was denied in the browser' };
        case 'expired_token':
          return { kind: 'expired', message: 'the code expired before the login was approved; run wharf login again' };
        default:
          return { kind: 'failed', message: `Wharf refused the login: ${describeOauthError(oauth)}` };
      }
    }
    lastFailure = describeReply(reply);
    if (!isTransient(reply)) return { kind: 'unreachable', message: `${request.tokenUrl}: ${lastFailure}` };
    failures += 1;
    if (failures >= MAX_ATTEMPTS) {
      return { kind: 'unreachable', message: `${request.tokenUrl} failed ${failures} times in a row (last: ${lastFailure})` };
    }
  }
}

/**
 * `wharf login REGISTRY …`: device authorization against the Wharf that REGISTRY trusts, then
 * stores the credential for docker (see {@link LOGIN_USAGE}). Instructions go to stderr, the
 * result line to stdout.
 */
export async function loginCommand(argv: string[], io: CliIo, overrides: Partial<LoginDeps> = {}): Promise<number> {
  const deps: LoginDeps = { ...defaultDeps, ...overrides };
  const options = parseLoginArgs(argv, io);
  if (typeof options === 'number') return options;
  const { registry } = options;

  const dockerDir = resolve(options.configDir ?? (io.env.DOCKER_CONFIG || join(io.env.HOME || deps.homedir(), '.docker')));
  const store = new FileCredentialStore(credentialsFilePath(io.env, deps.homedir), deps.now);
  // Refuse before the user spends time in the browser, not after, if the result could not be saved.
  try {
    await readDockerConfig(join(dockerDir, 'config.json'));
    if (options.store === 'helper') await store.list();
  } catch (err) {
    if (err instanceof DockerConfigError || err instanceof CredentialFileError) {
      io.stderr(`wharf login: ${err.message}\n`);
      return LOGIN_EXIT.failed;
    }
    throw err;
  }

  let base = options.wharf;
  if (base === undefined) {
    const found = await discoverWharf(registry, options.insecure, deps.fetch);
    if (found.kind !== 'ok') {
      io.stderr(`wharf login: ${found.message}\n`);
      return LOGIN_EXIT.unreachable;
    }
    base = found.base;
  }
  const baseProblem = plainHttpProblem(new URL(base), options.insecure);
  if (baseProblem !== undefined) {
    io.stderr(`wharf login: ${baseProblem}\n`);
    return LOGIN_EXIT.unreachable;
  }

  const started = await requestDeviceCode(`${base}/device/code`, registry, deps);
  if (started.kind !== 'ok') {
    io.stderr(`wharf login: ${started.message}\n`);
    return started.kind === 'failed' ? LOGIN_EXIT.failed : LOGIN_EXIT.unreachable;
  }
  const device = started.device;
  showInstructions(io, registry, device);
  const browserUrl = device.verification_uri_complete ?? device.verification_uri;
  if (!options.noBrowser && (io.env.DISPLAY || io.env.WAYLAND_DISPLAY)) {
    io.stderr('Opening your browser…\n');
    deps.openBrowser(browserUrl, io.env);
  }
  io.stderr(`Waiting for approval (the code expires in ${formatDuration(device.expires_in)})…\n`);

  const result = await pollForToken(
    { tokenUrl: `${base}/device/token`, deviceCode: device.device_code, intervalSeconds: device.interval, expiresInSeconds: device.expires_in },
    deps,
  );
  if (result.kind !== 'ok') {
    io.stderr(`wharf login: ${result.message}\n`);
    return result.kind === 'unreachable' ? LOGIN_EXIT.unreachable : LOGIN_EXIT.failed;
  }

  const { account, access_token: secret } = result.token;
  const expiresAt = new Date(deps.now() + result.token.expires_in * 1000);
  try {
    if (options.store === 'helper') {
      await store.store({ serverUrl: registry, username: account, secret, expiresAt: expiresAt.toISOString() });
      const file = await updateDockerConfig(dockerDir, (config) => {
        // Docker and skopeo read credHelpers first; a stale auths entry would only leave an old secret on disk.
        object(config, 'credHelpers')[registry] = 'wharf';
        const auths = config.auths as Record<string, unknown> | undefined;
        if (auths) delete auths[registry];
      });
      io.stderr(`Stored the credential in ${store.file}; ${file} sends docker to docker-credential-wharf for ${registry}.\n`);
      if (!onPath('docker-credential-wharf', io.env.PATH)) {
        io.stderr('warning: docker-credential-wharf is not on PATH, so docker cannot call it; install Wharf globally (npm install -g) or use --store config\n');
      }
    } else {
      let credsStore: unknown;
      const file = await updateDockerConfig(dockerDir, (config) => {
        object(config, 'auths')[registry] = { auth: Buffer.from(`${account}:${secret}`).toString('base64') };
        // A helper entry would win over auths, so the new credential would never be used.
        const helpers = config.credHelpers as Record<string, unknown> | undefined;
        if (helpers) delete helpers[registry];
        credsStore = config.credsStore;
      });
      io.stderr(`Stored the credential in ${file}.\n`);
      if (typeof credsStore === 'string' && credsStore !== '') {
        io.stderr(`warning: ${file} sets credsStore "${credsStore}", which docker asks instead of auths; use --store helper\n`);
      }
    }
  } catch (err) {
    if (err instanceof DockerConfigError || err instanceof CredentialFileError) {
      io.stderr(`wharf login: signed in, but could not store the credential: ${err.message}\n`);
      return LOGIN_EXIT.failed;
    }
    throw err;
  }
  io.stdout(`Login Succeeded as ${account} (expires ${expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z')})\n`);
  return LOGIN_EXIT.ok;
}

interface LoginOptions {
  registry: string;
  wharf?: string | undefined;
  insecure: boolean;
  noBrowser: boolean;
  store: 'helper' | 'config';
  configDir?: string | undefined;
}

function parseLoginArgs(argv: string[], io: CliIo): LoginOptions | number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        wharf: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        'no-browser': { type: 'boolean', default: false },
        store: { type: 'string', default: 'helper' },
        'config-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usageError(io, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(LOGIN_USAGE);
    return LOGIN_EXIT.ok;
  }
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

/** Loopback hosts, where plain HTTP is allowed without --insecure (as docker does). */
function isLoopbackHost(hostname: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === 'localhost' || hostname === '[::1]' || hostname === '::1';
}

function plainHttpProblem(url: URL, insecure: boolean): string | undefined {
  if (url.protocol === 'https:' || insecure || isLoopbackHost(url.hostname)) return undefined;
  return `refusing to send the login over plain HTTP to ${url.origin}; pass --insecure if you mean it`;
}

/** Where discovery found Wharf, or why it could not. */
export type Discovery = { kind: 'ok'; base: string } | { kind: 'unreachable'; message: string };

/**
 * Finds Wharf from REGISTRY's `/v2/` Bearer challenge: the realm without its trailing `/token`.
 * HTTPS first; plain HTTP only for loopback hosts or with `insecure`, and only when HTTPS did
 * not answer at all (an HTTPS answer without a challenge is authoritative).
 */
export async function discoverWharf(registry: string, insecure: boolean, fetchFn: typeof fetch): Promise<Discovery> {
  const hostname = new URL(`https://${registry}`).hostname;
  const schemes = insecure || isLoopbackHost(hostname) ? ['https', 'http'] : ['https'];
  const failures: string[] = [];
  for (const scheme of schemes) {
    const url = `${scheme}://${registry}/v2/`;
    let response: Response;
    try {
      response = await fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await response.body?.cancel();
    } catch (err) {
      failures.push(`${url}: ${networkMessage(err)}`);
      continue;
    }
    const realm = bearerRealm(response.headers.get('www-authenticate'));
    if (realm === undefined) {
      return {
        kind: 'unreachable',
        message: `${url} answered ${response.status} without a Bearer challenge, so it does not use Wharf tokens; pass --wharf URL`,
      };
    }
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm, url);
    } catch {
      return { kind: 'unreachable', message: `${url} sent an unusable realm ${JSON.stringify(realm)}; pass --wharf URL` };
    }
    const base = realmUrl.href.replace(/[?#].*$/, '');
    if (!/^https?:$/.test(realmUrl.protocol) || !/\/token\/?$/.test(base)) {
      return { kind: 'unreachable', message: `the registry's token realm ${realmUrl.href} is not a Wharf …/token endpoint; pass --wharf URL` };
    }
    return { kind: 'ok', base: base.replace(/\/token\/?$/, '') };
  }
  const hint = schemes.includes('http') ? 'pass --wharf URL' : 'pass --insecure to try plain HTTP, or --wharf URL';
  return { kind: 'unreachable', message: `cannot reach the registry: ${failures.join('; ')}; ${hint}` };
}

/** The `realm` of the Bearer challenge in a WWW-Authenticate header (RFC 7235 auth-params). */
function bearerRealm(header: string | null): string | undefined {
  if (header === null) return undefined;
  const bearer = /(?:^|,)\s*Bearer\s+(.*)$/i.exec(header);
  if (!bearer) return undefined;
  const param = /\s*([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/giy;
  const text = bearer[1] as string;
  param.lastIndex = 0;
  for (let m = param.exec(text); m !== null && m[0] !== ''; m = param.exec(text)) {
    if ((m[1] as string).toLowerCase() === 'realm') return m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return undefined;
}

type DeviceStart = { kind: 'ok'; device: DeviceCodeResponse } | { kind: 'failed' | 'unreachable'; message: string };

/** RFC 8628 §3.1 device authorization request, with retries for transient failures. */
async function requestDeviceCode(url: string, registry: string, deps: PollDeps): Promise<DeviceStart> {
  for (let attempt = 1; ; attempt++) {
    const reply = await postForm(deps.fetch, url, { client_id: CLI_CLIENT_ID, registry });
    if (reply.kind === 'http' && reply.status === 200) {
      const device = deviceCodeSchema.safeParse(reply.json);
      if (device.success) return { kind: 'ok', device: device.data };
      return { kind: 'unreachable', message: `${url} answered 200 without a usable device code (${describeIssues(device.error)})` };
    }
    const oauth = oauthError(reply);
    if (oauth !== undefined) return { kind: 'failed', message: `Wharf refused to start a login for ${registry}: ${describeOauthError(oauth)}` };
    const failure = describeReply(reply);
    if (!isTransient(reply)) return { kind: 'unreachable', message: `${url}: ${failure}; is device login enabled on this Wharf?` };
    if (attempt >= MAX_ATTEMPTS) return { kind: 'unreachable', message: `cannot reach Wharf: ${url} failed ${attempt} times in a row (last: ${failure})` };
    await deps.sleep(backoffMs(attempt));
  }
}

async function postForm(fetchFn: typeof fetch, url: string, form: Record<string, string>): Promise<Reply> {
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (err) {
    return { kind: 'network', message: networkMessage(err) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { kind: 'http', status: response.status, json, text };
}

/** RFC 6749 §5.2 errors come as 400 (401 for client authentication) with a JSON `error`. */
function oauthError(reply: Reply): z.infer<typeof oauthErrorSchema> | undefined {
  if (reply.kind !== 'http' || (reply.status !== 400 && reply.status !== 401)) return undefined;
  const parsed = oauthErrorSchema.safeParse(reply.json);
  return parsed.success ? parsed.data : undefined;
}

function isTransient(reply: Reply): boolean {
  if (reply.kind === 'network') return true;
  return reply.status >= 500 || reply.status === 408 || reply.status === 429;
}

function describeReply(reply: Reply): string {
  if (reply.kind === 'network') return reply.message;
  const snippet = sanitize(reply.text).replace(/\s+/g, ' ').trim().slice(0, 120);
  return `HTTP ${reply.status}${snippet ? ` ${snippet}` : ''}`;
}

function describeOauthError(error: z.infer<typeof oauthErrorSchema>): string {
  return sanitize(error.error_description ? `${error.error}: ${error.error_description}` : error.error);
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

function networkMessage(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function backoffMs(failures: number): number {
  return Math.min(1000 * 2 ** (failures - 1), MAX_BACKOFF_MS);
}

/** Server-provided text goes to a terminal: no escape sequences or other control characters. */
function sanitize(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

function showInstructions(io: CliIo, registry: string, device: DeviceCodeResponse): void {
  const lines = [
    `To sign in to ${registry}, open this page in a browser:`,
    '',
    `    ${sanitize(device.verification_uri)}`,
    '',
    'and enter the code:',
    '',
    `    ${sanitize(device.user_code)}`,
    '',
  ];
  if (device.verification_uri_complete !== undefined) {
    lines.push('Or open this link, which fills in the code for you:', '', `    ${sanitize(device.verification_uri_complete)}`, '');
  }
  io.stderr(`${lines.join('\n')}\n`);
}

function formatDuration(seconds: number): string {
  if (seconds >= 120) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds)} seconds`;
}

/** docker's config.json cannot be used; it is never overwritten then. */
class DockerConfigError extends Error {}

async function readDockerConfig(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new DockerConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DockerConfigError(`${file} is not valid JSON; fix it, or pick another --config-dir`);
  }
  if (!isPlainObject(json)) throw new DockerConfigError(`${file} is not a JSON object`);
  for (const key of ['auths', 'credHelpers']) {
    if (json[key] !== undefined && !isPlainObject(json[key])) throw new DockerConfigError(`${file}: "${key}" is not an object`);
  }
  return json;
}

/**
 * Read-modify-write of `<dir>/config.json`: the directory is created 0700, the file written 0600
 * atomically, every key `change` does not touch is kept as it was (docker's own tab indentation).
 * A symlinked config.json is followed, as docker does, so a dotfiles link stays a link.
 */
async function updateDockerConfig(dir: string, change: (config: Record<string, unknown>) => void): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let file = join(dir, 'config.json');
  file = await realpath(file).catch(() => file);
  const config = await readDockerConfig(file);
  change(config);
  await writeFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`, 0o600);
  return file;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(config: Record<string, unknown>, key: string): Record<string, unknown> {
  if (!isPlainObject(config[key])) config[key] = {};
  return config[key] as Record<string, unknown>;
}

function onPath(command: string, pathEnv: string | undefined): boolean {
  return (pathEnv ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
