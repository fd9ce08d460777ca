import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import type { AuthnResult, CallbackAuthenticator, UpstreamTokens } from '../../authn/authenticator.js';
import type { SealedUpstream } from '../../credentials/registry/credential-store.js';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { BrowserSessions } from '../../flows/browser-sessions.js';
import { html, page } from '../pages/html.js';
import { LOGIN_COOKIE, SESSION_COOKIE, cookieOptions, currentSession, safeReturnTo, sameSecret, signedCookie } from '../session-cookies.js';

/** Options of the browser login routes. */
export interface LoginRouteOptions {
  providers: readonly CallbackAuthenticator[];
  sessions: BrowserSessions;
  publicUrl: string;
  sessionSeconds: number;
  /** Seals the provider's tokens into the session, for credentials made from it to be re-checked. */
  sealUpstream: (provider: string, tokens: UpstreamTokens | undefined) => SealedUpstream | undefined;
  /** Account grammar and binding: an account another sign-in method owns gets no session. */
  admit: (identity: Identity) => Promise<AuthnResult>;
}

/**
 * A provider that cannot be used (discovery failed or incomplete, unreachable): a 503 page for
 * the person, and one log line without a stack for the operator naming the provider and why.
 */
function unavailable(log: FastifyBaseLogger, reply: FastifyReply, provider: CallbackAuthenticator, err: TemporarilyUnavailableError) {
  log.error({ event: 'login_provider_unavailable', provider: provider.name, reason: err.message }, 'sign-in provider unavailable');
  return reply
    .status(503)
    .header('retry-after', '30')
    .type('text/html; charset=utf-8')
    .send(page('Sign-in unavailable', html`<p class="error">The sign-in provider ${provider.displayName} is misconfigured or unreachable; try again later.</p><p><a href="/login">Back to sign-in</a></p>`));
}

