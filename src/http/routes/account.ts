import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { madeBy, type AccountBindings } from '../../accounts/account-bindings.js';
import type { AuthnResult } from '../../authn/authenticator.js';
import { EXPIRING_SOON_MS } from '../../credentials/registry/credential-expiry.js';
import type { CredentialStore, CredentialSummary } from '../../credentials/registry/credential-store.js';
import { ROBOT_SOURCE, robotAccountName } from '../../domain/account-name.js';
import { InvalidRequestError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { BrowserSessions, Session } from '../../flows/browser-sessions.js';
import { daysFromForm, describeScope, FORM_ACTIONS, SCOPE_PRESETS, scopeFromForm } from '../pages/credential-form.js';
import { html, page, type SafeHtml } from '../pages/html.js';
import { currentSession, redirectToLogin, sameSecret } from '../session-cookies.js';
import { removeRobot } from './robots-api.js';

/** Options of the account pages. */
export interface AccountRouteOptions {
  sessions: BrowserSessions;
  credentials: CredentialStore;
  /** Robots' bindings: the page lists and deletes the robots the signed-in person made. */
  bindings: AccountBindings;
  /** Registry host shown in the `docker login` command. */
  registryHost: string;
  defaultDays: number;
  maxDays: number;
  /** How long a rotated credential's earlier secret keeps working unless retired on the page, in hours. */
  rotationOverlapHours: number;
  /** Account grammar and binding: a session made before its name was unbound and claimed by another method lists, makes and revokes nothing. */
  admit: (identity: Identity) => Promise<AuthnResult>;
  now: () => number;
}

const DAY_MS = 86_400_000;
const date = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC');
/** Credential ids as the store makes them; anything else names no credential. */
const CREDENTIAL_ID = /^[0-9a-f]{12}$/;

/** The account page: mint a credential with a scope (shown once), list, rotate and revoke credentials. */
export async function accountRoutes(app: FastifyInstance, options: AccountRouteOptions): Promise<void> {
  const { sessions, credentials, now } = options;

  const hidden = (session: Session) => html`<input type="hidden" name="csrf" value="${session.csrf}">`;

  function endsIn(c: CredentialSummary): SafeHtml | string {
    const left = c.expiresAt - now();
    if (left > EXPIRING_SOON_MS) return '';
    const days = Math.max(1, Math.ceil(left / DAY_MS));
    return html` <strong class="badge">ends in ${days} ${days === 1 ? 'day' : 'days'}</strong>`;
  }

  function row(session: Session, c: CredentialSummary): SafeHtml {
    const action = (path: string, label: string, aria: string) =>
      html`<form method="post" action="/account/credentials/${c.id}/${path}">${hidden(session)}<button class="secondary" type="submit" aria-label="${aria}">${label}</button></form>`;
    const rotating =
      c.previousRetiresAt === undefined ? '' : html`<br>previous secret works until ${date(c.previousRetiresAt)} ${action('retire-previous', 'Retire the previous secret', `Retire the previous secret of ${c.label}`)}`;
    return html`<tr><td>${c.label}</td><td>${describeScope(c.scope)}</td><td>${c.source}</td><td>${date(c.createdAt)}</td><td>${date(c.lastUsedAt)}</td><td>${date(c.expiresAt)}${endsIn(c)}${rotating}</td>
<td>${action('rotate', 'Rotate', `Rotate ${c.label}`)} ${action('revoke', 'Revoke', `Revoke ${c.label}`)}</td></tr>`;
  }

  /** The robots this person made, one row each: their credentials' scopes, the latest end and last use, and a Delete button. */
  async function robots(session: Session): Promise<SafeHtml | string> {
    const account = session.identity.account;
    const mine = (await options.bindings.list()).filter((b) => b.source === ROBOT_SOURCE && madeBy(b, account));
    if (mine.length === 0) return '';
    const rows = [];
    for (const b of mine) {
      const list = await credentials.list(b.account);
      const latest = (pick: (c: CredentialSummary) => number | undefined) => {
        const known = list.map(pick).filter((v): v is number => v !== undefined);
        return known.length > 0 ? Math.max(...known) : undefined;
      };
      const scopes = [...new Set(list.map((c) => describeScope(c.scope)))].join('; ') || 'no live credential';
      rows.push(html`<tr><td>${b.account}</td><td>${scopes}</td><td>${date(latest((c) => c.expiresAt))}</td><td>${date(latest((c) => c.lastUsedAt))}</td>
<td><form method="post" action="/account/robots/${b.account}/delete">${hidden(session)}<button class="secondary" type="submit" aria-label="Delete ${b.account}">Delete</button></form></td></tr>`);
    }
    return html`<h2>Your robots</h2>
<p>Robot accounts you made (<code>wharf robot create</code>): each acts within your rights now, cut to its scope. Deleting one revokes its credentials and frees its name.</p>
<table><thead><tr><th scope="col">Robot</th><th scope="col">May</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  async function render(reply: FastifyReply, session: Session, notice?: SafeHtml) {
    const account = session.identity.account;
    const maxDays = maxDaysFor(session);
    const list = await credentials.list(account);
    const presets = Object.entries(SCOPE_PRESETS).map(
      ([value, label]) => html`<label><input type="radio" name="preset" value="${value}"${value === 'full' ? html` checked` : ''}> ${label}</label>`,
    );
    const actions = FORM_ACTIONS.map((a) => html`<label><input type="checkbox" name="actions" value="${a}"${a === 'pull' ? html` checked` : ''}> ${a}</label>`);
    const body = html`${notice ?? ''}
<h2>New registry credential</h2>
<form method="post" action="/account/credentials">
${hidden(session)}
<label for="label">Name (where you will use it)</label><input id="label" name="label" required maxlength="100" value="laptop">
<fieldset><legend>What it may do (never more than your account may do at the time)</legend>${presets}</fieldset>
<label for="repository">Repository (for the choices "this repository"; a name such as ${account}/app, or ${account}/* for all of them)</label><input id="repository" name="repository" maxlength="255" placeholder="${account}/app">
<fieldset><legend>Actions (for "the actions ticked below")</legend>${actions}</fieldset>
<label for="days">Valid for (days, at most ${maxDays})</label><input id="days" name="days" type="number" min="1" max="${maxDays}" value="${Math.min(options.defaultDays, maxDays)}">
<p><button type="submit">Create credential</button></p>
</form>
<h2>Your credentials</h2>
${list.length ? html`<table><thead><tr><th scope="col">Name</th><th scope="col">May</th><th scope="col">From</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead><tbody>${list.map((c) => row(session, c))}</tbody></table>` : html`<p>None yet.</p>`}
${await robots(session)}`;
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

  /** The signed-in session of a form post with its CSRF token; undefined when the answer was sent. */
  async function formSession(request: FastifyRequest, reply: FastifyReply): Promise<Session | undefined> {
    const session = await requireSession(request, reply);
    if (!session) return undefined;
    if (sameSecret((request.body as Record<string, unknown> | undefined)?.csrf, session.csrf)) return session;
    request.log.warn({ event: 'csrf_refused', account: session.identity.account }, 'form without a valid CSRF token');
    void reply.status(403).type('text/html; charset=utf-8').send(page('Refused', html`<p class="error">This form has expired. <a href="/account">Reload the page</a> and try again.</p>`));
    return undefined;
  }

  /** The credential id of the URL, when it can name one. */
  const credentialId = (request: FastifyRequest) => {
    const id = (request.params as { id: string }).id;
    return CREDENTIAL_ID.test(id) ? id : undefined;
  };
  const noSuch = (reply: FastifyReply, session: Session) => render(reply.status(404), session, html`<p class="error" role="alert">No such credential.</p>`);

  /** The new secret, shown this once, and how to log in with it. */
  function shownOnce(session: Session, secret: string, heading: string, after: SafeHtml): SafeHtml {
    const account = session.identity.account;
    return html`<section class="notice" aria-live="polite">
<h2>${heading}</h2>
<p>Copy it now: it is shown only this once.</p>
<pre id="credential">${secret}</pre>
<p>Log in with:</p>
<pre id="docker-login">docker login ${options.registryHost} -u ${account} --password-stdin</pre>
<p>and paste the credential, or <code>echo '&lt;credential&gt;' | docker login ${options.registryHost} -u ${account} --password-stdin</code>.</p>
${after}
</section>`;
  }

  app.get('/account', async (request, reply) => {
    const session = await requireSession(request, reply);
    if (session) return render(reply, session);
  });

  app.post('/account/credentials', async (request, reply) => {
    const session = await formSession(request, reply);
    if (!session) return;
    const body = request.body as Record<string, unknown>;
    let days: number;
    let scope;
    try {
      days = daysFromForm(body.days, maxDaysFor(session), options.defaultDays);
      scope = scopeFromForm(body);
    } catch (err) {
      if (!(err instanceof InvalidRequestError)) throw err;
      return render(reply.status(400), session, html`<p class="error" role="alert">Not created: ${err.message}</p>`);
    }
    const label = typeof body.label === 'string' && body.label.trim() ? body.label.trim() : 'credential';
    const { secret, record } = await credentials.create(session.identity, { label, lifetimeSeconds: days * 86_400, source: 'browser', upstream: session.upstream, scope });
    request.log.info({ event: 'credential_created', account: session.identity.account, credentialId: record.id, source: 'browser', days, scope: record.scope ?? null }, 'registry credential created');
    reply.header('cache-control', 'no-store');
    return render(reply, session, shownOnce(session, secret, 'Your new credential', html`<p>It may: ${describeScope(record.scope)}. It expires on ${date(record.expiresAt)}.</p>`));
  });

  app.post('/account/credentials/:id/rotate', async (request, reply) => {
    const session = await formSession(request, reply);
    if (!session) return;
    const id = credentialId(request);
    const rotated = id === undefined ? undefined : await credentials.rotate(session.identity.account, id, options.rotationOverlapHours * 3600);
    if (!id || !rotated) return noSuch(reply, session);
    request.log.info({ event: 'credential_rotated', account: session.identity.account, credentialId: id, by: 'session', previousRetiresAt: new Date(rotated.previousRetiresAt).toISOString() }, 'credential rotated');
    reply.header('cache-control', 'no-store');
    const retire = html`<p>The previous secret keeps working until ${date(rotated.previousRetiresAt)}, so you can replace it where it is used. Once replaced everywhere:</p>
<form method="post" action="/account/credentials/${id}/retire-previous">${hidden(session)}<button type="submit">Retire the previous secret</button></form>`;
    return render(reply, session, shownOnce(session, rotated.secret, `New secret for ${rotated.record.label}`, retire));
  });

  app.post('/account/credentials/:id/retire-previous', async (request, reply) => {
    const session = await formSession(request, reply);
    if (!session) return;
    const id = credentialId(request);
    const retired = id !== undefined && (await credentials.retire(session.identity.account, id));
    request.log.info({ event: 'credential_retired', account: session.identity.account, credentialId: id ?? null, by: 'session', found: retired }, 'credential retired');
    return render(reply, session, retired ? html`<p class="notice" role="status">Previous secret retired: only the new one works now.</p>` : html`<p class="error" role="status">This credential has no previous secret to retire.</p>`);
  });

  app.post('/account/robots/:name/delete', async (request, reply) => {
    const session = await formSession(request, reply);
    if (!session) return;
    const account = session.identity.account;
    const derived = robotAccountName((request.params as { name: string }).name);
    const binding = 'account' in derived ? await options.bindings.get(derived.account) : undefined;
    // Another person's robot is not confirmed to exist.
    if (!binding || !madeBy(binding, account)) return render(reply.status(404), session, html`<p class="error" role="alert">No such robot.</p>`);
    await removeRobot(credentials, options.bindings, binding.account);
    request.log.info({ event: 'robot_deleted', account: binding.account, maker: account, by: 'session' }, 'robot deleted');
    return render(reply, session, html`<p class="notice" role="status">Robot ${binding.account} deleted: its credentials no longer work.</p>`);
  });

  app.post('/account/credentials/:id/revoke', async (request, reply) => {
    const session = await formSession(request, reply);
    if (!session) return;
    const id = credentialId(request);
    const revoked = id !== undefined && (await credentials.revoke(session.identity.account, id));
    request.log.info({ event: 'credential_revoked', account: session.identity.account, credentialId: id ?? null, found: revoked }, 'registry credential revoked');
    return render(reply, session, revoked ? html`<p class="notice" role="status">Credential revoked.</p>` : html`<p class="error" role="status">No such credential.</p>`);
  });
}
