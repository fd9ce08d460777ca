import { homedir as osHomedir } from 'node:os';
import { z } from 'zod';
import { CredentialFileError, credentialsFilePath, FileCredentialStore } from './credential-store.js';
import type { CliIo } from './io.js';

/** What docker expects on stdout from `get`/`erase` when there is no credential (matched verbatim). */
export const CREDENTIALS_NOT_FOUND = 'credentials not found in native keychain';

export const CREDENTIAL_HELPER_USAGE = `usage: docker-credential-wharf get|store|erase|list

The docker credential-helper protocol (docker and skopeo call it; see docs/cli-login.md):
  get     server URL on stdin -> {"ServerURL","Username","Secret"} on stdout
  store   {"ServerURL","Username","Secret"} on stdin
  erase   server URL on stdin
  list    {"<server URL>": "<username>", ...} on stdout

Credentials live in $WHARF_CREDENTIALS_FILE, else $XDG_CONFIG_HOME/wharf/credentials.json,
else ~/.config/wharf/credentials.json. \`wharf login REGISTRY\` fills it.
`;

/** What the helper may use besides {@link CliIo}; defaults are the real clock and home directory. */
export interface CredentialHelperDeps {
  now: () => number;
  homedir: () => string;
}

const storeInput = z.object({ ServerURL: z.string(), Username: z.string(), Secret: z.string() });

/** A protocol error: printed on stdout, where docker reads a helper's error message. */
class HelperError extends Error {}

/**
 * `docker-credential-wharf ACTION`: the docker credential-helper protocol over the Wharf
 * credential store. Errors go to stdout because that is the only stream docker reports
 * (`credentials not found in native keychain` is matched literally); exit 1 on any failure.
 */
export async function credentialHelperCommand(
  argv: string[],
  io: CliIo,
  deps: Partial<CredentialHelperDeps> = {},
): Promise<number> {
  const [action, ...extra] = argv;
  if (action === '--help' || action === '-h' || action === 'help') {
    io.stdout(CREDENTIAL_HELPER_USAGE);
    return 0;
  }
  if (action === undefined || extra.length > 0 || !['get', 'store', 'erase', 'list'].includes(action)) {
    io.stderr(`${action === undefined ? 'no action given' : `unknown action ${JSON.stringify(argv.join(' '))}`}\n${CREDENTIAL_HELPER_USAGE}`);
    return 2;
  }
  const store = new FileCredentialStore(credentialsFilePath(io.env, deps.homedir ?? osHomedir), deps.now ?? Date.now);
  try {
    switch (action) {
      case 'get': {
        const credential = await store.get(await readServerUrl(io));
        if (credential === undefined) throw new HelperError(CREDENTIALS_NOT_FOUND);
        io.stdout(`${JSON.stringify({ ServerURL: credential.serverUrl, Username: credential.username, Secret: credential.secret })}\n`);
        return 0;
      }
      case 'store': {
        const input = parseStoreInput(await io.readStdin());
        await store.store({ serverUrl: input.ServerURL.trim(), username: input.Username, secret: input.Secret });
        return 0;
      }
      case 'erase': {
        if (!(await store.erase(await readServerUrl(io)))) throw new HelperError(CREDENTIALS_NOT_FOUND);
        return 0;
      }
      default: {
        const listing = Object.fromEntries((await store.list()).map((c) => [c.serverUrl, c.username]));
        io.stdout(`${JSON.stringify(listing)}\n`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof HelperError || err instanceof CredentialFileError) {
      io.stdout(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function readServerUrl(io: CliIo): Promise<string> {
  const serverUrl = (await io.readStdin()).trim();
  // docker-credential-helpers' own wording, so docker users see the message they know.
  if (serverUrl === '') throw new HelperError('no credentials server URL');
  if (/[\s\u0000-\u001f]/.test(serverUrl)) throw new HelperError('expected one server URL on standard input');
  return serverUrl;
}

function parseStoreInput(text: string): z.infer<typeof storeInput> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Never the parser's message: it quotes the input, and the input holds the secret.
    throw new HelperError('store: standard input is not JSON; expected {"ServerURL":…,"Username":…,"Secret":…}');
  }
  const parsed = storeInput.safeParse(json);
  if (!parsed.success) {
    throw new HelperError('store: expected {"ServerURL":…,"Username":…,"Secret":…} with string values on standard input');
  }
  if (parsed.data.ServerURL.trim() === '') throw new HelperError('no credentials server URL');
  if (parsed.data.Username === '') throw new HelperError('no credentials username');
  return parsed.data;
}
