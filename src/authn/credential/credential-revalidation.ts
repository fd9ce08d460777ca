import type { Logger } from 'pino';
import type { SealedBox } from '../../crypto/sealed-box.js';
import type { CallbackAuthenticator } from '../authenticator.js';
import type { CredentialRevalidation } from './credential-authenticator.js';

/** Re-checking of the provider identity behind credentials, and the sealing that makes it possible. */
export interface UpstreamRechecks {
  /** Given to the credential backend; undefined when re-checking is off. */
  revalidation: CredentialRevalidation | undefined;
  /** Seals a login provider's access token for credentials to be re-checked later; undefined when off or the provider cannot re-check. */
  sealUpstream(provider: string, token: string | undefined): { provider: string; sealed: string } | undefined;
}

/**
 * Credentials from browser and device logins outlive the provider login behind them; with
 * `everyMinutes` > 0 the provider's access token is kept sealed with the credential and the
 * provider is asked again that often (a GitHub token revoked, a user gone from the organisation).
 */
export function upstreamRechecks(options: { everyMinutes: number; providers: readonly CallbackAuthenticator[]; box: SealedBox; logger: Logger; now: () => number }): UpstreamRechecks {
  const { providers, box, logger } = options;
  const canRecheck = (provider: string) => providers.find((p) => p.name === provider)?.revalidate !== undefined;
  if (options.everyMinutes <= 0) return { revalidation: undefined, sealUpstream: () => undefined };
  return {
    revalidation: {
      everyMs: options.everyMinutes * 60_000,
      now: options.now,
      async check(provider, sealed) {
        const login = providers.find((p) => p.name === provider);
        const token = box.open(sealed);
        if (!login?.revalidate || token === undefined) return 'invalid';
        const verdict = await login.revalidate(token);
        logger.info({ event: 'credential_revalidated', provider, verdict }, 'upstream identity re-checked');
        return verdict;
      },
    },
    sealUpstream: (provider, token) => (token && canRecheck(provider) ? { provider, sealed: box.seal(token) } : undefined),
  };
}
