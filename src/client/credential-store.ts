import { mkdir, readFile } from 'node:fs/promises';
import { homedir as osHomedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './write-file-atomic.js';

/** Docker Hub's historical server URL; docker uses it verbatim as a key, so it is never normalised. */
export const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';

/**
 * The key a server URL is stored under: without scheme and trailing `/`, so `https://r.example/`,
 * `http://r.example` and `r.example` (what docker and skopeo pass for non-Hub registries) are one entry.
 */
export function normalizeServerUrl(serverUrl: string): string {
  const trimmed = serverUrl.trim();
  if (trimmed === DOCKER_HUB_SERVER_URL) return trimmed;
  return trimmed.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
}

/**
 * Where the credential helper keeps its secrets: `$WHARF_CREDENTIALS_FILE`, else
 * `$XDG_CONFIG_HOME/wharf/credentials.json` (XDG requires an absolute path; a relative one is
 * ignored), else `~/.config/wharf/credentials.json`.
 */
export function credentialsFilePath(
  env: Readonly<Record<string, string | undefined>>,
  homedir: () => string = osHomedir,
): string {
  if (env.WHARF_CREDENTIALS_FILE) return env.WHARF_CREDENTIALS_FILE;
  const xdg = env.XDG_CONFIG_HOME;
  const configHome = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(configHome, 'wharf', 'credentials.json');
}

/** One stored credential. */
export interface StoredCredential {
  /** The server URL as it was given to `store` (the key is its normalised form). */
  serverUrl: string;
  username: string;
  secret: string;
  /** ISO 8601 instant after which `get` treats the credential as absent; none = never expires. */
  expiresAt?: string | undefined;
}

/** The credentials file is unreadable or not in this format; it is never overwritten then. */
export class CredentialFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialFileError';
  }
}

// Loose objects: a field added by a later version survives a rewrite by this one.
const credentialSchema = z.looseObject({
  serverUrl: z.string().min(1),
  username: z.string(),
  secret: z.string(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});
const fileSchema = z.looseObject({
  version: z.literal(1),
  credentials: z.record(z.string(), credentialSchema),
});
type CredentialFile = z.infer<typeof fileSchema>;

/**
 * The credential helper's store: one JSON file (mode 0600 in a 0700 directory), rewritten
 * atomically on every change. Expired entries read as absent and are dropped on the next write.
 */
export class FileCredentialStore {
  /**
   * @param file path of the JSON file (see {@link credentialsFilePath})
   * @param now clock in epoch milliseconds, injected so tests can expire entries without waiting
   */
  constructor(
    readonly file: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The live credential for `serverUrl`, or undefined when there is none or it has expired. */
  async get(serverUrl: string): Promise<StoredCredential | undefined> {
    const entry = (await this.read()).credentials[normalizeServerUrl(serverUrl)];
    return entry && this.isLive(entry) ? toCredential(entry) : undefined;
  }

  /** Every live credential. */
  async list(): Promise<StoredCredential[]> {
    return Object.values((await this.read()).credentials)
      .filter((entry) => this.isLive(entry))
      .map(toCredential);
  }

  /** Adds or replaces the credential for its server URL. */
  async store(credential: StoredCredential): Promise<void> {
    const content = await this.read();
    const credentials = this.withoutExpired(content.credentials);
    credentials[normalizeServerUrl(credential.serverUrl)] = {
      serverUrl: credential.serverUrl,
      username: credential.username,
      secret: credential.secret,
      ...(credential.expiresAt !== undefined ? { expiresAt: credential.expiresAt } : {}),
    };
    await this.write({ ...content, credentials });
  }

  /** Removes the credential for `serverUrl`; false when there was none (an expired one counts as none). */
  async erase(serverUrl: string): Promise<boolean> {
    const content = await this.read();
    const key = normalizeServerUrl(serverUrl);
    const entry = content.credentials[key];
    const existed = entry !== undefined && this.isLive(entry);
    if (entry === undefined) return false;
    const credentials = this.withoutExpired(content.credentials);
    delete credentials[key];
    await this.write({ ...content, credentials });
    return existed;
  }

  private isLive(entry: { expiresAt?: string | undefined }): boolean {
    return entry.expiresAt === undefined || Date.parse(entry.expiresAt) > this.now();
  }

  private withoutExpired(credentials: CredentialFile['credentials']): CredentialFile['credentials'] {
    return Object.fromEntries(Object.entries(credentials).filter(([, entry]) => this.isLive(entry)));
  }

  private async read(): Promise<CredentialFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, credentials: {} };
      throw new CredentialFileError(`cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      // The parser's message quotes the input, which holds secrets: say only where the file is.
      throw new CredentialFileError(`${this.file} is not valid JSON; fix or remove it`, { cause: err });
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw new CredentialFileError(`${this.file} is not a Wharf credentials file (version 1); problems at: ${where}`);
    }
    return parsed.data;
  }

  private async write(content: CredentialFile): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, `${JSON.stringify(content, null, 2)}\n`, 0o600);
  }
}

function toCredential(entry: z.infer<typeof credentialSchema>): StoredCredential {
  return { serverUrl: entry.serverUrl, username: entry.username, secret: entry.secret, expiresAt: entry.expiresAt };
}
