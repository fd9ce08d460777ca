import { decodeJwt } from 'jose';
import type { Logger } from 'pino';
import { NOT_RECOGNISED, type Prover } from '../authn/prover-interface.js';
import type { ExchangedCredentials } from '../credentials/exchanged/exchanged-credentials.js';
import { actionsInScope } from '../domain/credential-scope.js';
import { ForbiddenError, InvalidRequestError, UnauthorizedError } from '../domain/errors.js';
import { compileGlob } from '../domain/glob.js';
import { parseImageReference } from '../domain/image-reference.js';
import { isValidResourceName } from '../domain/scope.js';

/** The service-account annotation that narrows what a pod may pull: comma-separated repository globs. */
export const PULL_ANNOTATION = 'wharf/pull';

/** A token exchange as it arrives (`POST /api/v1/exchange`), parsed but not judged. */
export interface ExchangeRequest {
  /** The service-account token (or any OIDC ID token a trust rule admits). */
  readonly token: string;
  /** The image reference as the kubelet gives it; or `repository`. */
  readonly image?: string | undefined;
  readonly repository?: string | undefined;
  /** The service account's annotations the kubelet passed on: they may narrow, never widen. */
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly clientIp: string;
}

/** What the exchange hands back: a credential that can pull one repository, for minutes. */
export interface ExchangeAnswer {
  readonly username: string;
  readonly password: string;
  /** The image's registry host; absent when only a repository was asked for. */
  readonly registry?: string;
  readonly repository: string;
  readonly actions: readonly string[];
  readonly expires_in: number;
  readonly expires_at: string;
}

/** Settings and parts of the exchange. */
export interface TokenExchangeDeps {
  prover: Prover;
  credentials: ExchangedCredentials;
  /** The registry service a token request names. */
  service: string;
  /** Longest life of an exchanged credential, in seconds; it never outlives the token either. */
  maxSeconds: number;
  logger: Logger;
  now?: () => number;
}

/** A compact JWS: only ID tokens are exchanged (a password or a registry credential is refused before any verification). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** The username the exchange proves tokens under: ID-token backends ignore it. */
const EXCHANGE_USERNAME = 'token-exchange';

/**
 * The token exchange: a workload's ID token (a Kubernetes pod's projected service-account token,
 * a CI job's or a controller's) for a short-lived registry credential that can pull exactly one
 * repository. The token is proved as at the token endpoint (limits, the trust rules, the account
 * gate); the repository must lie within what the trust rule grants and what the service
 * account's annotations allow. What is then handed out is narrower still (pull, one repository),
 * and every token request made with it is decided afresh for the account, so the credential a
 * node caches can do less than the token it came from, and no more than the account may do now.
 */
export class TokenExchange {
  private readonly now: () => number;

  constructor(private readonly deps: TokenExchangeDeps) {
    this.now = deps.now ?? Date.now;
  }

  async exchange(request: ExchangeRequest): Promise<ExchangeAnswer> {
    const { registry, repository } = target(request);
    if (!COMPACT_JWS.test(request.token)) throw new InvalidRequestError('token must be a JWT (a service-account or OIDC ID token)');
    const reasons: string[] = [];
    let proof;
    try {
      proof = await this.deps.prover.prove({
        credentials: { kind: 'password', username: EXCHANGE_USERNAME, password: request.token },
        account: undefined,
        clientIp: request.clientIp,
        service: this.deps.service,
        denied: (reason) => reasons.push(reason),
      });
    } catch (err) {
      // The token's own faults (expired, another audience, an issuer not configured, no rule)
      // are the caller's to fix, and say nothing about anyone else: the reason is told.
      if (err instanceof UnauthorizedError && reasons.length > 0) throw new UnauthorizedError(`token refused: ${reasons[0] === NOT_RECOGNISED ? untrusted(request.token) : reasons[0]}`);
      throw err;
    }
    if (!proof || proof.identity.provider !== 'oidc-token') throw new UnauthorizedError('token refused: only ID tokens (service-account or OIDC) are exchanged; it was not accepted as one');
    const identity = proof.identity;

    const wanted = { type: 'repository', name: repository, actions: ['pull'] };
    if (proof.scope && actionsInScope(proof.scope, wanted).length === 0) {
      throw this.refused(identity.account, repository, `${repository} is outside the repositories the trust rule grants ${identity.account}`);
    }
    const narrowed = annotationGlobs(request.annotations);
    if (narrowed && !narrowed.some((glob) => compileGlob(glob).test(repository))) {
      throw this.refused(identity.account, repository, `${repository} is outside the service account's ${PULL_ANNOTATION} annotation (${narrowed.join(', ')})`);
    }

    const now = this.now();
    const tokenEnd = typeof identity.attributes.expiresAt === 'number' ? identity.attributes.expiresAt * 1000 : now + this.deps.maxSeconds * 1000;
    const end = Math.min(tokenEnd, now + this.deps.maxSeconds * 1000);
    const password = this.deps.credentials.mint(identity, [{ repositories: [repository], actions: ['pull'] }], end);
    this.deps.logger.info(
      { event: 'credential_exchanged', account: identity.account, subject: identity.subject, repository, expiresAt: new Date(end).toISOString(), clientIp: request.clientIp },
      'token exchanged for a pull credential',
    );
    return {
      username: identity.account,
      password,
      ...(registry === undefined ? {} : { registry }),
      repository,
      actions: ['pull'],
      expires_in: Math.max(0, Math.floor((end - now) / 1000)),
      expires_at: new Date(end).toISOString(),
    };
  }

  private refused(account: string, repository: string, why: string): ForbiddenError {
    this.deps.logger.info({ event: 'exchange_refused', account, repository, reason: why }, 'token exchange refused');
    return new ForbiddenError(why);
  }
}

/** Why nobody took a token, in its owner's terms: the issuer it claims is not configured. */
function untrusted(token: string): string {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    return 'it is not a readable JWT';
  }
  return typeof iss === 'string' ? `its issuer ${JSON.stringify(iss.slice(0, 200))} is not one this server trusts (an oidc-token backend's issuers)` : 'it names no issuer (iss)';
}

/** The registry and repository a request names: an image reference, or a repository alone. */
function target(request: ExchangeRequest): { registry: string | undefined; repository: string } {
  if (request.image !== undefined) return parseImageReference(request.image);
  if (request.repository === undefined || !isValidResourceName(request.repository) || request.repository.includes(':')) {
    throw new InvalidRequestError('send "image" (as the kubelet gives it) or "repository" (a repository name such as team-a/app)');
  }
  return { registry: undefined, repository: request.repository };
}

/** The globs of the pull annotation, when the service account has one; they only narrow. */
function annotationGlobs(annotations: Readonly<Record<string, string>> | undefined): string[] | undefined {
  const raw = annotations?.[PULL_ANNOTATION];
  if (raw === undefined) return undefined;
  const globs = raw.split(',').map((g) => g.trim()).filter((g) => g !== '');
  if (globs.some((g) => g.length > 255 || !/^[a-z0-9._\-/*?]+$/.test(g))) {
    throw new InvalidRequestError(`the ${PULL_ANNOTATION} annotation must be comma-separated repository globs (lower-case names, * and ?)`);
  }
  // An annotation naming nothing allows nothing: emptied, it must not read as "no limit".
  return globs;
}
