import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthnResult } from '../../authn/authenticator.js';
import type { CredentialStore } from '../../credentials/registry/credential-store.js';
import type { Identity } from '../../domain/identity.js';
import type { BrowserSessions, Session } from '../../flows/browser-sessions.js';
import { html, page, type SafeHtml } from '../pages/html.js';
import { currentSession, redirectToLogin, sameSecret } from '../session-cookies.js';

/** Options of the account pages. */
export interface AccountRouteOptions {
  sessions: BrowserSessions;
  credentials: CredentialStore;
  /** Registry host shown in the `docker login` command. */
  registryHost: string;
  defaultDays: number;
  maxDays: number;
  /** Account grammar and binding: a session made before its name was unbound and claimed by another method lists, makes and revokes nothing. */
  admit: (identity: Identity) => Promise<AuthnResult>;
}

const date = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC');

/** The account page: mint a credential (shown once), list and revoke credentials. */
export async function accountRoutes(app: FastifyInstance, options: AccountRouteOptions): Promise<void> {
  const { sessions, credentials } = options;

  async function render(reply: FastifyReply, session: Session, notice?: SafeHtml) {
    const account = session.identity.account;
    const maxDays = maxDaysFor(session);
    const list = await credentials.list(account);
    const rows = list.map(
      (c) => html`<tr><td>${c.label}</td><td>${c.source}</td><td>${date(c.createdAt)}</td><td>${date(c.lastUsedAt)}</td><td>${date(c.expiresAt)}</td>
<td><form method="post" action="/account/credentials/${c.id}/revoke"><input type="hidden" name="csrf" value="${session.csrf}"><button class="secondary" type="submit" aria-label="Revoke ${c.label}">Revoke</button></form></td></tr>`,
    );
    const body = html`${notice ?? ''}
<h2>New registry credential</h2>
<form method="post" action="/account/credentials">
<input type="hidden" name="csrf" value="${session.csrf}">
<label for="label">Name (where you will use it)</label><input id="label" name="label" required maxlength="100" value="laptop">
<label for="days">Valid for (days, at most ${maxDays})</label><input id="days" name="days" type="number" min="1" max="${maxDays}" value="${Math.min(options.defaultDays, maxDays)}">
<p><button type="submit">Create credential</button></p>
</form>
<h2>Your credentials</h2>
${list.length ? html`<table><thead><tr><th scope="col">Name</th><th scope="col">From</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>None yet.</p>`}`;
    return reply.type('text/html; charset=utf-8').send(page('Your registry access', body, { account, csrf: session.csrf }));
  }

  /** What this session's sign-in allows: a login that cannot be re-checked for long makes short-lived credentials. */
  const maxDaysFor = (session: Session) => Math.max(1, Math.min(options.maxDays, Math.floor(credentials.maxLifetimeFor(session.upstream, 'browser') / 86_400)));

  async function requireSession(request: FastifyRequest, reply: FastifyReply): Promise<Session | undefined> {
    const current = await currentSession(request, sessions);
    if (!current) {
      void redirectToLogin(request, reply);
      return undefined;
    }
    const admitted = await options.admit(current.session.identity);
    if (admitted.kind !== 'ok') {
      const message = admitted.kind === 'denied' && admitted.message ? admitted.message : 'Refused.';
      void reply.status(403).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page('Refused', html`<p class="error" role="alert">${message}</p>`));
      return undefined;
    }
    return current.session;
  }

  function checkCsrf(request: FastifyRequest, reply: FastifyReply, session: Session): boolean {
    if (sameSecret((request.body as Record<string, unknown> | undefined)?.csrf, session.csrf)) return true;
    request.log.warn({ event: 'csrf_refused', account: session.identity.account }, 'form without a valid CSRF token');
    void reply.status(403).type('text/html; charset=utf-8').send(page('Refused', html`<p class="error">This form has expired. <a href="/account">Reload the page</a> and try again.</p>`));
    return false;
  }

  app.get('/account', async (request, reply) => {
    const session = await requireSession(request, reply);
    if (session) return render(reply, session);
  });

  app.post('/account/credentials', async (request, reply) => {
    const session = await requireSession(request, reply);
    if (!session || !checkCsrf(request, reply, session)) return;
    const body = request.body as Record<string, unknown>;
    const days = Math.min(Math.max(1, Math.floor(Number(body.days) || options.defaultDays)), maxDaysFor(session));
    const label = typeof body.label === 'string' && body.label.trim() ? body.label.trim() : 'credential';
    const { secret, record } = await credentials.create(session.identity, { label, lifetimeSeconds: days * 86_400, source: 'browser', upstream: session.upstream });
    request.log.info({ event: 'credential_created', account: session.identity.account, credentialId: record.id, source: 'browser', days }, 'registry credential created');
    const account = session.identity.account;
    const notice = html`<section class="notice" aria-live="polite">
<h2>Your new credential</h2>
<p>Copy it now: it is shown only this once.</p>
<pre id="credential">${secret}</pre>
<p>Log in with:</p>
<pre id="docker-login">docker login ${options.registryHost} -u ${account} --password-stdin</pre>
<p>and paste the credential, or <code>echo '&lt;credential&gt;' | docker login ${options.registryHost} -u ${account} --password-stdin</code>. It expires on ${date(record.expiresAt)}.</p>
</section>`;
    reply.header('cache-control', 'no-store');
    return render(reply, session, notice);
  });

  app.post('/account/credentials/:id/revoke', async (request, reply) => {
    const session = await requireSession(request, reply);
    if (!session || !checkCsrf(request, reply, session)) return;
    const id = (request.params as { id: string }).id;
    const revoked = await credentials.revoke(session.identity.account, id);
    request.log.info({ event: 'credential_revoked', account: session.identity.account, credentialId: id, found: revoked }, 'registry credential revoked');
    return render(reply, session, revoked ? html`<p class="notice" role="status">Credential revoked.</p>` : html`<p class="error" role="status">No such credential.</p>`);
  });
}
