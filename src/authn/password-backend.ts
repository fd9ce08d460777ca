import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import type { BackendEntry, Capabilities, ReadSecret, TypedSchema } from '../domain/backend.js';
import type { UpstreamObserver } from '../upstream/upstream-client.js';
import type { PasswordAuthenticator } from './authenticator.js';

/** What every password backend factory may use. */
export interface AuthenticatorDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** Reads the backend's secrets at start-up (files or environment, as its config names them). */
  readSecret: ReadSecret;
  now?: () => number;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  /** Whether no other backend follows this one in the chain. */
  lastInChain?: boolean;
}

/** A built password backend, with whichever optional capabilities it offers. */
export type PasswordBackend = PasswordAuthenticator & Capabilities;

/** One password backend type, registered in `authn/registry.ts`. */
export type PasswordBackendEntry<Schema extends TypedSchema> = BackendEntry<Schema, AuthenticatorDeps, PasswordBackend>;
