import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLdapAuthenticator } from '../../src/authn/ldap/create-ldap-authenticator.js';
import { LdapAuthenticator } from '../../src/authn/ldap/ldap-authenticator.js';
import { ldapAuthnSchema } from '../../src/authn/ldap/ldap-config.js';
import { secretReader } from '../../src/config/secrets.js';
import { sameDn } from '../../src/authn/ldap/ldap-dn.js';
import { LdapConnection } from '../../src/authn/ldap/ldap-pool.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { keyedHash } from '../../src/crypto/keyed-hash.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import type { Identity } from '../../src/domain/identity.js';
import { captureLog } from '../support/log-capture.js';
import { waitUntil } from '../support/processes.js';
import { RecordingCache } from '../support/recording-cache.js';
import { DIRECTORY, sshaHash, startSlapd, type SlapdHandle } from '../support/slapd.js';

let slapd: SlapdHandle;
const hashKey = randomBytes(32);
const context = { clientIp: '127.0.0.1', service: 'registry' };
const LUDWIG_DN = `uid=ludwig,${DIRECTORY.musicians}`;

beforeAll(async () => {
  slapd = await startSlapd({ tls: true });
});
afterAll(async () => {
  await slapd?.stop();
});

const made: LdapAuthenticator[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(made.splice(0).map((a) => a.close()));
});

/** An authenticator against the test slapd: StartTLS with the run's CA unless the patch says otherwise. */
function make(patch: Record<string, unknown> = {}, opts: { bindPassword?: string; ca?: string } = {}) {
  const config = ldapAuthnSchema.parse({
    type: 'ldap',
    url: slapd.url,
    startTls: true,
    bindDn: DIRECTORY.serviceDn,
    baseDn: DIRECTORY.musicians,
    attributes: ['mail', 'displayName'],
    ...patch,
  });
  const log = captureLog('debug');
  const cache = new MemoryCache({ maxEntries: 1000 });
  const auth = new LdapAuthenticator(config, {
    cache,
    hashKey,
    logger: log.logger,
    bindPassword: opts.bindPassword ?? slapd.passwords.wharf,
    ca: readFileSync(opts.ca ?? slapd.certificates!.caFile, 'utf8'),
  });
  made.push(auth);
  return { auth, log, cache };
}

function identityOf(result: Awaited<ReturnType<LdapAuthenticator['login']>>): Identity {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.identity;
}

function sorted(value: unknown): string[] {
  return [...(value as string[])].sort();
}

/** Number of lines in slapd's log matching `re` (slapd runs with -d stats: one line per operation). */
function slapdCount(re: RegExp): number {
  return slapd.allLogs().filter((l) => re.test(l)).length;
}

