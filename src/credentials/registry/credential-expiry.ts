import type { Logger } from 'pino';
import type { CredentialStore } from './credential-store.js';

/** A credential ending within this is "expiring soon": listed as such, counted, and noted once a day. */
export const EXPIRING_SOON_MS = 7 * 86_400_000;

/** How often each replica looks for credentials ending soon. */
const EXPIRY_SWEEP_MS = 10 * 60_000;

/** What the sweep needs. */
export interface ExpirySweepDeps {
  credentials: CredentialStore;
  logger: Logger;
  /** Told the number of live credentials ending within 7 days (the `wharf_credentials_expiring` gauge). */
  count: (expiring: number) => void;
}

/**
 * One look for credentials ending within 7 days: counts them, and writes one `credential_expiring`
 * audit line per credential per day, whichever replica looks first (a claim in the store). Its
 * work is bounded by the credentials ending soon, read through the store's expiry index.
 */
export async function sweepExpiringCredentials({ credentials, logger, count }: ExpirySweepDeps): Promise<number> {
  const expiring = await credentials.expiringWithin(EXPIRING_SOON_MS);
  count(expiring.length);
  for (const record of expiring) {
    if (!(await credentials.claimExpiringNotice(record))) continue;
    logger.info(
      { event: 'credential_expiring', account: record.identity.account, credentialId: record.id, label: record.label, expiresAt: new Date(record.expiresAt).toISOString() },
      'registry credential ends within 7 days',
    );
  }
  return expiring.length;
}

/** Runs the sweep now and every 10 minutes; returns the stop function. A failed sweep is logged and tried again. */
export function startExpirySweep(deps: ExpirySweepDeps): () => void {
  const run = () =>
    void sweepExpiringCredentials(deps).catch((err: unknown) =>
      deps.logger.warn({ event: 'credential_expiry_sweep_failed', err: err instanceof Error ? err.message : String(err) }, 'could not look for credentials ending soon; will try again'),
    );
  run();
  const timer = setInterval(run, EXPIRY_SWEEP_MS).unref();
  return () => clearInterval(timer);
}
