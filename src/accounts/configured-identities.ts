import type { Logger } from 'pino';
import type { Identity } from '../domain/identity.js';
import type { AccountGate } from './account-gate.js';

/**
 * Users the config itself defines (static users) own their names from the start, before anyone
 * else can sign in with them. A binding that cannot be recorded now is made at the first login.
 * The config is these users' source: their groups as it names them are recorded as proven (a
 * person's robots follow a user whose groups a new config changed from the start).
 */
export async function bindConfiguredIdentities(identities: readonly Identity[], gate: AccountGate, logger: Logger): Promise<void> {
  for (const identity of identities) {
    const admitted = await gate
      .admit(identity, { proven: true })
      .catch((err: unknown) => ({ kind: 'refused' as const, message: `could not record the binding (${err instanceof Error ? err.message : String(err)}); it is made at the user's first login` }));
    if (admitted.kind !== 'ok') logger.error({ event: 'static_user_unbound', account: identity.account }, admitted.message);
  }
}
