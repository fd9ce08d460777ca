import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilterParser, type Filter } from 'ldapts';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import { ldapAuthnSchema, type LdapAuthnConfig } from '../../src/authn/ldap/ldap-config.js';
import { firstRdnValue, sameDn } from '../../src/authn/ldap/ldap-dn.js';
import { escapeFilterValue, fillFilter, filterTemplateProblem } from '../../src/authn/ldap/ldap-filter.js';
import { preflightLdap } from '../../src/authn/ldap/ldap-preflight.js';
import { freePort } from '../support/ports.js';

const minimal = { type: 'ldap', url: 'ldaps://ldap.example.org', bindDn: 'cn=wharf,dc=example,dc=org', baseDn: 'ou=people,dc=example,dc=org' } as const;

/** Every problem zod reports, as `path: message`. */
function problems(input: unknown): string[] {
  const r = ldapAuthnSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('escapeFilterValue (RFC 4515)', () => {
  it('escapes the filter metacharacters, NUL and other control characters, and nothing else', () => {
    expect(escapeFilterValue('*')).toBe('\\2a');
    expect(escapeFilterValue(')(uid=*')).toBe('\\29\\28uid=\\2a');
    expect(escapeFilterValue('a\\b')).toBe('a\\5cb');
    expect(escapeFilterValue('nul\0x')).toBe('nul\\00x');
    expect(escapeFilterValue('tab\tdel\u007f')).toBe('tab\\09del\\7f');
    expect(escapeFilterValue('Zoë Ω 🎻 plain-name_1.2@example.org')).toBe('Zoë Ω 🎻 plain-name_1.2@example.org');
  });

  it.each(['*', ')(uid=*', 'ludwig)(|(uid=*', '\\2a', '\\', 'a\0b', '(', 'x)(objectClass=*)(x=y'])(
    'turns %j into one equality assertion on exactly that value',
    (username) => {
      const filter = FilterParser.parseString(fillFilter('(uid={username})', { username })) as Filter & { attribute?: string; value?: unknown };
      expect(filter.constructor.name).toBe('EqualityFilter');
      expect(filter.attribute).toBe('uid');
      expect(filter.value).toBe(username);
    },
  );

  it('fills every occurrence of every placeholder and refuses a missing value', () => {
    expect(fillFilter('(|(uid={username})(mail={username}))', { username: 'a*' })).toBe('(|(uid=a\\2a)(mail=a\\2a))');
    expect(fillFilter('(&(member={dn})(cn={username}))', { dn: 'cn=a\\,b', username: 'x' })).toBe('(&(member=cn=a\\5c,b)(cn=x))');
    expect(() => fillFilter('(uid={user})', { username: 'x' })).toThrow('{user}');
  });
});

describe('filter templates', () => {
  it('accepts the usual user filters', () => {
    for (const f of ['(uid={username})', '(sAMAccountName={username})', '(mail={username})', '(&(objectClass=person)(|(uid={username})(mail={username})))']) {
      expect(filterTemplateProblem(f, ['username'], ['username'])).toBeUndefined();
    }
    // Group filters, including Active Directory's nested-membership matching rule.
    for (const f of ['(member={dn})', '(memberUid={username})', '(member:1.2.840.113556.1.4.1941:={dn})']) {
      expect(filterTemplateProblem(f, ['dn', 'username'], ['dn', 'username'])).toBeUndefined();
    }
  });

  it('names unknown placeholders, a missing placeholder and broken syntax', () => {
    expect(filterTemplateProblem('(uid={user})', ['username'], ['username'])).toBe('unknown placeholder {user}: only {username} is allowed');
    expect(filterTemplateProblem('(&(uid={login})(cn={name}))', ['username'], ['username'])).toBe('unknown placeholders {login}, {name}: only {username} is allowed');
    expect(filterTemplateProblem('(uid=ludwig)', ['username'], ['username'])).toBe('must contain {username}');
    expect(filterTemplateProblem('uid={username}', ['username'], ['username'])).toMatch(/parenthesised/);
    expect(filterTemplateProblem('(uid={username}))', ['username'], ['username'])).toMatch(/not a valid LDAP filter/);
    expect(filterTemplateProblem('(member={group})', ['dn', 'username'], ['dn', 'username'])).toBe('unknown placeholder {group}: only {dn}, {username} are allowed');
  });
});

describe('ldap config schema', () => {
  it('fills the documented defaults', () => {
    const config = ldapAuthnSchema.parse(minimal);
    expect(config).toEqual({
      ...minimal,
      startTls: false,
      bindPasswordEnv: 'WHARF_LDAP_BIND_PASSWORD',
      scope: 'sub',
      userFilter: '(uid={username})',
      accountAttribute: 'uid',
      groupAttribute: 'memberOf',
      attributes: [],
      connectTimeoutMs: 3000,
      timeoutMs: 5000,
      poolSize: 4,
      verifiedCacheSeconds: 60,
    });
    expect(ldapAuthnSchema.parse({ ...minimal, groupSearch: { baseDn: 'ou=groups,dc=example,dc=org' } }).groupSearch).toEqual({
      baseDn: 'ou=groups,dc=example,dc=org',
      filter: '(member={dn})',
      nameAttribute: 'cn',
      scope: 'sub',
    });
  });

  it('reports every mistake at once, with its path', () => {
    expect(
      problems({
        ...minimal,
        url: 'https://ldap.example.org',
        userFilter: '(uid={user})',
        attributes: ['mail', 'userPassword', 'groups', 'bad name'],
        groupSearch: { baseDn: 'ou=groups', filter: '(member={group})' },
        poolSize: 0,
      }),
    ).toEqual([
      'url: must be ldap://host[:port] or ldaps://host[:port], without a path',
      'userFilter: unknown placeholder {user}: only {username} is allowed',
      'groupSearch.filter: unknown placeholder {group}: only {dn}, {username} are allowed',
      'attributes.3: must be an LDAP attribute name such as uid or mail',
      'attributes.1: userPassword holds a password and is never copied',
      'attributes.2: groups is filled by Wharf itself (dn, groups, groupDns)',
      'poolSize: Too small: expected number to be >=1',
    ]);
    expect(problems({ ...minimal, startTls: true })).toEqual(['startTls: startTls is for ldap:// URLs; an ldaps:// connection is TLS from the start']);
    expect(problems({ ...minimal, url: 'ldap://ldap.example.org:389', caFile: '/etc/ssl/ca.pem' })).toEqual([
      'caFile: caFile has no effect on a plain ldap:// connection: set startTls: true or use ldaps://',
    ]);
    expect(problems({ type: 'ldap', url: 'ldap://h', extra: 1 })).toEqual([
      'bindDn: Invalid input: expected string, received undefined',
      'baseDn: Invalid input: expected string, received undefined',
      ': Unrecognized key: "extra"',
    ]);
  });

  it('works as a member of a discriminated union on type, as the root config uses it', () => {
    const union = z.discriminatedUnion('type', [ldapAuthnSchema, z.strictObject({ type: z.literal('static') })]);
    expect(union.parse(minimal).type).toBe('ldap');
    const bad = union.safeParse({ ...minimal, userFilter: '(cn={name})' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.message)).toEqual(['unknown placeholder {name}: only {username} is allowed']);
  });
});

describe('DN helpers', () => {
  it('names a group by its first RDN value, unescaped', () => {
    expect(firstRdnValue('cn=team-x,ou=groups,dc=example,dc=org')).toBe('team-x');
    expect(firstRdnValue('cn=Strings\\, Winds,ou=groups,dc=example,dc=org')).toBe('Strings, Winds');
    expect(firstRdnValue('CN=R\\2cD\\2B Ops,OU=Groups')).toBe('R,D+ Ops');
    expect(firstRdnValue('cn=Zo\\C3\\AB,ou=g')).toBe('Zoë');
    expect(firstRdnValue('cn=a+sn=b,ou=g')).toBe('a');
    expect(firstRdnValue('not a dn')).toBeUndefined();
    expect(sameDn('uid=Ludwig, ou=Musicians,dc=example,dc=org', 'uid=ludwig,ou=musicians,dc=example,dc=org')).toBe(true);
    expect(sameDn('uid=ludwig,ou=musicians', 'uid=ludwig,ou=philosophers')).toBe(false);
    expect(sameDn('cn=Schumann\\2C Robert,ou=m', 'CN=schumann\\, robert, OU=M')).toBe(true);
    expect(sameDn('cn=a\\,b=c,ou=m', 'cn=a,b=c,ou=m')).toBe(false);
    expect(sameDn('cn=Zo\\C3\\AB,ou=m', 'cn=Zoë,ou=m')).toBe(true);
  });
});

describe('preflightLdap (config check beyond the schema)', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  async function listening(): Promise<number> {
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  it('finds a missing bind password file, an empty one and an unreadable CA file as errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-ldap-preflight-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'empty.pw'), '\n');
    await writeFile(join(dir, 'not-a-cert.pem'), 'hello');
    const base = ldapAuthnSchema.parse({ ...minimal, url: `ldaps://127.0.0.1:${await listening()}` });
    const check = (patch: Partial<LdapAuthnConfig>) => preflightLdap({ ...base, ...patch }, {}, { path: 'authn.1', connect: false });

    expect(await check({ bindPasswordFile: join(dir, 'missing.pw') })).toEqual([
      { severity: 'error', path: 'authn.1.bindPasswordFile', message: `cannot read ${join(dir, 'missing.pw')} (ENOENT)` },
    ]);
    expect(await check({ bindPasswordFile: join(dir, 'empty.pw') })).toEqual([
      { severity: 'error', path: 'authn.1.bindPasswordFile', message: `${join(dir, 'empty.pw')} is empty` },
    ]);
    expect(await check({ caFile: join(dir, 'not-a-cert.pem') })).toEqual([
      { severity: 'warning', path: 'authn.1.bindPasswordEnv', message: 'environment variable WHARF_LDAP_BIND_PASSWORD is not set here; Wharf will not start without it (or set bindPasswordFile)' },
      { severity: 'error', path: 'authn.1.caFile', message: `${join(dir, 'not-a-cert.pem')} holds no PEM certificate` },
    ]);
  });

  it('warns about plain ldap:// and about an unreachable directory, but not about a reachable one', async () => {
    const dead = await freePort();
    const alive = await listening();
    const env = { WHARF_LDAP_BIND_PASSWORD: 'secret-value-never-printed' };
    const plain = ldapAuthnSchema.parse({ ...minimal, url: `ldap://127.0.0.1:${dead}`, connectTimeoutMs: 500 });
    const findings = await preflightLdap(plain, env, { path: 'authn.0' });
    expect(findings).toEqual([
      { severity: 'warning', path: 'authn.0.url', message: 'plain ldap:// without startTls: bind passwords cross the network in clear text' },
      { severity: 'warning', path: 'authn.0.url', message: `ldap://127.0.0.1:${dead} is unreachable now (ECONNREFUSED); LDAP logins will answer 503 until it is` },
    ]);
    expect(JSON.stringify(findings)).not.toContain('secret-value-never-printed');
    expect(await preflightLdap({ ...plain, url: `ldap://127.0.0.1:${alive}`, startTls: true }, env)).toEqual([]);
  });
});