describe('LdapAuthenticator: search-then-bind against slapd', () => {
  it('logs musicians in and gives the identity their account, DN, groups and chosen attributes', async () => {
    const { auth } = make();
    const ludwig = identityOf(await auth.login('ludwig', slapd.passwords.ludwig, context));
    expect({ ...ludwig, attributes: { ...ludwig.attributes, groups: sorted(ludwig.attributes.groups), groupDns: sorted(ludwig.attributes.groupDns) } }).toEqual({
      account: 'ludwig',
      provider: 'ldap',
      subject: LUDWIG_DN,
      attributes: {
        dn: LUDWIG_DN,
        mail: ['ludwig@example.org'],
        displayName: ['Ludwig van Beethoven'],
        groups: ['musicians', 'team-x'],
        groupDns: [`cn=musicians,${DIRECTORY.groups}`, `cn=team-x,${DIRECTORY.groups}`],
      },
      // The name belongs to this directory and this entry.
      owner: { source: `ldap:${new URL(slapd.url).protocol}//${new URL(slapd.url).host}/${DIRECTORY.musicians}`, subject: LUDWIG_DN },
    });
    // Johann's password holds filter metacharacters, a space and a non-ASCII letter.
    const johann = identityOf(await auth.login('johann', slapd.passwords.johann, context));
    expect(johann.attributes).toMatchObject({ groups: ['musicians'], mail: ['johann@example.org'], displayName: [] });
    const clara = identityOf(await auth.login('clara', slapd.passwords.clara, context));
    expect(sorted(clara.attributes.groups)).toEqual(['Strings, Winds', 'musicians']);
  });

  it('denies a wrong password, and leaves philosophers (outside the base) and unknown users to the next backend', async () => {
    const { auth } = make();
    expect(await auth.login('ludwig', `${slapd.passwords.ludwig}x`, context)).toEqual({ kind: 'denied', reason: 'ldap: invalid username or password', knownAccount: true });
    // Wittgenstein is uid=ludwig too, but under ou=philosophers: only Beethoven is found, and his password differs.
    expect(await auth.login('ludwig', slapd.passwords.wittgenstein, context)).toEqual({ kind: 'denied', reason: 'ldap: invalid username or password', knownAccount: true });
    expect(await auth.login('immanuel', slapd.passwords.immanuel, context)).toEqual({ kind: 'no_match' });
    expect(await auth.login('salieri', 'whatever', context)).toEqual({ kind: 'no_match' });
    expect(await auth.login('', slapd.passwords.ludwig, context)).toEqual({ kind: 'no_match' });
    // An empty password would be an unauthenticated bind; it is refused before any bind.
    const bind = vi.spyOn(LdapConnection.prototype, 'bindAsUser');
    expect(await auth.login('ludwig', '', context)).toEqual({ kind: 'denied', reason: 'ldap: empty password' });
    expect(bind).not.toHaveBeenCalled();
  });

  it('escapes the username (RFC 4515): filter metacharacters, NUL and backslashes never match another entry', async () => {
    // Control: sent unescaped, these filters would find Beethoven, so the fixture can catch a missing escape.
    const raw = new Client({ url: slapd.url });
    try {
      await raw.bind(DIRECTORY.serviceDn, slapd.passwords.wharf);
      for (const filter of ['(uid=lud*)', '(uid=\\6cudwig)', '(uid=*)']) {
        const { searchEntries } = await raw.search(DIRECTORY.musicians, { filter, attributes: ['1.1'] });
        expect(searchEntries.map((e) => e.dn)).toContain(LUDWIG_DN);
      }
    } finally {
      await raw.unbind();
    }

    const { auth } = make();
    const bind = vi.spyOn(LdapConnection.prototype, 'bindAsUser');
    const attempts = ['*', 'lud*', '*)(uid=*', ')(uid=*', 'ludwig)(uid=*', 'ludwig)(|(uid=*', '\\6cudwig', 'ludwig\0', 'ludwig\0*', 'ludwig\\', '\\', '\\2a', '(|(uid=ludwig))'];
    for (const username of attempts) {
      expect(await auth.login(username, slapd.passwords.ludwig, context), JSON.stringify(username)).toEqual({ kind: 'no_match' });
    }
    expect(bind).not.toHaveBeenCalled();
    const byMail = make({ userFilter: '(mail={username})' }).auth;
    expect(await byMail.login('*', slapd.passwords.ludwig, context)).toEqual({ kind: 'no_match' });
    expect(await byMail.login('ludwig@*', slapd.passwords.ludwig, context)).toEqual({ kind: 'no_match' });
  });

  it('acts as the canonical account whatever was typed: another case, the e-mail, a second uid', async () => {
    const { auth } = make();
    expect(identityOf(await auth.login('LUDWIG', slapd.passwords.ludwig, context)).account).toBe('ludwig');
    // uid is multi-valued for Mozart: the value typed is the account.
    expect(identityOf(await auth.login('amadeus', slapd.passwords.wolfgang, context)).account).toBe('amadeus');
    expect(identityOf(await auth.login('wolfgang', slapd.passwords.wolfgang, context)).account).toBe('wolfgang');

    const byMail = make({ userFilter: '(mail={username})' });
    const viaMail = identityOf(await byMail.auth.login('ludwig@example.org', slapd.passwords.ludwig, context));
    expect([viaMail.account, viaMail.subject]).toEqual(['ludwig', LUDWIG_DN]);
    // An entry without the account attribute cannot become an account.
    expect(await byMail.auth.login('nobody@example.org', slapd.passwords.nobody, context)).toEqual({ kind: 'denied', reason: 'ldap: the directory entry has no uid' });
    expect(byMail.log.events('ldap_no_account_attribute')[0]).toMatchObject({ level: 50, attribute: 'uid' });
  });

  it('reads groups with a group search (as the service account) when the directory has no memberOf', async () => {
    const search = make({ groupAttribute: null, groupSearch: { baseDn: DIRECTORY.groups, filter: '(&(objectClass=groupOfNames)(member={dn}))' } });
    const ludwig = identityOf(await search.auth.login('ludwig', slapd.passwords.ludwig, context));
    expect(sorted(ludwig.attributes.groups)).toEqual(['musicians', 'team-x']);
    expect(sorted(ludwig.attributes.groupDns)).toEqual([`cn=musicians,${DIRECTORY.groups}`, `cn=team-x,${DIRECTORY.groups}`]);
    // {username} is the canonical account; both sources together list each group once.
    const both = make({ groupSearch: { baseDn: DIRECTORY.groups, filter: '(|(member={dn})(cn={username}))' } });
    expect(sorted(identityOf(await both.auth.login('Clara', slapd.passwords.clara, context)).attributes.groups)).toEqual(['Strings, Winds', 'musicians']);
    const none = make({ groupAttribute: null });
    expect(identityOf(await none.auth.login('ludwig', slapd.passwords.ludwig, context)).attributes.groups).toEqual([]);
  });

  it('handles DNs with escaped characters (Active Directory style) in the bind and the group search', async () => {
    const robertDn = `cn=Schumann\\, Robert,${DIRECTORY.musicians}`;
    for (const patch of [{}, { groupAttribute: null, groupSearch: { baseDn: DIRECTORY.groups } }]) {
      const { auth } = make(patch);
      const robert = identityOf(await auth.login('robert', slapd.passwords.robert, context));
      // slapd spells the escaped comma as \2C; either spelling names the entry.
      expect([robert.account, robert.attributes.groups]).toEqual(['robert', ['musicians']]);
      expect(sameDn(robert.subject, robertDn)).toBe(true);
      expect((await auth.refresh(robert))?.account).toBe('robert');
    }
    expect(await make().auth.login('robert', slapd.passwords.clara, context)).toEqual({ kind: 'denied', reason: 'ldap: invalid username or password', knownAccount: true });
  });

  it('refuses a username that matches two entries (a base over both ludwigs)', async () => {
    const { auth, log } = make({ baseDn: DIRECTORY.suffix });
    expect(await auth.login('ludwig', slapd.passwords.ludwig, context)).toEqual({ kind: 'denied', reason: 'ldap: the username matches more than one directory entry' });
    expect(log.events('ldap_ambiguous_user')[0]).toMatchObject({ level: 40 });
    // A unique philosopher is found when the base covers the philosophers.
    expect(identityOf(await auth.login('immanuel', slapd.passwords.immanuel, context)).account).toBe('immanuel');
  });

  it('caches a success under a keyed hash, shares one bind among concurrent logins, never caches a failure', async () => {
    const { auth, cache } = make();
    const bind = vi.spyOn(LdapConnection.prototype, 'bindAsUser');
    const burst = await Promise.all(Array.from({ length: 10 }, () => auth.login('ludwig', slapd.passwords.ludwig, context)));
    expect(burst.every((r) => r.kind === 'ok')).toBe(true);
    for (let i = 0; i < 3; i++) expect((await auth.login('ludwig', slapd.passwords.ludwig, context)).kind).toBe('ok');
    expect(bind).toHaveBeenCalledTimes(1);
    expect((await auth.login('ludwig', 'wrong', context)).kind).toBe('denied');
    expect((await auth.login('ludwig', 'wrong', context)).kind).toBe('denied');
    expect(bind).toHaveBeenCalledTimes(3);
    const entries = [...(cache as unknown as { lru: Map<string, unknown> }).lru.entries()];
    expect(entries).toHaveLength(1);
    expect(entries[0]![0]).toMatch(/^ldap:[0-9a-f]{64}$/);
    expect(JSON.stringify(entries)).not.toContain(slapd.passwords.ludwig);

    const uncached = make({ verifiedCacheSeconds: 0 }).auth;
    await uncached.login('ludwig', slapd.passwords.ludwig, context);
    await uncached.login('ludwig', slapd.passwords.ludwig, context);
    expect(bind).toHaveBeenCalledTimes(5);
  });

  it('writes and reads the verified entry in the format replicas of other versions share', async () => {
    const config = ldapAuthnSchema.parse({ type: 'ldap', url: slapd.url, startTls: true, bindDn: DIRECTORY.serviceDn, baseDn: DIRECTORY.musicians, attributes: ['mail'], verifiedCacheSeconds: 45 });
    const replica = (cache: RecordingCache) => {
      const auth = new LdapAuthenticator(config, { cache, hashKey, logger: captureLog('debug').logger, bindPassword: slapd.passwords.wharf, ca: readFileSync(slapd.certificates!.caFile, 'utf8') });
      made.push(auth);
      return auth;
    };
    const cache = new RecordingCache();
    const first = await replica(cache).login('ludwig', slapd.passwords.ludwig, context);
    const { account, subject, attributes } = identityOf(first);
    const key = `ldap:${keyedHash(hashKey, 'ldap', config.url, config.baseDn, config.userFilter, 'ludwig', slapd.passwords.ludwig)}`;
    expect(cache.writes).toEqual([{ key, value: JSON.stringify({ account, subject, attributes }), ttlSeconds: 45 }]);
    expect(Object.keys(JSON.parse(cache.writes[0]!.value) as object)).toEqual(['account', 'subject', 'attributes']);
    // Another replica answers from that entry without a bind.
    const other = new RecordingCache();
    other.entries.set(key, cache.writes[0]!.value);
    const bind = vi.spyOn(LdapConnection.prototype, 'bindAsUser');
    expect(await replica(other).recall('ludwig', slapd.passwords.ludwig, context)).toEqual(first);
    expect(await replica(other).login('ludwig', slapd.passwords.ludwig, context)).toEqual(first);
    expect(bind).not.toHaveBeenCalled();
  });

  it('keeps at most poolSize connections and reuses them', async () => {
    const { auth } = make({ poolSize: 2, verifiedCacheSeconds: 0 });
    const used = new Set<LdapConnection>();
    const original = LdapConnection.prototype.bindAsUser;
    let maxOpen = 0;
    vi.spyOn(LdapConnection.prototype, 'bindAsUser').mockImplementation(function (this: LdapConnection, dn: string, password: string) {
      used.add(this);
      maxOpen = Math.max(maxOpen, auth.connections());
      return original.call(this, dn, password);
    });
    const users = ['ludwig', 'wolfgang', 'johann', 'clara'] as const;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => auth.login(users[i % 4]!, slapd.passwords[users[i % 4]!], context)));
    expect(results.map((r) => r.kind)).toEqual(Array(12).fill('ok'));
    expect(used.size).toBe(2);
    expect(maxOpen).toBe(2);
    expect(auth.connections()).toBe(2);
  });

  it('gives the entry as it stands now for a refresh token, or nothing when it is gone', async () => {
    const { auth } = make();
    const ludwig = identityOf(await auth.login('ludwig', slapd.passwords.ludwig, context));
    expect(await auth.refresh(ludwig)).toEqual(ludwig);
    expect(await auth.refresh({ ...ludwig, account: 'salieri', attributes: { ...ludwig.attributes, dn: `uid=salieri,${DIRECTORY.musicians}` } })).toBeUndefined();
    // Wittgenstein's DN is outside the base: not this backend's user any more.
    expect(await auth.refresh({ ...ludwig, attributes: { ...ludwig.attributes, dn: `uid=ludwig,${DIRECTORY.philosophers}` } })).toBeUndefined();
    expect(await auth.refresh({ ...ludwig, attributes: {} })).toBeUndefined();
  });

  it('reads the groups again for a refresh token, and ends it when the entry is filtered out or deleted', async () => {
    const groupSearch = { baseDn: DIRECTORY.groups, filter: '(&(objectClass=groupOfNames)(member={dn}))' };
    const { auth } = make({ attributes: [], groupAttribute: null, groupSearch });
    const admin = new Client({ url: slapd.url });
    await admin.bind(DIRECTORY.adminDn, slapd.adminPassword);
    // A user of this test alone, in team-x, so the fixture's users stay as they are.
    const carlDn = `uid=carl,${DIRECTORY.musicians}`;
    const password = randomBytes(12).toString('hex');
    const membership = (operation: 'add' | 'delete') =>
      admin.modify('cn=team-x,ou=groups,dc=example,dc=org', new Change({ operation, modification: new Attribute({ type: 'member', values: [carlDn] }) }));
    try {
      await admin.add(carlDn, { objectClass: 'inetOrgPerson', uid: 'carl', cn: 'Carl Czerny', sn: 'Czerny', description: 'enabled', userPassword: sshaHash(password) });
      await membership('add');
      const carl = identityOf(await auth.login('carl', password, context));
      expect(carl.attributes.groups).toEqual(['team-x']);
      await membership('delete');
      const now = await auth.refresh(carl);
      expect([now?.account, now?.attributes.groups]).toEqual(['carl', []]);
      // A filter excluding the entry (as one excluding disabled accounts would) ends it.
      const filtered = make({ attributes: [], groupAttribute: null, groupSearch, userFilter: '(&(uid={username})(description=enabled))' }).auth;
      expect((await filtered.refresh(carl))?.account).toBe('carl');
      await admin.modify(carlDn, new Change({ operation: 'replace', modification: new Attribute({ type: 'description', values: ['disabled'] }) }));
      expect(await filtered.refresh(carl)).toBeUndefined();
      await admin.del(carlDn);
      expect(await auth.refresh(carl)).toBeUndefined();
    } finally {
      await admin.unbind();
    }
  });

  it('refuses an entry whose account attribute is not ASCII, telling the user once the password is proven and the operator in the log', async () => {
    const { auth, log } = make({ attributes: [] });
    const admin = new Client({ url: slapd.url });
    await admin.bind(DIRECTORY.adminDn, slapd.adminPassword);
    // KELVIN SIGN: a case-folding comparison would take it for kevin.
    const kelvinDn = `uid=\u212Aevin,${DIRECTORY.musicians}`;
    const password = randomBytes(12).toString('hex');
    try {
      await admin.add(kelvinDn, { objectClass: 'inetOrgPerson', uid: '\u212Aevin', cn: 'Kelvin', sn: 'Kelvin', userPassword: sshaHash(password) });
      const refusal = 'ldap: the entry\'s uid "\\u212Aevin" holds U+212A: account names must be ASCII';
      expect(await auth.login('\u212Aevin', password, context)).toEqual({ kind: 'denied', reason: refusal, message: `${refusal}; ask an administrator` });
      expect(log.events('ldap_account_not_ascii')).toEqual([expect.objectContaining({ dn: kelvinDn, attribute: 'uid' })]);
      // A wrong password learns nothing about the entry.
      expect(await auth.login('\u212Aevin', 'wrong', context)).toEqual({ kind: 'denied', reason: 'ldap: invalid username or password', knownAccount: true });
      // The directory folds case itself (slapd's uid matching takes \u212A for k), so typing kevin
      // finds the entry too: still refused, never the account kevin.
      expect(await auth.login('kevin', password, context)).toEqual({ kind: 'denied', reason: refusal, message: `${refusal}; ask an administrator` });
    } finally {
      await admin.del(kelvinDn).catch(() => undefined);
      await admin.unbind();
    }
  });

  it('answers 503 when the directory rejects the service account, and never logs a password', async () => {
    const wrong = `not-the-bind-password-${randomBytes(6).toString('hex')}`;
    const { auth, log } = make({}, { bindPassword: wrong });
    const err = await auth.login('ludwig', slapd.passwords.ludwig, context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemporarilyUnavailableError);
    expect((err as TemporarilyUnavailableError).status).toBe(503);
    expect((err as Error).message).toBe('the LDAP directory is unavailable; try again shortly');
    expect(log.events('ldap_service_bind_refused')[0]).toMatchObject({ level: 50, code: 49, bindDn: DIRECTORY.serviceDn });
    expect(log.text()).not.toContain(wrong);
    expect(log.text()).not.toContain(slapd.passwords.ludwig);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain(wrong);
  });

  it('answers 503 when the search base does not exist, naming it in the log', async () => {
    const { auth, log } = make({ baseDn: `ou=nowhere,${DIRECTORY.suffix}` });
    await expect(auth.login('ludwig', slapd.passwords.ludwig, context)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(log.events('ldap_search_failed')[0]).toMatchObject({ level: 50, code: 32, msg: `user search: the base DN ou=nowhere,${DIRECTORY.suffix} does not exist` });
  });
});

