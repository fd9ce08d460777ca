import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import { publicSigningKeys } from './jwks-document.js';

/** Where one issuer's signing keys come from (fetched, a file, the config); IssuerKeys caches what it loads. */
export interface JwksSource {
  /** Where the keys come from, for log lines (a URL, a file). */
  readonly describe: string;
  /** False for keys fixed in the config: loaded once, never again. */
  readonly reloads: boolean;
  /** The issuer's public signing keys; throws TemporarilyUnavailableError (logged) when they cannot be had. */
  load(): Promise<JSONWebKeySet>;
}

/** Logs why an issuer's keys cannot be used and throws the 503 that says so (fail closed). */
export function unusableKeys(logger: Logger, issuer: string, what: string, why: string, level: 'warn' | 'error' = 'warn'): never {
  logger[level]({ event: 'oidc_jwks_unusable', issuer, what }, `the issuer's ${what} ${why}; refusing with 503 (fail closed)`);
  throw new TemporarilyUnavailableError('the ID token issuer’s keys cannot be used; try again shortly');
}

/** Keys written into the config (`jwks`), validated with it. */
export function inlineJwksSource(jwks: unknown): JwksSource {
  const checked = publicSigningKeys(jwks, { strict: true });
  if ('error' in checked) throw new Error(`jwks: the JWKS ${checked.error}`);
  return { describe: 'jwks (config)', reloads: false, load: () => Promise.resolve(checked.keys) };
}

/**
 * Keys from a JWKS file (`jwksFile`), e.g. a mounted ConfigMap holding `kubectl get --raw
 * /openid/v1/jwks`: re-read on every load, so a rotation needs only a new file.
 */
export class FileJwksSource implements JwksSource {
  readonly reloads = true;
  readonly describe: string;

  constructor(
    private readonly file: string,
    private readonly issuer: string,
    private readonly logger: Logger,
  ) {
    this.describe = file;
  }

  /** Reads the file now, at start-up: throws an Error naming the file and the problem, so Wharf does not start without the keys. */
  initial(): JSONWebKeySet {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      throw new Error(`jwksFile: cannot read ${this.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
    const checked = this.parse(text);
    if ('error' in checked) throw new Error(`jwksFile: ${this.file} ${checked.error}`);
    return checked.keys;
  }

  async load(): Promise<JSONWebKeySet> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      return unusableKeys(this.logger, this.issuer, 'jwksFile', `${this.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const checked = this.parse(text);
    if ('error' in checked) return unusableKeys(this.logger, this.issuer, 'jwksFile', `${this.file} ${checked.error}`);
    return checked.keys;
  }

  private parse(text: string): { keys: JSONWebKeySet } | { error: string } {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return { error: 'is not JSON' };
    }
    return publicSigningKeys(doc, { strict: true });
  }
}
