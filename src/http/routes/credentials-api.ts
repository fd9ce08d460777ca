import cookie from '@fastify/cookie';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuthnResult } from '../../authn/authenticator.js';
import type { Authorizer } from '../../authz/authorizer.js';
import { isRobotAccount } from '../../domain/account-name.js';
import { madeBy, type AccountBindings } from '../../accounts/account-bindings.js';
import type { CredentialAuthenticator } from '../../credentials/registry/credential-authenticator.js';
import { EXPIRING_SOON_MS } from '../../credentials/registry/credential-expiry.js';
import { CREDENTIAL_PREFIX, type CredentialRecord, type CredentialStore, type CredentialSummary, type SealedUpstream } from '../../credentials/registry/credential-store.js';
import { canManage, parseCredentialScope, scopeWithin, type CredentialScope } from '../../domain/credential-scope.js';
import { ForbiddenError, InvalidRequestError, NotFoundError, UnauthorizedError, UnsupportedMediaTypeError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { BrowserSessions } from '../../flows/browser-sessions.js';
import { parseBasicAuth } from '../basic-auth.js';
import { currentSession, sameSecret } from '../session-cookies.js';
import { robotApiRoutes, type RobotCaller } from './robots-api.js';

/** Options of the credential API. */
export interface CredentialApiOptions {
  credentials: CredentialStore;
  /** Proves a credential used on the API as at the token endpoint: expiry, revocation, the provider's re-check. */
  authenticator: CredentialAuthenticator;
  /** Browser sessions (cookie + `X-CSRF-Token`); undefined without browser login. */
  sessions: BrowserSessions | undefined;
  cookieSecret: string;
  /** The admin bearer secret; undefined: no admin calls. */
  adminSecret: string | undefined;
  bindings: AccountBindings;
  /** The account gate: a name since claimed by another sign-in method manages nothing. */
  admit: (identity: Identity) => Promise<AuthnResult>;
  /** Default lifetime of a new credential, in days (capped by the store's ceilings). */
  defaultDays: number;
  /** How long a rotated credential's earlier secret keeps working by default, in hours. */
  rotationOverlapHours: number;
  /** Decides a person's rights when they make a robot (`/api/v1/robots`). */
  authorizer: Authorizer;
  /** The registry service. */
  service: string;
  now: () => number;
}

/** Who calls, and what they may hand out. */
interface Caller {
  account: string;
  /** The identity new credentials stand for. */
  identity: Identity;
  /** What the caller may reach: new credentials, rotations and revocations stay inside it (undefined: the account's full rights). */
  scope: CredentialScope | undefined;
  upstream?: SealedUpstream | undefined;
  /** A credential made by a credential ends no later than it. */
  endsBy?: number;
  by: 'session' | 'credential' | 'admin';
  /** An administrator vouches for the credentials it makes: no re-check cap. */
  vouched?: boolean;
}

const createBody = z.strictObject({
  label: z.string().trim().min(1).max(100),
  scope: z.unknown().optional(),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
  account: z.string().min(1).max(255).optional(),
});
const rotateBody = z.strictObject({ retireAfterHours: z.number().int().min(0).max(24 * 30).optional(), account: z.string().min(1).max(255).optional() });
const accountOnly = z.strictObject({ account: z.string().min(1).max(255).optional() });

/** The API's view of a credential. */
function summary(c: CredentialSummary, now: number) {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: c.id,
    label: c.label,
    scope: c.scope ?? null,
    createdAt: iso(c.createdAt),
    expiresAt: iso(c.expiresAt),
    expiringSoon: c.expiresAt - now <= EXPIRING_SOON_MS,
    lastUsedAt: iso(c.lastUsedAt),
    source: c.source,
    ...(c.previousRetiresAt !== undefined ? { previousRetiresAt: iso(c.previousRetiresAt) } : {}),
  };
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new InvalidRequestError(`invalid ${what}: ${result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  return result.data;
}

/**
 * `/api/v1/credentials`: list, create, rotate, retire the earlier secret, revoke (docs/openapi.yaml,
 * docs/credentials.md). Callers: a browser session with `X-CSRF-Token` on changes, a credential
 * whose scope holds the management right (Basic `account:credential` or `Bearer credential`), or
 * the admin secret with an `account`. Nothing made here reaches past the caller's own scope.
 */
export async function credentialApiRoutes(app: FastifyInstance, options: CredentialApiOptions): Promise<void> {
  const { credentials, now } = options;
  const adminDigest = options.adminSecret === undefined ? undefined : createHash('sha256').update(options.adminSecret).digest();
  await app.register(cookie, { secret: options.cookieSecret });

  const isAdmin = (token: string) => adminDigest !== undefined && timingSafeEqual(createHash('sha256').update(token).digest(), adminDigest);

  /**
   * The caller of a request; throws 401/403 for anyone else. `account` is the admin's choice of
   * account, or a robot the calling person made (its credentials are listed, rotated and revoked
   * so, never past the caller's own scope).
   */
  async function caller(request: FastifyRequest, account: string | undefined): Promise<Caller> {
    const header = request.headers.authorization;
    const bearer = header === undefined ? undefined : /^Bearer (.+)$/i.exec(header)?.[1];
    if (bearer !== undefined && isAdmin(bearer)) return adminCaller(account);
    if (account !== undefined && !isRobotAccount(account)) throw new InvalidRequestError('only administrators name an account; a credential or session acts for its own or for a robot it made');
    const person = await personCaller(request);
    if (account === undefined) return person;
    const binding = await options.bindings.get(account);
    if (!madeBy(binding, person.account)) throw new NotFoundError(`you have no robot named ${JSON.stringify(account.slice(0, 80))}`);
    return { ...person, account };
  }

  /** A person: a credential with the management right, or a browser session (with its CSRF token for changes). */
  async function personCaller(request: FastifyRequest): Promise<Caller> {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const bearer = /^Bearer (.+)$/i.exec(header)?.[1];
      const basic = bearer === undefined ? parseBasicAuth(header) : undefined;
      const secret = bearer ?? basic?.password;
      if (secret === undefined || !secret.startsWith(CREDENTIAL_PREFIX)) throw new UnauthorizedError('the credential API takes a registry credential (Basic account:credential or Bearer), a browser session or the admin secret');
      return credentialCaller(secret, basic?.username);
    }
    const session = options.sessions && (await currentSession(request, options.sessions));
    if (!session) throw new UnauthorizedError('sign in, or send a registry credential with the management right');
    if (request.method !== 'GET' && !sameSecret(request.headers['x-csrf-token'], session.session.csrf)) {
      request.log.warn({ event: 'csrf_refused', account: session.session.identity.account }, 'credential API call without a valid X-CSRF-Token');
      throw new ForbiddenError("send the session's CSRF token in X-CSRF-Token");
    }
    await admitted(session.session.identity);
    return { account: session.session.identity.account, identity: session.session.identity, scope: undefined, upstream: session.session.upstream, by: 'session' };
  }

  async function adminCaller(account: string | undefined): Promise<Caller> {
    if (account === undefined) throw new InvalidRequestError('an administrator names the account (`account`)');
    const binding = await options.bindings.get(account);
    if (!binding) throw new NotFoundError(`no account named ${JSON.stringify(account.slice(0, 100))} has signed in; its sign-in method must own the name first`);
    const owner = binding.subject === undefined ? { source: binding.source } : { source: binding.source, subject: binding.subject };
    const identity: Identity = { account, provider: 'admin', subject: binding.subject ?? account, attributes: {}, owner };
    return { account, identity, scope: undefined, by: 'admin', vouched: true };
  }

  async function credentialCaller(secret: string, username: string | undefined): Promise<Caller> {
    const found = await credentials.lookup(secret);
    const account = username ?? found?.record.identity.account ?? '';
    const result = await options.authenticator.login(account, secret);
    if (result.kind !== 'ok' || !found) throw new UnauthorizedError(result.kind === 'denied' && result.message ? result.message : 'registry credential is unknown, expired or revoked');
    await admitted(result.identity);
    if (!canManage(result.scope)) throw new ForbiddenError("this credential's scope has no management right ({ manage: true })");
    const { record } = found;
    const { credentialId: _id, ...attributes } = result.identity.attributes;
    return { account, identity: { ...result.identity, attributes }, scope: result.scope, upstream: record.upstream, endsBy: record.expiresAt, by: 'credential', ...(isVouched(record) ? { vouched: true } : {}) };
  }

  async function admitted(identity: Identity): Promise<void> {
    const admission = await options.admit(identity);
    if (admission.kind !== 'ok') throw new ForbiddenError(admission.kind === 'denied' && admission.message ? admission.message : 'this account may not be used');
  }

  /** The caller's credential `id`, when it lies inside the caller's scope; 404 otherwise. */
  async function ownCredential(who: Caller, id: string): Promise<CredentialSummary> {
    const found = (await credentials.list(who.account)).find((c) => c.id === id);
    if (!found) throw new NotFoundError(`no live credential ${JSON.stringify(id.slice(0, 40))} for ${who.account}`);
    if (!scopeWithin(found.scope, who.scope)) throw new ForbiddenError("that credential reaches past this credential's scope");
    return found;
  }

  const json = (request: FastifyRequest) => {
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (request.body !== undefined && type !== 'application/json') throw new UnsupportedMediaTypeError('send application/json');
    return request.body;
  };
  const queryAccount = (request: FastifyRequest) => parsed(accountOnly, request.query, 'query').account;
  const audit = (request: FastifyRequest, event: string, who: Caller, fields: object) => request.log.info({ event, account: who.account, by: who.by, ...fields }, event.replace('_', ' '));

  app.get('/api/v1/credentials', async (request) => {
    const who = await caller(request, queryAccount(request));
    const t = now();
    return { credentials: (await credentials.list(who.account)).map((c) => summary(c, t)) };
  });

  app.post('/api/v1/credentials', async (request, reply) => {
    const body = parsed(createBody, json(request), 'credential');
    // A robot's credentials carry its maker: they are made with the robot (`/api/v1/robots`).
    if (body.account !== undefined && isRobotAccount(body.account)) throw new ForbiddenError("a robot's credential is made with the robot: POST /api/v1/robots");
    const who = await caller(request, body.account);
    const scope = body.scope === undefined ? undefined : parseCredentialScope(body.scope);
    if (!scopeWithin(scope, who.scope)) throw new ForbiddenError("a credential may only make credentials inside its own scope: give a scope within this credential's");
    let lifetime = (body.expiresInDays ?? options.defaultDays) * 86_400;
    if (who.endsBy !== undefined) lifetime = Math.min(lifetime, Math.floor((who.endsBy - now()) / 1000));
    const { secret, record } = await credentials.create(who.identity, { label: body.label, lifetimeSeconds: lifetime, source: 'api', upstream: who.upstream, scope, vouched: who.vouched });
    audit(request, 'credential_created', who, { credentialId: record.id, source: 'api', scope: record.scope ?? null, expiresAt: new Date(record.expiresAt).toISOString() });
    reply.header('cache-control', 'no-store');
    return reply.status(201).send({ ...summary({ ...record, account: who.account, lastUsedAt: undefined }, now()), secret });
  });

  app.post('/api/v1/credentials/:id/rotate', async (request, reply) => {
    const body = parsed(rotateBody, json(request), 'rotation');
    const who = await caller(request, body.account);
    const { id } = request.params as { id: string };
    await ownCredential(who, id);
    const rotated = await credentials.rotate(who.account, id, (body.retireAfterHours ?? options.rotationOverlapHours) * 3600);
    if (!rotated) throw new NotFoundError(`no live credential ${JSON.stringify(id.slice(0, 40))} for ${who.account}`);
    audit(request, 'credential_rotated', who, { credentialId: id, previousRetiresAt: new Date(rotated.previousRetiresAt).toISOString() });
    reply.header('cache-control', 'no-store');
    return { id, secret: rotated.secret, previousRetiresAt: new Date(rotated.previousRetiresAt).toISOString() };
  });

  app.post('/api/v1/credentials/:id/retire-previous', async (request, reply) => {
    const body = parsed(accountOnly, json(request), 'request');
    const who = await caller(request, body.account);
    const { id } = request.params as { id: string };
    await ownCredential(who, id);
    if (!(await credentials.retire(who.account, id))) throw new NotFoundError('this credential has no earlier secret to retire');
    audit(request, 'credential_retired', who, { credentialId: id });
    return reply.status(204).send();
  });

  app.delete('/api/v1/credentials/:id', async (request, reply) => {
    const who = await caller(request, queryAccount(request));
    const { id } = request.params as { id: string };
    await ownCredential(who, id);
    // Recorded in the store before the answer: a store that cannot record it throws (503), and the credential still works.
    if (!(await credentials.revoke(who.account, id))) throw new NotFoundError(`no live credential ${JSON.stringify(id.slice(0, 40))} for ${who.account}`);
    audit(request, 'credential_revoked', who, { credentialId: id });
    return reply.status(204).send();
  });

  /** The robot API's caller: the admin secret (no account named), else a person as above. */
  async function robotCaller(request: FastifyRequest): Promise<RobotCaller> {
    const bearer = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (bearer !== undefined && isAdmin(bearer)) return { by: 'admin' };
    const who = await caller(request, undefined);
    return { by: who.by === 'session' ? 'session' : 'credential', identity: who.identity, scope: who.scope, endsBy: who.endsBy };
  }
  await robotApiRoutes(app, { credentials, bindings: options.bindings, authorizer: options.authorizer, service: options.service, caller: robotCaller, parse: parsed, defaultDays: options.defaultDays, summary, now });
}

/** Made by an administrator (or by a credential so made): not capped as a login that cannot be re-checked. */
function isVouched(record: CredentialRecord): boolean {
  return record.vouched === true;
}
