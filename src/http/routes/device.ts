import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthnResult } from '../../authn/authenticator.js';
import type { CredentialStore } from '../../credentials/registry/credential-store.js';
import type { Identity } from '../../domain/identity.js';
import { AccessDeniedError, AuthorizationPendingError, ExpiredTokenError, InvalidRequestError, SlowDownError, UnsupportedGrantTypeError, type DeviceTokenError } from '../../domain/errors.js';
import type { BrowserSessions, Session } from '../../flows/browser-sessions.js';
import type { DeviceFlow, DeviceGrant, DevicePoll } from '../../flows/device-flow.js';
import { html, page } from '../pages/html.js';
import { currentSession, redirectToLogin, sameSecret } from '../session-cookies.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** What the CLI is told for each poll that yields no credential (RFC 8628 §3.5). */
const NOT_YET: Record<Exclude<DevicePoll['kind'], 'approved'>, () => DeviceTokenError> = {
  authorization_pending: () => new AuthorizationPendingError('waiting for the user to approve'),
  slow_down: () => new SlowDownError('polling too fast: the interval is now 5 seconds longer'),
  expired_token: () => new ExpiredTokenError('the device code expired or is unknown: start again'),
  access_denied: () => new AccessDeniedError('the user denied the request'),
};

/** Options of the device login routes. */
export interface DeviceRouteOptions {
  flow: DeviceFlow;
  sessions: BrowserSessions;
  credentials: CredentialStore;
  publicUrl: string;
  /** Lifetime of credentials handed to devices, in days. */
  credentialDays: number;
  /** Account grammar and binding, checked again on approval: the session may predate an unbind and another's claim. */
  admit: (identity: Identity) => Promise<AuthnResult>;
}

function form(request: FastifyRequest): Record<string, unknown> {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new InvalidRequestError('send application/x-www-form-urlencoded');
  return (request.body ?? {}) as Record<string, unknown>;
}

function text(value: unknown, name: string, max = 200): string {
  if (typeof value !== 'string' || value === '') throw new InvalidRequestError(`${name} is required`);
  if (value.length > max) throw new InvalidRequestError(`${name} is too long`);
  return value;
}

/**
 * RFC 8628 device login: `POST /device/code` and `POST /device/token` for the CLI; `/device`
 * pages where a signed-in person enters the code, sees who asks for what, and approves or denies.
 */