describe('LdapAuthenticator: TLS', () => {
  it('upgrades with StartTLS before anything is sent, verifying the server with the CA file', async () => {
    const { auth, log } = make({ startTls: true });
    const start = slapd.allLogs().length;
    expect(identityOf(await auth.login('wolfgang', slapd.passwords.wolfgang, context)).account).toBe('wolfgang');
    // slapd writes its log after answering: wait for the user's bind line.
    await waitUntil('the bind in slapd’s log', async () => (slapd.allLogs().slice(start).some((l) => l.includes('BIND dn="uid=wolfgang,')) ? true : undefined));
    const lines = slapd.allLogs().slice(start);
    const firstBind = lines.findIndex((l) => l.includes('BIND dn="cn=wharf'));
    const conn = /conn=(\d+)/.exec(lines[firstBind] ?? '')?.[1];
    expect(conn).toBeDefined();
    const ofConn = lines.filter((l) => l.includes(`conn=${conn} `));
    const order = ofConn.map((l) => (/STARTTLS|TLS established|BIND/.exec(l) ?? [''])[0]).filter((x) => x !== '');
    // slapd logs the StartTLS request, then the handshake, and only then any bind (the service's, then the user's).
    expect(order.slice(0, 3)).toEqual(['STARTTLS', 'TLS established', 'BIND']);
    expect(ofConn.some((l) => l.includes('BIND dn="uid=wolfgang,'))).toBe(true);
    expect(log.events('ldap_plaintext')).toEqual([]);
  });

  it('speaks ldaps:// with the CA file', async () => {
    const { auth, log } = make({ url: slapd.ldapsUrl, startTls: false });
    const tlsBefore = slapdCount(/TLS established/);
    expect(identityOf(await auth.login('johann', slapd.passwords.johann, context)).account).toBe('johann');
    await waitUntil('the handshake in slapd’s log', async () => (slapdCount(/TLS established/) > tlsBefore ? true : undefined));
    expect(slapdCount(/TLS established/)).toBe(tlsBefore + 1);
    expect(log.events('ldap_plaintext')).toEqual([]);
  });

  it('refuses a server certificate from another CA with 503, and sends no bind at all', async () => {
    const bindsBefore = slapdCount(/BIND dn="cn=wharf/);
    const adminBindsBefore = slapdCount(/BIND dn="cn=admin,dc=example,dc=org"/);
    for (const patch of [{ startTls: true }, { url: slapd.ldapsUrl, startTls: false }]) {
      const { auth, log } = make(patch, { ca: slapd.certificates!.otherCaFile });
      await expect(auth.login('ludwig', slapd.passwords.ludwig, context)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
      const line = log.events('ldap_unavailable')[0];
      expect(line).toMatchObject({ level: 40, what: 'login' });
      expect(String(line?.why)).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|unable to verify/i);
    }
    // A marker bind on another connection; once slapd has logged it, it has logged the failed connections too.
    const marker = new Client({ url: slapd.url });
    await marker.bind(DIRECTORY.adminDn, slapd.adminPassword);
    await marker.unbind();
    await waitUntil('the marker bind in slapd’s log', async () => (slapdCount(/BIND dn="cn=admin,dc=example,dc=org"/) > adminBindsBefore ? true : undefined));
    // The StartTLS failure did not fall back to sending the bind in clear text on a new connection.
    expect(slapdCount(/BIND dn="cn=wharf/)).toBe(bindsBefore);
  });

  it('warns at startup about plain ldap:// (and still works)', async () => {
    const { auth, log } = make({ startTls: false });
    const warning = log.events('ldap_plaintext')[0];
    expect(warning).toMatchObject({ level: 40, ldap: slapd.url });
    expect(String(warning?.msg)).toContain('clear text');
    expect(identityOf(await auth.login('ludwig', slapd.passwords.ludwig, context)).account).toBe('ludwig');
  });
});

describe('createLdapAuthenticator (the registry factory)', () => {
  it('reads the bind password and CA files, and reports the directory ready at startup', async () => {
    const log = captureLog('debug');
    const config = ldapAuthnSchema.parse({
      type: 'ldap',
      url: slapd.url,
      startTls: true,
      caFile: slapd.certificates!.caFile,
      bindDn: DIRECTORY.serviceDn,
      bindPasswordFile: await slapd.servicePasswordFile(),
      baseDn: DIRECTORY.musicians,
    });
    const auth = createLdapAuthenticator(config, { cache: new MemoryCache({ maxEntries: 10 }), hashKey, logger: log.logger, readSecret: secretReader({}) });
    made.push(auth);
    await waitUntil('ldap_ready', async () => (log.events('ldap_ready').length > 0 ? true : undefined), { timeoutMs: 5000 });
    expect(identityOf(await auth.login('ludwig', slapd.passwords.ludwig, context)).account).toBe('ludwig');
  });

  it('takes the password from WHARF_LDAP_BIND_PASSWORD and warns when the directory refuses it', async () => {
    const log = captureLog('debug');
    const config = ldapAuthnSchema.parse({ type: 'ldap', url: slapd.ldapsUrl, caFile: slapd.certificates!.caFile, bindDn: DIRECTORY.serviceDn, baseDn: DIRECTORY.musicians });
    const deps = { cache: new MemoryCache({ maxEntries: 10 }), hashKey, logger: log.logger };
    const good = createLdapAuthenticator(config, { ...deps, readSecret: secretReader({ WHARF_LDAP_BIND_PASSWORD: slapd.passwords.wharf }) });
    made.push(good);
    expect(identityOf(await good.login('clara', slapd.passwords.clara, context)).account).toBe('clara');

    const bad = createLdapAuthenticator(config, { ...deps, readSecret: secretReader({ WHARF_LDAP_BIND_PASSWORD: 'definitely-wrong-password' }) });
    made.push(bad);
    await waitUntil('ldap_probe_failed', async () => log.events('ldap_probe_failed')[0], { timeoutMs: 5000 });
    expect(log.events('ldap_probe_failed')[0]).toMatchObject({
      level: 40,
      why: `the directory rejected the service account ${DIRECTORY.serviceDn} (wrong bindDn or password)`,
    });
    expect(log.text()).not.toContain('definitely-wrong-password');
    expect(log.text()).not.toContain(slapd.passwords.wharf);
  });

  it('refuses to start without a readable bind password or CA file, naming the file and never a secret', () => {
    const deps = { cache: new MemoryCache({ maxEntries: 10 }), hashKey, logger: captureLog('debug').logger, readSecret: secretReader({}) };
    const base = { type: 'ldap', url: slapd.ldapsUrl, bindDn: DIRECTORY.serviceDn, baseDn: DIRECTORY.musicians };
    expect(() => createLdapAuthenticator(ldapAuthnSchema.parse({ ...base, bindPasswordFile: '/nonexistent/ldap.pw' }), deps)).toThrow(
      'LDAP bind password: cannot read secret file /nonexistent/ldap.pw (ENOENT)',
    );
    expect(() => createLdapAuthenticator(ldapAuthnSchema.parse(base), deps)).toThrow(
      'LDAP bind password: no secret: set environment variable WHARF_LDAP_BIND_PASSWORD or a secret file',
    );
    expect(() =>
      createLdapAuthenticator(ldapAuthnSchema.parse({ ...base, caFile: '/nonexistent/ca.pem' }), { ...deps, readSecret: secretReader({ WHARF_LDAP_BIND_PASSWORD: 'x' }) }),
    ).toThrow('LDAP caFile: cannot read /nonexistent/ca.pem (ENOENT)');
  });
});
