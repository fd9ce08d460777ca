import type { FileCredentialStore } from '../credential-store.js';
import type { CliIo } from '../io.js';
import { childObject, updateDockerConfig } from './docker-config.js';
import type { LoginOptions } from './login-args.js';
import { onPath } from './on-path.js';

/** What a successful login hands to docker. */
export interface LoginCredential {
  /** The registry's host[:port], as docker's config.json keys it. */
  registry: string;
  account: string;
  secret: string;
  expiresAt: Date;
}

/**
 * Puts the credential where docker finds it (`--store`), reporting on stderr where it went:
 * `helper` = in `store`, with credHelpers[REGISTRY] = "wharf" in `<dockerDir>/config.json`;
 * `config` = auths[REGISTRY].auth in that file. Throws DockerConfigError or CredentialFileError.
 */
export async function saveCredential(
  io: CliIo,
  mode: LoginOptions['store'],
  dockerDir: string,
  store: FileCredentialStore,
  { registry, account, secret, expiresAt }: LoginCredential,
): Promise<void> {
  if (mode === 'helper') {
    await store.store({ serverUrl: registry, username: account, secret, expiresAt: expiresAt.toISOString() });
    const file = await updateDockerConfig(dockerDir, (config) => {
      // Docker and skopeo read credHelpers first; a stale auths entry would only leave an old secret on disk.
      childObject(config, 'credHelpers')[registry] = 'wharf';
      const auths = config.auths as Record<string, unknown> | undefined;
      if (auths) delete auths[registry];
    });
    io.stderr(`Stored the credential in ${store.file}; ${file} sends docker to docker-credential-wharf for ${registry}.\n`);
    if (!onPath('docker-credential-wharf', io.env.PATH)) {
      io.stderr('warning: docker-credential-wharf is not on PATH, so docker cannot call it; install Wharf globally (npm install -g) or use --store config\n');
    }
    return;
  }
  let credsStore: unknown;
  const file = await updateDockerConfig(dockerDir, (config) => {
    childObject(config, 'auths')[registry] = { auth: Buffer.from(`${account}:${secret}`).toString('base64') };
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
