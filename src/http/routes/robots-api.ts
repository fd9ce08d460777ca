import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ADMIN_MAKER, madeBy, type AccountBindings, type AccountBinding } from '../../accounts/account-bindings.js';
import type { Authorizer } from '../../authz/authorizer.js';
import type { CredentialStore, CredentialSummary } from '../../credentials/registry/credential-store.js';
import { ROBOT_SOURCE, robotAccountName } from '../../domain/account-name.js';
import { parseCredentialScope, scopeWithin, type CredentialScope } from '../../domain/credential-scope.js';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError, TemporarilyUnavailableError, UnsupportedMediaTypeError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { Scope } from '../../domain/scope.js';

/** Who makes, lists or deletes robots: an administrator, or a person (a session or a credential with the management right). */
export type RobotCaller =
  | { readonly by: 'admin' }
  | {
      readonly by: 'session' | 'credential';
      readonly identity: Identity;
      /** What the caller's own credential may reach (undefined: the account's full rights). */
      readonly scope: CredentialScope | undefined;
      /** A robot made by a credential ends no later than it. */
      readonly endsBy?: number | undefined;
    };

/** Options of the robot API. */
export interface RobotApiOptions {
  credentials: CredentialStore;
  bindings: AccountBindings;
  /** Decides a person's current rights, as at the token endpoint. */
  authorizer: Authorizer;
  /** The registry service robots' tokens are for. */
  service: string;
  /** The caller, authenticated as on the credential API; throws 401/403. */
  caller: (request: FastifyRequest) => Promise<RobotCaller>;
  /** Turns a body into a zod-checked value or throws InvalidRequestError. */
  parse: <T>(schema: z.ZodType<T>, value: unknown, what: string) => T;
  /** Default lifetime of a robot's credential, in days (capped by the store's ceilings). */
  defaultDays: number;
  /** The credential API's view of a credential. */
  summary: (c: CredentialSummary, now: number) => object;
  now: () => number;
}

/** The maker recorded for robots an administrator makes. */

const createBody = z.strictObject({
  name: z.string().min(1).max(64),
  scope: z.unknown(),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
  label: z.string().trim().min(1).max(100).optional(),
});

/**
 * `/api/v1/robots`: make a robot account with its first credential, list the caller's robots (an
 * administrator's: all), delete one (its credentials revoked, its name freed). An administrator
 * gives any scope; a person only one inside their own rights now, and the robot's tokens stay
 * inside that person's rights at every request (docs/credentials.md, "Robot accounts").
 */
