import type { Logger } from 'pino';
import type { ConnectionOptions } from 'node:tls';
import { ResultCodeError, type Entry } from 'ldapts';
import type { Cache } from '../../cache/cache.js';
import { isAscii, nonAsciiAccountProblem } from '../../domain/account-name.js';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import type { Identity } from '../../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import { VerifiedCredentials } from '../verified-credentials.js';
import type { LdapAuthnConfig } from './ldap-config.js';
import { firstRdnValue, sameDn } from './ldap-dn.js';
import { fillFilter } from './ldap-filter.js';
import { LdapConnectionError, LdapPool, type LdapConnection } from './ldap-pool.js';

/** Dependencies of the LDAP backend: the shared services plus the secrets read at startup. */
export interface LdapAuthenticatorDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** The service account's password (from `bindPasswordFile` or `bindPasswordEnv`). */
  bindPassword: string;
  /** PEM CA certificate(s) from `caFile`; default Node's bundled CAs. */
  ca?: string | Buffer;
}

/** What a successful login remembers (never the password). */
interface VerifiedUser {
  account: string;
  subject: string;
  attributes: Record<string, unknown>;
}

type Verified = Extract<AuthnResult, { kind: 'ok' }>;

/** LDAP result code of a wrong password (RFC 4511 appendix A). */
const INVALID_CREDENTIALS = 49;
/** LDAP result code of a search base that does not exist. */
const NO_SUCH_OBJECT = 32;
/** Most groups read for one user; a directory answering more is cut off (and it is logged). */
const MAX_GROUPS = 1000;

/** Why a directory request could not be completed; turned into a 503 at the edge. */
class DirectoryUnavailable extends Error {}

/**
 * Search-then-bind against an LDAP directory. The service account finds the user's entry under
 * `baseDn` with `userFilter` (the username escaped per RFC 4515); the user's own password is then
 * checked by binding as that entry. Groups (memberOf and/or a group search) and chosen attributes
 * become identity attributes. A directory that cannot be reached or answers garbage yields 503,
 * never 401; a success is cached for `verifiedCacheSeconds` under a keyed hash of the credentials.
 */
export class LdapAuthenticator implements PasswordAuthenticator {
  readonly type = 'ldap';
  private readonly pool: LdapPool;
  /** Successful logins only, as the VerifiedUser their identity is made from. */
  private readonly verified: VerifiedCredentials<AuthnResult, Verified>;
  private readonly log: Logger;
  /** Overall time a login may take, queueing for a connection included: the guard against hangs. */
  private readonly budgetMs: number;
  /** The URL without userinfo, safe to log. */
  private readonly endpoint: string;
  /** The directory this backend reads: its users' accounts are bound to it and their entry DN. */
  private readonly source: string;

  constructor(
    private readonly config: LdapAuthnConfig,
    deps: LdapAuthenticatorDeps,
  ) {
    const url = new URL(config.url);
    this.endpoint = `${url.protocol}//${url.host}`;
    this.source = `ldap:${this.endpoint}/${config.baseDn}`;
    this.log = deps.logger.child({ component: 'ldap', ldap: this.endpoint });
    this.verified = new VerifiedCredentials({
      cache: deps.cache,
      hashKey: deps.hashKey,
      prefix: 'ldap:',
      scope: ['ldap', config.url, config.baseDn, config.userFilter],
      accepted: (result): result is Verified => result.kind === 'ok',
      acceptedSeconds: config.verifiedCacheSeconds,
      encode: ({ identity: { account, subject, attributes } }) => JSON.stringify({ account, subject, attributes } satisfies VerifiedUser),
      decode: (stored) => this.ok(JSON.parse(stored) as VerifiedUser),
    });
    this.budgetMs = config.connectTimeoutMs + 2 * config.timeoutMs;
    const tls: ConnectionOptions = { minVersion: 'TLSv1.2', ...(deps.ca !== undefined ? { ca: deps.ca } : {}) };
    this.pool = new LdapPool({
      url: config.url,
      startTls: config.startTls,
      tls,
      connectTimeoutMs: config.connectTimeoutMs,
      timeoutMs: config.timeoutMs,
      size: config.poolSize,
      bindDn: config.bindDn,
      bindPassword: deps.bindPassword,
    });
    if (url.protocol === 'ldap:' && !config.startTls) {
      this.log.warn(
        { event: 'ldap_plaintext' },
        `LDAP connection to ${this.endpoint} is not encrypted: passwords cross the network in clear text; use ldaps:// or startTls: true`,
      );
    }
  }

