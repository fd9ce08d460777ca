import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { TokenRequest } from '../../src/tokens/token-service.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import type { LoadedKeys } from '../../src/keys/key-files.js';
import { testKeys } from './keys.js';
import type { LogCapture } from './log-capture.js';
import { tempStore } from './store.js';

/** A static user alice with a password generated at test time, and keys to sign her tokens. */
export interface Alice {
  password: string;
  hash: string;
  keys: LoadedKeys;
}

/** Makes alice (bcrypt cost 10, so once per test file). */
export async function makeAlice(): Promise<Alice> {
  const password = randomBytes(9).toString('base64url');
  return { password, hash: await bcrypt.hash(password, 10), keys: await testKeys() };
}

/** What `aliceServices` takes besides the config: where the log goes (silent without), the clock. */
export interface AliceOptions {
  log?: LogCapture;
  now?: () => number;
}

/** Services for the static user alice, logging at info into `log` when given. */
export function aliceServices(alice: Alice, extra: ConfigInput = {}, options: AliceOptions = {}) {
  const config = parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: alice.hash } } }], ...extra }, {});
  const { log, now } = options;
  const logger = log?.logger ?? createLogger('silent');
  return createServices(config, { store: tempStore(), logger, keys: alice.keys.store, hashKey: randomBytes(32), ...(now ? { now } : {}) });
}

/**
 * Counts the password authentications `s` makes, remembered or verified (each first awaiting
 * `before`, when given); returns the count so far. Every one begins by asking the backends what
 * they remember.
 */
export function countLogins(s: ReturnType<typeof aliceServices>, before?: () => Promise<unknown>): () => number {
  return countCalls(s.authenticators, 'recall', before);
}

/**
 * Counts the token requests `s` decides (the authorizer asked; each first awaiting `before`, when
 * given); returns the count so far. An answer handed out again decides nothing.
 */
export function countDecisions(s: ReturnType<typeof aliceServices>, before?: () => Promise<unknown>): () => number {
  return countCalls(s.authorizer, 'authorize', before);
}

/** Wraps `target[name]` to count its calls, each first awaiting `before`; returns the count so far. */
function countCalls<T extends object, K extends keyof T>(target: T, name: K, before?: () => Promise<unknown>): () => number {
  let calls = 0;
  const original = (target[name] as (...args: unknown[]) => unknown).bind(target);
  target[name] = (async (...args: unknown[]) => {
    calls++;
    await before?.();
    return original(...args);
  }) as T[K];
  return () => calls;
}

/** A GET token request of alice's for alice/app. */
export function aliceRequest(alice: Alice, overrides: Partial<TokenRequest> = {}): TokenRequest {
  return {
    service: 'registry',
    scopes: ['repository:alice/app:pull,push'],
    account: 'alice',
    credentials: { kind: 'password', username: 'alice', password: alice.password },
    offline: false,
    clientId: 'docker',
    clientIp: '127.0.0.1',
    grantType: 'get',
    ...overrides,
  };
}