/** `/login` (provider list), `/login/:name` (redirect), `/login/:name/callback`, `POST /logout`. */
export async function loginRoutes(app: FastifyInstance, options: LoginRouteOptions): Promise<void> {
  const { providers, sessions, publicUrl } = options;
  const secure = publicUrl.startsWith('https:');
  const byName = new Map(providers.map((p) => [p.name, p]));
  const redirectUri = (p: CallbackAuthenticator) => `${publicUrl}/login/${p.name}/callback`;

  app.get('/login', async (request, reply) => {
    const returnTo = safeReturnTo((request.query as Record<string, unknown>).return_to, publicUrl);
    // The logo is decoration: the link's name stays "Sign in with <displayName>".
    const logo = (p: CallbackAuthenticator) => (p.logoUrl ? html`<img src="${p.logoUrl}" alt="" width="20" height="20" style="vertical-align:middle;margin-right:.5rem;background:#fff;border-radius:3px"> ` : '');
    const items = providers.map((p) => html`<li><a class="button" href="/login/${p.name}?return_to=${encodeURIComponent(returnTo)}">${logo(p)}Sign in with ${p.displayName}</a></li>`);
    const body = providers.length
      ? html`<p>Sign in to get a registry credential for <code>docker login</code>.</p><ul style="list-style:none;padding:0;display:grid;gap:.5rem">${items}</ul>`
      : html`<p class="error">No identity providers are configured.</p>`;
    return reply.type('text/html; charset=utf-8').send(page('Sign in', body));
  });

  app.get('/login/:name', async (request, reply) => {
    const provider = byName.get((request.params as { name: string }).name);
    if (!provider) return reply.status(404).type('text/html; charset=utf-8').send(page('Unknown provider', html`<p class="error">There is no such sign-in provider. <a href="/login">Choose one</a>.</p>`));
    const pending = await sessions.beginLogin(provider.name, safeReturnTo((request.query as Record<string, unknown>).return_to, publicUrl), request.ip, provider.prepare());
    let location: string;
    try {
      location = await provider.loginUrl(redirectUri(provider), pending);
    } catch (err) {
      if (!(err instanceof TemporarilyUnavailableError)) throw err;
      return unavailable(request.log, reply, provider, err);
    }
    // The state also goes into a cookie, so the callback must come back to the browser that started it.
    reply.setCookie(LOGIN_COOKIE, pending.state, cookieOptions(secure, 600, provider.callback === 'form-post'));
    return reply.redirect(location);
  });

  // GET for a redirect back (OAuth), POST for a provider that posts the browser back (a form binding).
  app.route({ method: ['GET', 'POST'], url: '/login/:name/callback', handler: async (request, reply) => {
    const fail = (status: number, message: string) =>
      reply.status(status).type('text/html; charset=utf-8').send(page('Sign-in failed', html`<p class="error">${message}</p><p><a href="/login">Try again</a></p>`));
    const provider = byName.get((request.params as { name: string }).name);
    if (!provider) return fail(404, 'There is no such sign-in provider.');
    const form = request.method === 'POST' ? stringFields(request.body) : undefined;
    const params = form ?? (request.query as Record<string, unknown>);
    if (typeof params.error === 'string') return fail(400, `The provider refused the sign-in (${params.error.slice(0, 60)}).`);
    const sent = params[provider.stateParameter ?? 'state'];
    const state = typeof sent === 'string' ? sent : '';
    const cookieState = signedCookie(request, LOGIN_COOKIE);
    reply.clearCookie(LOGIN_COOKIE, { path: '/' });
    if (!sameSecret(state, cookieState)) {
      request.log.info({ event: 'login_refused', provider: provider.name, reason: 'state mismatch' }, 'login refused');
      return fail(400, 'This sign-in link does not belong to this browser, or was already used.');
    }
    const pending = await sessions.takeLogin(state);
    if (!pending || pending.provider !== provider.name) {
      request.log.info({ event: 'login_refused', provider: provider.name, reason: 'unknown or replayed state' }, 'login refused');
      return fail(400, 'This sign-in has expired or was already used.');
    }
    let result;
    try {
      result = await provider.handleCallback({ url: new URL(request.url, publicUrl), form }, pending);
    } catch (err) {
      if (err instanceof TemporarilyUnavailableError) return unavailable(request.log, reply, provider, err);
      request.log.warn({ event: 'login_refused', provider: provider.name, reason: err instanceof Error ? err.message : 'error' }, 'login refused');
      return fail(400, 'The provider’s answer could not be verified. Please try again.');
    }
    if (result.kind !== 'ok') {
      const reason = result.kind === 'denied' ? result.reason : 'not recognised';
      request.log.info({ event: 'login_refused', provider: provider.name, reason }, 'login refused');
      return fail(403, `Sign-in refused: ${reason}.`);
    }
    const admitted = await options.admit(result.identity);
    if (admitted.kind !== 'ok') {
      request.log.info({ event: 'login_refused', provider: provider.name, reason: admitted.kind === 'denied' ? admitted.reason : 'refused' }, 'login refused');
      return fail(403, admitted.kind === 'denied' && admitted.message ? admitted.message : 'Sign-in refused.');
    }
    const { id } = await sessions.create(result.identity, options.sealUpstream(provider.name, result.upstream));
    request.log.info({ event: 'login', provider: provider.name, account: result.identity.account }, 'browser login');
    reply.setCookie(SESSION_COOKIE, id, cookieOptions(secure, options.sessionSeconds));
    return reply.redirect(pending.returnTo);
  } });

  app.post('/logout', async (request, reply) => {
    const current = await currentSession(request, sessions);
    const csrf = (request.body as Record<string, unknown> | undefined)?.csrf;
    if (current && sameSecret(csrf, current.session.csrf)) await sessions.destroy(current.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login');
  });
}

/** The string fields of a posted form (anything else is not a callback parameter). */
function stringFields(body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null) return {};
  return Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