export async function deviceRoutes(app: FastifyInstance, options: DeviceRouteOptions): Promise<void> {
  const { flow, sessions, credentials } = options;

  app.post('/device/code', async (request) => {
    const body = form(request);
    const clientId = text(body.client_id, 'client_id', 100);
    const registry = typeof body.registry === 'string' ? body.registry.slice(0, 200) : '';
    const started = await flow.start({ clientId, registry, clientIp: request.ip });
    request.log.info({ event: 'device_code_issued', clientId, registry, clientIp: request.ip }, 'device login started');
    return {
      device_code: started.deviceCode,
      user_code: started.userCode,
      verification_uri: `${options.publicUrl}/device`,
      verification_uri_complete: `${options.publicUrl}/device?user_code=${encodeURIComponent(started.userCode)}`,
      expires_in: started.expiresIn,
      interval: started.interval,
    };
  });

  app.post('/device/token', async (request, reply) => {
    const body = form(request);
    if (body.grant_type !== DEVICE_GRANT) throw new UnsupportedGrantTypeError(`grant_type must be ${DEVICE_GRANT}`);
    const polled = await flow.poll(text(body.device_code, 'device_code'), text(body.client_id, 'client_id', 100));
    if (polled.kind !== 'approved') throw NOT_YET[polled.kind]();
    const { grant } = polled;
    const identity = grant.identity!;
    const { secret, record } = await credentials.create(identity, {
      label: `device login ${grant.registry || grant.clientId} from ${grant.clientIp}`,
      lifetimeSeconds: options.credentialDays * 86_400,
      source: 'device',
      upstream: grant.upstream,
    });
    request.log.info({ event: 'credential_created', account: identity.account, credentialId: record.id, source: 'device' }, 'registry credential issued to a device');
    reply.header('cache-control', 'no-store');
    return { access_token: secret, token_type: 'Bearer', expires_in: Math.floor((record.expiresAt - record.createdAt) / 1000), account: identity.account };
  });

  async function signedIn(request: FastifyRequest, reply: FastifyReply): Promise<Session | undefined> {
    const current = await currentSession(request, sessions);
    if (!current) void redirectToLogin(request, reply);
    return current?.session;
  }

  const htmlReply = (reply: FastifyReply, status: number, title: string, body: ReturnType<typeof html>, session?: Session) =>
    reply.status(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page(title, body, session ? { account: session.identity.account, csrf: session.csrf } : {}));

  const enterCode = (session: Session, value: string, error?: string) =>
    html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/device/confirm">
<input type="hidden" name="csrf" value="${session.csrf}">
<label for="user_code">Code shown by your terminal</label>
<input id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" required value="${value}">
<p><button type="submit">Continue</button></p>
</form>`;

  app.get('/device', async (request, reply) => {
    const session = await signedIn(request, reply);
    if (!session) return;
    const prefilled = (request.query as Record<string, unknown>).user_code;
    return htmlReply(reply, 200, 'Connect a device', enterCode(session, typeof prefilled === 'string' ? prefilled.slice(0, 20) : ''), session);
  });

  /** How long the credential will live: a sign-in that cannot be re-checked for long makes short-lived ones. */
  const days = (session: Session) => {
    const n = Math.max(1, Math.min(options.credentialDays, Math.floor(credentials.maxLifetimeFor(session.upstream, 'device') / 86_400)));
    return `${n} day${n === 1 ? '' : 's'}`;
  };

  const describe = (grant: DeviceGrant, session: Session) =>
    html`<p>The command-line client <strong>${grant.clientId}</strong> on <strong>${grant.clientIp}</strong> asks for a registry credential${grant.registry ? html` for <strong>${grant.registry}</strong>` : ''}.</p>
<p>If you approve, it gets a credential for your account <strong>${session.identity.account}</strong>, valid for ${days(session)}, that can push and pull whatever your account may. You can revoke it on your <a href="/account">account page</a>.</p>
<p>Only approve if you just started <code>wharf login</code> yourself and the code matches: <strong>${grant.userCode}</strong>.</p>`;

  app.post('/device/confirm', async (request, reply) => {
    const session = await signedIn(request, reply);
    if (!session) return;
    const body = request.body as Record<string, unknown>;
    if (!sameSecret(body.csrf, session.csrf)) return htmlReply(reply, 403, 'Refused', html`<p class="error">This form has expired. <a href="/device">Start again</a>.</p>`, session);
    const typed = typeof body.user_code === 'string' ? body.user_code.slice(0, 20) : '';
    const grant = await flow.lookup(typed);
    if (!grant) return htmlReply(reply, 400, 'Connect a device', enterCode(session, typed, 'That code is unknown, used or expired. Check your terminal.'), session);
    return htmlReply(
      reply,
      200,
      'Approve this device?',
      html`${describe(grant, session)}
<form method="post" action="/device/decide" style="display:flex;gap:.5rem">
<input type="hidden" name="csrf" value="${session.csrf}"><input type="hidden" name="user_code" value="${grant.userCode}">
<button type="submit" name="decision" value="approve">Approve</button>
<button class="secondary" type="submit" name="decision" value="deny">Deny</button>
</form>`,
      session,
    );
  });

  app.post('/device/decide', async (request, reply) => {
    const session = await signedIn(request, reply);
    if (!session) return;
    const body = request.body as Record<string, unknown>;
    if (!sameSecret(body.csrf, session.csrf)) return htmlReply(reply, 403, 'Refused', html`<p class="error">This form has expired. <a href="/device">Start again</a>.</p>`, session);
    const approve = body.decision === 'approve';
    if (approve) {
      const admitted = await options.admit(session.identity);
      if (admitted.kind !== 'ok') {
        request.log.info({ event: 'device_refused', account: session.identity.account, reason: admitted.kind === 'denied' ? admitted.reason : 'refused' }, 'device approval refused');
        return htmlReply(reply, 403, 'Refused', html`<p class="error" role="alert">${admitted.kind === 'denied' && admitted.message ? admitted.message : 'Refused.'}</p>`, session);
      }
    }
    const code = typeof body.user_code === 'string' ? body.user_code.slice(0, 20) : '';
    const done = await flow.decide(code, approve ? { approve: true, identity: session.identity, ...(session.upstream ? { upstream: session.upstream } : {}) } : { approve: false });
    request.log.info({ event: approve ? 'device_approved' : 'device_denied', account: session.identity.account, found: done }, 'device login decided');
    if (!done) return htmlReply(reply, 400, 'Connect a device', enterCode(session, code, 'That code is unknown, used or expired.'), session);
    return htmlReply(
      reply,
      200,
      approve ? 'Device connected' : 'Request denied',
      approve ? html`<p class="notice" role="status">Done. You can return to your terminal.</p>` : html`<p class="notice" role="status">The device gets nothing. You can close this page.</p>`,
      session,
    );
  });
}