export async function robotApiRoutes(app: FastifyInstance, options: RobotApiOptions): Promise<void> {
  const { credentials, bindings, now } = options;
  const makerOf = (who: RobotCaller) => (who.by === 'admin' ? ADMIN_MAKER : who.identity.account);
  const json = (request: FastifyRequest) => {
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new UnsupportedMediaTypeError('send application/json');
    return request.body;
  };

  /** A robot of the caller's (any robot for an administrator); 404 for anything else, so names of others' robots are not confirmed. */
  async function ownRobot(who: RobotCaller, name: string): Promise<AccountBinding> {
    const derived = robotAccountName(name);
    const binding = 'account' in derived ? await bindings.get(derived.account) : undefined;
    if (!binding?.robot || (who.by !== 'admin' && !madeBy(binding, who.identity.account))) throw new NotFoundError(`you have no robot named ${JSON.stringify(name.slice(0, 80))}`);
    return binding;
  }

  /** Throws 403 naming the first right of `scope` the person may not use now (each glob asked as a name: the token endpoint intersects again anyway). */
  async function withinRights(request: FastifyRequest, identity: Identity, scope: CredentialScope): Promise<void> {
    const asked: Scope[] = scope.flatMap((entry): Scope[] => [
      ...(entry.repositories ?? []).map((name): Scope => ({ type: 'repository', name, actions: (entry.actions ?? []).includes('*') ? ['pull', 'push', 'delete'] : [...(entry.actions ?? [])] })),
      ...(entry.catalog === true ? [{ type: 'registry', name: 'catalog', actions: ['*'] }] : []),
    ]);
    const decisions = await options.authorizer.authorize({ identity, service: options.service, clientIp: request.ip, scopes: asked });
    if (decisions.some((d) => d.source === 'unavailable')) throw new TemporarilyUnavailableError('your rights cannot be decided now; try again shortly');
    for (const d of decisions) {
      const granted = d.granted.includes('*') ? d.scope.actions : d.granted.includes('push') ? [...d.granted, 'pull'] : d.granted;
      const missing = d.scope.actions.filter((a) => !granted.includes(a));
      if (missing.length > 0) throw new ForbiddenError(`a robot gets no right its maker lacks: you may not ${missing.join(',')} ${d.scope.type}:${d.scope.name}`);
    }
  }

  app.post('/api/v1/robots', async (request, reply) => {
    const body = options.parse(createBody, json(request), 'robot');
    const who = await options.caller(request);
    const derived = robotAccountName(body.name);
    if ('error' in derived) throw new InvalidRequestError(derived.error);
    const { account } = derived;
    if (body.scope === undefined) throw new InvalidRequestError('a robot needs a scope: the repositories and actions it may use');
    const scope = parseCredentialScope(body.scope);
    if (scope.some((e) => e.manage === true)) throw new InvalidRequestError('a robot cannot hold the management right');
    if (who.by !== 'admin') {
      if (!scopeWithin(scope, who.scope)) throw new ForbiddenError("a credential may only make robots inside its own scope: give a scope within this credential's");
      // The person as their sign-in method last proved them (their groups now), as their robot will be decided.
      await withinRights(request, (await bindings.currentMaker(who.identity))?.identity ?? who.identity, scope);
    }
    const maker = makerOf(who);
    const owner = await bindings.claimRobot(account, maker);
    if (!owner) throw new ConflictError(`the account name ${account} is taken`);
    let lifetime = (body.expiresInDays ?? options.defaultDays) * 86_400;
    if (who.by !== 'admin' && who.endsBy !== undefined) lifetime = Math.min(lifetime, Math.floor((who.endsBy - now()) / 1000));
    const identity: Identity = { account, provider: ROBOT_SOURCE, subject: account, attributes: { maker }, owner };
    const makerIdentity = who.by === 'admin' ? undefined : withoutCredentialId(who.identity);
    let made;
    try {
      // Vouched: a robot has no sign-in to re-check; its maker's binding and rights are checked at every use instead.
      made = await credentials.create(identity, { label: body.label ?? 'robot', lifetimeSeconds: lifetime, source: 'api', scope, vouched: true, maker: makerIdentity });
    } catch (err) {
      await bindings.unbind(account).catch(() => false);
      throw err;
    }
    request.log.info({ event: 'robot_created', account, maker, by: who.by, credentialId: made.record.id, scope, expiresAt: new Date(made.record.expiresAt).toISOString() }, 'robot created');
    reply.header('cache-control', 'no-store');
    const credential = options.summary({ ...made.record, account, lastUsedAt: undefined }, now());
    return reply.status(201).send({ name: account, maker, createdAt: new Date(made.record.createdAt).toISOString(), credential, secret: made.secret });
  });

  app.get('/api/v1/robots', async (request) => {
    const who = await options.caller(request);
    const mine = (await bindings.list()).filter((b) => b.source === ROBOT_SOURCE && b.robot && (who.by === 'admin' || madeBy(b, who.identity.account)));
    const t = now();
    const robots = [];
    for (const b of mine) {
      robots.push({ name: b.account, maker: b.robot!.maker, createdAt: new Date(b.boundAt).toISOString(), credentials: (await credentials.list(b.account)).map((c) => options.summary(c, t)) });
    }
    return { robots };
  });

  app.delete('/api/v1/robots/:name', async (request, reply) => {
    const who = await options.caller(request);
    const binding = await ownRobot(who, (request.params as { name: string }).name);
    const robotCredentials = await credentials.list(binding.account);
    // A credential acts only inside its own scope: it deletes no robot holding more than it may reach.
    if (who.by !== 'admin' && robotCredentials.some((c) => !scopeWithin(c.scope, who.scope))) throw new ForbiddenError("that robot reaches past this credential's scope");
    await removeRobot(credentials, bindings, binding.account, robotCredentials);
    request.log.info({ event: 'robot_deleted', account: binding.account, maker: binding.robot!.maker, by: who.by }, 'robot deleted');
    return reply.status(204).send();
  });
}

/**
 * Deletes a robot: every credential of it revoked, then its name freed (the robot API and the
 * account page). Credentials first: a failure leaves the robot listed (and deletable again), never
 * a live credential without a robot.
 */
export async function removeRobot(credentials: CredentialStore, bindings: AccountBindings, account: string, robotCredentials?: readonly CredentialSummary[]): Promise<void> {
  for (const c of robotCredentials ?? (await credentials.list(account))) await credentials.revoke(account, c.id);
  await bindings.unbind(account);
}

function withoutCredentialId(identity: Identity): Identity {
  const { credentialId: _id, ...attributes } = identity.attributes;
  return { ...identity, attributes };
}
