import { homedir as osHomedir } from 'node:os';
import { join } from 'node:path';
import { CredentialFileError, credentialsFilePath, FileCredentialStore } from '../credential-store.js';
import type { CliIo } from '../io.js';
import { pollForToken, requestDeviceCode, type PollDeps } from './device-client.js';
import { discoverWharf } from './discover-wharf.js';
import { DockerConfigError, dockerConfigDir, readDockerConfig } from './docker-config.js';
import { formatDuration, showInstructions } from './instructions.js';
import { LOGIN_EXIT, parseLoginArgs } from './login-args.js';
import { openBrowserWithXdgOpen } from './open-browser.js';
import { plainHttpProblem } from './plain-http.js';
import { saveCredential } from './save-credential.js';

/** The outside world `wharf login` touches beyond {@link CliIo}; tests replace the clock and sleep. */
export interface LoginDeps extends PollDeps {
  /** Starts a browser on `url`; must never throw or wait. */
  openBrowser: (url: string, env: CliIo['env']) => void;
  homedir: () => string;
}

const defaultDeps: LoginDeps = {
  fetch: (...args) => globalThis.fetch(...args),
  sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
  now: Date.now,
  openBrowser: openBrowserWithXdgOpen,
  homedir: osHomedir,
};

/**
 * `wharf login REGISTRY …`: device authorization against the Wharf that REGISTRY trusts, then
 * stores the credential for docker (see LOGIN_USAGE). Instructions go to stderr, the result
 * line to stdout.
 */
export async function loginCommand(argv: string[], io: CliIo, overrides: Partial<LoginDeps> = {}): Promise<number> {
  const deps: LoginDeps = { ...defaultDeps, ...overrides };
  const options = parseLoginArgs(argv, io);
  if (typeof options === 'number') return options;
  const { registry } = options;

  const dockerDir = dockerConfigDir(options.configDir, io.env, deps.homedir);
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
    await saveCredential(io, options.store, dockerDir, store, { registry, account, secret, expiresAt });
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
