import type { BackendEntry, ReadSecret, TypedSchema } from '../domain/backend.js';
import type { CallbackAuthenticator } from './authenticator.js';

/** What a browser-login provider's factory may use. */
export interface LoginProviderDeps {
  /** Reads the provider's client secret or key at start-up. */
  readSecret: ReadSecret;
  /** The clock, for when the provider's tokens end. Default `Date.now`. */
  now?: () => number;
}

/** One browser-login provider type (`federation.providers[].type`), registered in `authn/login-registry.ts`. */
export type LoginProviderEntry<Schema extends TypedSchema> = BackendEntry<Schema, LoginProviderDeps, CallbackAuthenticator>;