  async login(username: string, password: string, _context: LoginContext): Promise<AuthnResult> {
    if (username === '') return { kind: 'no_match' };
    return this.verified.verdict([username, password], () => this.verify(username, password));
  }

  async recall(username: string, password: string, _context: LoginContext): Promise<AuthnResult | undefined> {
    if (username === '') return { kind: 'no_match' };
    return this.verified.recall([username, password]);
  }

  /**
   * The entry as it stands now, for a refresh token: found again by `userFilter` (so an entry
   * the filter now excludes, e.g. disabled, ends it), still the same DN, with its current groups.
   * No password is involved; the service account reads it.
   */
  async refresh(identity: Identity): Promise<Identity | undefined> {
    const dn = typeof identity.attributes.dn === 'string' ? identity.attributes.dn : undefined;
    if (!dn) return undefined;
    try {
      return await this.withConnection('refresh', async (c) => {
        const found = await this.findUser(c, identity.account);
        if (!('entry' in found) || !sameDn(found.entry.dn, dn)) return undefined;
        const result = await this.withGroups(c, found.entry, found.account);
        return result.kind === 'ok' ? result.identity : undefined;
      });
    } catch (err) {
      throw this.unavailable(err, 'refresh');
    }
  }

  /**
   * Connects and binds as the service account once, for startup: resolves with a problem to log,
   * or undefined when the directory answers and accepts Wharf's credentials.
   */
  async probe(): Promise<string | undefined> {
    try {
      await this.withConnection('probe', (c) => c.bindAsService());
      return undefined;
    } catch (err) {
      if (err instanceof ResultCodeError && err.code === INVALID_CREDENTIALS) return `the directory rejected the service account ${this.config.bindDn} (wrong bindDn or password)`;
      return err instanceof ResultCodeError ? `the directory refused the service bind (LDAP code ${err.code})` : `cannot reach ${this.endpoint}: ${(err as Error).message}`;
    }
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Open connections, for tests and metrics. */
  connections(): number {
    return this.pool.size();
  }

  private async verify(username: string, password: string): Promise<AuthnResult> {
    try {
      return await this.withConnection('login', (c) => this.searchThenBind(c, username, password));
    } catch (err) {
      throw this.unavailable(err, 'login');
    }
  }

  private async searchThenBind(c: LdapConnection, username: string, password: string): Promise<AuthnResult> {
    const found = await this.findUser(c, username);
    if (!('entry' in found)) return found;
    const { entry, account } = found;
    // An empty password would be an "unauthenticated bind" (RFC 4513 5.1.2), which succeeds.
    if (password === '') return { kind: 'denied', reason: 'ldap: empty password' };
    try {
      await c.bindAsUser(entry.dn, password);
    } catch (err) {
      if (!(err instanceof ResultCodeError)) throw err;
      // The entry exists: a failed bind counts against the account.
      if (err.code === INVALID_CREDENTIALS) return { kind: 'denied', reason: 'ldap: invalid username or password', knownAccount: true };
      // E.g. 53 unwillingToPerform or 19 constraintViolation: a locked or expired account.
      this.log.info({ event: 'ldap_bind_refused', dn: entry.dn, code: err.code }, 'the directory refused the user bind');
      return { kind: 'denied', reason: `ldap: the directory refused the login (LDAP code ${err.code})`, knownAccount: true };
    }
    return this.withGroups(c, entry, account);
  }

  /** The one entry `userFilter` selects for `username`, and its account name, as the service account sees it. */
  private async findUser(c: LdapConnection, username: string): Promise<{ entry: Entry; account: string } | AuthnResult> {
    const cfg = this.config;
    await this.serviceBind(c);
    const wanted = [cfg.accountAttribute, ...(cfg.groupAttribute ? [cfg.groupAttribute] : []), ...cfg.attributes];
    const filter = fillFilter(cfg.userFilter, { username });
    const entries = await this.search(c, cfg.baseDn, { scope: cfg.scope, filter, attributes: wanted, sizeLimit: 2 }, 'user search');
    if (entries.length === 0) return { kind: 'no_match' };
    if (entries.length > 1) {
      this.log.warn({ event: 'ldap_ambiguous_user', dns: entries.map((e) => e.dn) }, 'the user filter matches more than one entry; refusing the login (make userFilter select one entry)');
      return { kind: 'denied', reason: 'ldap: the username matches more than one directory entry' };
    }
    const entry = entries[0]!;
    const account = pickAccount(values(entry, cfg.accountAttribute), username);
    if (!account) {
      this.log.error({ event: 'ldap_no_account_attribute', dn: entry.dn, attribute: cfg.accountAttribute }, `the user entry has no ${cfg.accountAttribute}; fix accountAttribute`);
      return { kind: 'denied', reason: `ldap: the directory entry has no ${cfg.accountAttribute}` };
    }
    return { entry, account };
  }

  /** The identity of a found entry, with its groups read now. */
  private async withGroups(c: LdapConnection, entry: Entry, account: string): Promise<AuthnResult> {
    const cfg = this.config;
    const nonAscii = nonAsciiAccountProblem(`ldap: the entry's ${cfg.accountAttribute}`, account);
    if (nonAscii) {
      this.log.error({ event: 'ldap_account_not_ascii', dn: entry.dn, attribute: cfg.accountAttribute }, `${nonAscii}; give the entry an ASCII ${cfg.accountAttribute} or choose another accountAttribute`);
      // Only after the password was proven (or for a refresh): telling the user then reveals nothing.
      return { kind: 'denied', reason: nonAscii, message: `${nonAscii}; ask an administrator` };
    }
    const groupDns = cfg.groupAttribute ? values(entry, cfg.groupAttribute) : [];
    const groups = groupDns.map(firstRdnValue).filter((g): g is string => g !== undefined);
    if (cfg.groupSearch) {
      const gs = cfg.groupSearch;
      await this.serviceBind(c);
      const found = await this.search(
        c,
        gs.baseDn,
        { scope: gs.scope, filter: fillFilter(gs.filter, { dn: entry.dn, username: account }), attributes: [gs.nameAttribute], sizeLimit: MAX_GROUPS },
        'group search',
      );
      if (found.length >= MAX_GROUPS) this.log.warn({ event: 'ldap_many_groups', account }, `more than ${MAX_GROUPS} groups; the rest are ignored`);
      for (const g of found) {
        if (!groupDns.some((d) => sameDn(d, g.dn))) groupDns.push(g.dn);
        for (const name of values(g, gs.nameAttribute)) if (!groups.includes(name)) groups.push(name);
      }
    }
    const attributes: Record<string, unknown> = {};
    for (const name of cfg.attributes) attributes[name] = values(entry, name);
    Object.assign(attributes, { dn: entry.dn, groups, groupDns });
    return this.ok({ account, subject: entry.dn, attributes });
  }

  /** The service bind; a refusal is Wharf's misconfiguration, so it is logged loudly and answered 503. */
  private async serviceBind(c: LdapConnection): Promise<void> {
    try {
      await c.bindAsService();
    } catch (err) {
      if (err instanceof ResultCodeError) {
        this.log.error(
          { event: 'ldap_service_bind_refused', bindDn: this.config.bindDn, code: err.code },
          err.code === INVALID_CREDENTIALS
            ? 'the directory rejected Wharf’s service account (wrong bindDn or bind password); LDAP users get 503 until this is fixed'
            : `the directory refused Wharf’s service bind (LDAP code ${err.code}); LDAP users get 503 until this is fixed`,
        );
        throw new DirectoryUnavailable('service bind refused', { cause: err });
      }
      throw err;
    }
  }

  /** A search; any LDAP error code is a misconfiguration (bad base, no read access), answered 503. */
  private async search(c: LdapConnection, base: string, options: Parameters<LdapConnection['search']>[1], what: string): Promise<Entry[]> {
    try {
      // The server-side time limit matches ours, so a slow search is abandoned on both ends.
      return await c.search(base, { derefAliases: 'never', timeLimit: Math.max(1, Math.ceil(this.config.timeoutMs / 1000)), ...options });
    } catch (err) {
      if (err instanceof ResultCodeError) {
        this.log.error(
          { event: 'ldap_search_failed', what, base, code: err.code },
          err.code === NO_SUCH_OBJECT ? `${what}: the base DN ${base} does not exist` : `${what} failed with LDAP code ${err.code} (does the service account have read access?)`,
        );
        throw new DirectoryUnavailable(`${what} failed`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Runs `fn` on a pooled connection within the login budget. A reused connection that turns out
   * to have been closed by the server (idle timeout, restart) is replaced once.
   */
  private async withConnection<T>(what: string, fn: (c: LdapConnection) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.budgetMs;
    for (let attempt = 1; ; attempt++) {
      const connection = await this.pool.acquire(deadline);
      const reused = connection.reused;
      let timer: NodeJS.Timeout | undefined;
      try {
        const overdue = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            connection.destroy();
            reject(new LdapConnectionError(`no answer within ${this.budgetMs} ms`));
          }, Math.max(0, deadline - Date.now()));
        });
        const result = await Promise.race([fn(connection), overdue]);
        this.pool.release(connection, true);
        return result;
      } catch (err) {
        const lost = err instanceof LdapConnectionError;
        // An LDAP answer (even a refusal) leaves the connection sound; anything else discards it.
        this.pool.release(connection, err instanceof DirectoryUnavailable || err instanceof ResultCodeError);
        const stale = lost && reused && attempt === 1 && /lost|closed|Socket error|ECONNRESET|EPIPE/.test(err.message) && Date.now() < deadline;
        if (stale) {
          this.log.debug({ event: 'ldap_stale_connection', what }, 'pooled LDAP connection was closed; retrying on a new one');
          continue;
        }
        throw err;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Logs why the directory could not decide and makes the 503 error; LDAP-level refusals were logged already. */
  private unavailable(err: unknown, what: string): TemporarilyUnavailableError {
    if (err instanceof LdapConnectionError) {
      this.log.warn({ event: 'ldap_unavailable', what, why: err.message }, `LDAP directory ${this.endpoint} unavailable (${err.message}); answering 503`);
    } else if (!(err instanceof DirectoryUnavailable)) {
      this.log.error({ event: 'ldap_error', what, err: (err as Error).message }, 'unexpected error talking to the LDAP directory; answering 503');
    }
    return new TemporarilyUnavailableError('the LDAP directory is unavailable; try again shortly', { cause: err });
  }

  private ok(user: VerifiedUser): Verified {
    return { kind: 'ok', identity: { account: user.account, provider: this.type, subject: user.subject, attributes: user.attributes, owner: { source: this.source, subject: user.subject } } };
  }
}

/** An attribute's string values, whatever the case of its name in the entry; binary values are skipped. */
function values(entry: Entry, name: string): string[] {
  const lower = name.toLowerCase();
  const key = Object.keys(entry).find((k) => k !== 'dn' && k.toLowerCase() === lower);
  if (key === undefined) return [];
  const raw = entry[key]!;
  return (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string');
}

/**
 * The account name: the ASCII value matching what was typed (uid may be multi-valued), else the
 * first ASCII one, else the first (which is then refused by name). Only ASCII values are compared
 * case-insensitively: `\u212Aevin` lower-cases to `kevin`.
 */
function pickAccount(candidates: readonly string[], typed: string): string | undefined {
  const ascii = candidates.filter(isAscii);
  return ascii.find((c) => c.toLowerCase() === typed.toLowerCase()) ?? ascii[0] ?? candidates[0];
}
