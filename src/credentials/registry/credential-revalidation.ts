import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { SealedBox } from '../../crypto/sealed-box.js';
import type { CallbackAuthenticator, UpstreamTokens } from '../../authn/authenticator.js';
import type { CredentialRevalidation } from './credential-authenticator.js';
import type { SealedUpstream } from './credential-store.js';

/** Re-checking of the provider identity behind credentials, and the sealing that makes it possible. */
export interface UpstreamRechecks {
  /** Given to the credential backend. */
  revalidation: CredentialRevalidation;
  /** Seals a login provider's tokens for credentials to be re-checked later; undefined when the provider gave none or cannot re-check. */
  sealUpstream(provider: string, tokens: UpstreamTokens | undefined): SealedUpstream | undefined;
}

/** Options of the re-checks. */
export interface UpstreamRecheckOptions {
  everyMinutes: number;
  /** See `CredentialRevalidation.graceMs`, in hours. */
  graceHours: number;
  providers: readonly CallbackAuthenticator[];
  box: SealedBox;
  logger: Logger;
  now: () => number;
}

/**
 * Credentials from browser and device logins outlive the provider login behind them, so the
 * provider's tokens are kept sealed (AES-GCM) with them and the provider is asked again every
 * `everyMinutes`: with the refresh token when it gave one, else with the access token while it
 * lives (a user deleted, refused, moved out of an allowed domain, group or organisation).
 */
export function upstreamRechecks(options: UpstreamRecheckOptions): UpstreamRechecks {
  const { providers, box, logger } = options;
  const canRecheck = (provider: string) => providers.find((p) => p.name === provider)?.revalidate !== undefined;
  return {
    revalidation: {
      everyMs: options.everyMinutes * 60_000,
      graceMs: options.graceHours * 3_600_000,
      now: options.now,
      async check(upstream, identity) {
        const login = providers.find((p) => p.name === upstream.provider);
        const tokens = openTokens(box, upstream.sealed);
        if (!login?.revalidate || tokens === undefined) {
          logger.warn({ event: 'credential_revalidated', provider: upstream.provider, account: identity.account, verdict: 'invalid', reason: 'provider gone or tokens unreadable' }, 'upstream identity re-checked');
          return { kind: 'invalid', reason: login ? 'its sealed tokens cannot be opened' : 'its sign-in provider is no longer configured' };
        }
        const verdict = await login.revalidate(tokens, identity).catch((err: unknown) => ({ kind: 'unknown' as const, reason: err instanceof Error ? err.message : 'error' }));
        const reason = verdict.kind === 'valid' ? undefined : verdict.reason;
        // An outage is worth a warning: past the grace time it refuses credentials.
        logger[verdict.kind === 'unknown' ? 'warn' : 'info']({ event: 'credential_revalidated', provider: upstream.provider, account: identity.account, verdict: verdict.kind, reason }, 'upstream identity re-checked');
        if (verdict.kind !== 'valid') return verdict;
        return { kind: 'valid', identity: verdict.identity, sealed: verdict.tokens ? box.seal(JSON.stringify(verdict.tokens)) : undefined };
      },
      revoked(record, reason) {
        logger.info({ event: 'credential_revoked', account: record.identity.account, credentialId: record.id, provider: record.upstream?.provider, by: 'revalidation', reason }, 'registry credential revoked: its identity provider no longer vouches for it');
      },
    },
    sealUpstream(provider, tokens) {
      if (!tokens || !canRecheck(provider)) return undefined;
      // Without a refresh token an expiring access token cannot be asked about for long.
      const renewable = tokens.refreshToken !== undefined || tokens.expiresAt === undefined;
      return { provider, sealed: box.seal(JSON.stringify(tokens)), grant: randomBytes(12).toString('hex'), renewable };
    },
  };
}

/** The sealed tokens; boxes sealed before tokens were JSON hold a bare access token. */
function openTokens(box: SealedBox, sealed: string): UpstreamTokens | undefined {
  const plain = box.open(sealed);
  if (plain === undefined) return undefined;
  if (!plain.startsWith('{')) return { accessToken: plain };
  const parsed = JSON.parse(plain) as Partial<UpstreamTokens>;
  return typeof parsed.accessToken === 'string' ? (parsed as UpstreamTokens) : undefined;
}
