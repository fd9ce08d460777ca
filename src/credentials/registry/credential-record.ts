import type { CredentialScope } from '../../domain/credential-scope.js';
import type { Identity } from '../../domain/identity.js';

/** The login provider's tokens behind a browser session, device approval or credential, sealed. */
export interface SealedUpstream {
  provider: string;
  sealed: string;
  /**
   * Names the provider login the tokens came from: every credential made from one session shares
   * its re-checks and the newest tokens (a provider that rotates refresh tokens honours only the
   * newest). Absent in records made before it existed: the credential id stands in.
   */
  grant?: string;
  /** False when the tokens cannot be asked about once the access token ends (no refresh token): such credentials are capped. */
  renewable?: boolean;
}

/** Where a credential was made: the account page, a device login (`wharf login`), the credential API. */
export type CredentialSource = 'browser' | 'device' | 'api';

/** A registry credential as stored (under a keyed hash of its secret; the secret is never stored). */
export interface CredentialRecord {
  id: string;
  identity: Identity;
  label: string;
  source: CredentialSource;
  createdAt: number;
  expiresAt: number;
  /** The login provider's sealed tokens, to re-check the identity; and when it last was. */
  upstream?: SealedUpstream & { validatedAt: number };
  /** What its tokens may be used for, within the account's rights; absent (records from before scopes): the account's full rights. */
  scope?: CredentialScope;
  /**
   * Made by an administrator (or by a credential so made), who vouches for the identity: not capped
   * as a login that cannot be re-checked (`maxDaysWithoutRecheck`).
   */
  vouched?: boolean;
  /** A robot made by a person: that person's identity when they made it (see AuthnResult.maker). */
  maker?: Identity;
}

/** What a passed re-check leaves for every credential of the same provider login. */
export interface RecheckNote {
  /** The provider's tokens as they are now (refreshed or rotated), sealed. */
  sealed?: string | undefined;
  /** The identity's attributes as the provider gave them now (groups...). */
  attributes?: Readonly<Record<string, unknown>> | undefined;
}

/** What the account page and the API list. */
export interface CredentialSummary extends Omit<CredentialRecord, 'identity' | 'upstream' | 'maker'> {
  account: string;
  lastUsedAt: number | undefined;
  /** While a rotation's earlier secret still works: when it stops. */
  previousRetiresAt?: number | undefined;
}

/** A credential's entry under its account: the key of its secret, and during a rotation the earlier one's. */
export interface AccountEntry {
  key: string;
  previous?: string;
  retiresAt?: number;
}

/** Entries were the bare key of the secret before rotation existed. */
export function parseEntry(raw: string): AccountEntry {
  return raw.startsWith('{') ? (JSON.parse(raw) as AccountEntry) : { key: raw };
}

/** One UTC day, as the expiry index buckets credentials. */
export const DAY_MS = 86_400_000;
