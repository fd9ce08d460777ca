import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'ldapts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LdapAuthenticator } from '../../src/authn/ldap/ldap-authenticator.js';
import { ldapAuthnSchema } from '../../src/authn/ldap/ldap-config.js';
import { LdapConnection, LdapConnectionError } from '../../src/authn/ldap/ldap-pool.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { freePort, useSilentServers } from '../support/ports.js';
import { waitUntil } from '../support/processes.js';
import { DIRECTORY, startSlapd, type SlapdHandle } from '../support/slapd.js';
import { captureLog } from '../support/log-capture.js';

/*
 * A directory that is down, frozen or restarting must answer 503 `temporarily_unavailable`
 * quickly: never 401 (the password may be right) and never a hang.
 */

let slapd: SlapdHandle;
const context = { clientIp: '127.0.0.1', service: 'registry' };
const made: LdapAuthenticator[] = [];
const silentServer = useSilentServers();

beforeAll(async () => {
  slapd = await startSlapd({ tls: true });
});
afterEach(async () => {
  slapd.resume();
  await Promise.all(made.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await slapd?.stop();
});

/** Short timeouts: connect 300 ms, each operation 400 ms, so the whole login budget is 1.1 s. */
function make(patch: Record<string, unknown> = {}) {
  const { logger, lines } = captureLog('debug');
  const config = ldapAuthnSchema.parse({
    type: 'ldap',
    url: slapd.url,
    bindDn: DIRECTORY.serviceDn,
    baseDn: DIRECTORY.musicians,
    connectTimeoutMs: 300,
    timeoutMs: 400,
    verifiedCacheSeconds: 0,
    ...patch,
  });
  const auth = new LdapAuthenticator(config, { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32), logger, bindPassword: slapd.passwords.wharf });
  made.push(auth);
  return { auth, lines };
}

const BUDGET_MS = 300 + 2 * 400;

/** Runs a login expected to fail with 503; resolves with how long it took. */
async function expect503(auth: LdapAuthenticator, username = 'ludwig'): Promise<number> {
  const started = Date.now();
  const err = await auth.login(username, slapd.passwords.ludwig, context).then(
    (r) => new Error(`expected 503, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TemporarilyUnavailableError);
  expect((err as TemporarilyUnavailableError).status).toBe(503);
  expect((err as TemporarilyUnavailableError).code).toBe('temporarily_unavailable');
  return Date.now() - started;
}

describe('LdapAuthenticator when the directory is unavailable', () => {
  it('answers 503 at once when nothing listens', async () => {
    const { auth, lines } = make({ url: `ldap://127.0.0.1:${await freePort()}` });
    expect(await expect503(auth)).toBeLessThan(1000);
    expect(lines.find((l) => l.event === 'ldap_unavailable')).toMatchObject({ level: 40, why: expect.stringContaining('ECONNREFUSED') });
  });

  it.each([
    ['plain ldap://', (port: number) => ({ url: `ldap://127.0.0.1:${port}` })],
    ['StartTLS', (port: number) => ({ url: `ldap://127.0.0.1:${port}`, startTls: true })],
    ['ldaps://', (port: number) => ({ url: `ldaps://127.0.0.1:${port}` })],
  ])('answers 503 within the budget when a %s server accepts but never answers', async (_name, patch) => {
    const { auth } = make(patch(await silentServer()));
    const took = await expect503(auth);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(BUDGET_MS + 500);
  });

  it('answers 503 while slapd is frozen, for every queued login too, and works again once it thaws', async () => {
    const { auth } = make({ poolSize: 1 });
    expect((await auth.login('ludwig', slapd.passwords.ludwig, context)).kind).toBe('ok');
    slapd.pause();
    const started = Date.now();
    const outcomes = await Promise.allSettled([auth.login('ludwig', slapd.passwords.ludwig, context), auth.login('wolfgang', slapd.passwords.wolfgang, context), auth.login('johann', slapd.passwords.johann, context)]);
    const took = Date.now() - started;
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const o of outcomes) expect((o as PromiseRejectedResult).reason).toBeInstanceOf(TemporarilyUnavailableError);
    expect(took).toBeLessThan(BUDGET_MS + 500);
    slapd.resume();
    // The connection that timed out was discarded; a fresh one works.
    expect((await auth.login('ludwig', slapd.passwords.ludwig, context)).kind).toBe('ok');
    expect(auth.connections()).toBe(1);
  });

  it('answers 503 while slapd is down and recovers after a restart without a failed login', async () => {
    const { auth } = make({ poolSize: 2 });
    expect((await auth.login('ludwig', slapd.passwords.ludwig, context)).kind).toBe('ok');
    await slapd.kill();
    expect(await expect503(auth)).toBeLessThan(1000);
    await slapd.restart();
    expect((await auth.login('ludwig', slapd.passwords.ludwig, context)).kind).toBe('ok');
    // A pooled connection the server closed (restart, idle timeout) is replaced, not turned into a 503.
    await slapd.kill();
    await slapd.restart();
    expect((await auth.login('wolfgang', slapd.passwords.wolfgang, context)).kind).toBe('ok');
    expect((await auth.refresh({ account: 'wolfgang', provider: 'ldap', subject: '', attributes: { dn: `uid=wolfgang,${DIRECTORY.musicians}` } }))?.account).toBe('wolfgang');
  });

  it('never lets a dropped StartTLS connection reconnect in clear text and re-send a bind', async () => {
    const connection = new LdapConnection({
      url: slapd.url,
      startTls: true,
      tls: { ca: readFileSync(slapd.certificates!.caFile) },
      connectTimeoutMs: 1000,
      timeoutMs: 1000,
      size: 1,
      bindDn: DIRECTORY.serviceDn,
      bindPassword: slapd.passwords.wharf,
    });
    try {
      await connection.bindAsService();
      expect(await connection.search(DIRECTORY.musicians, { filter: '(uid=ludwig)', attributes: ['1.1'] })).toHaveLength(1);
      await slapd.kill();
      await slapd.restart();
      const start = slapd.allLogs().length;
      await expect(connection.bindAsUser(`uid=ludwig,${DIRECTORY.musicians}`, slapd.passwords.ludwig)).rejects.toBeInstanceOf(LdapConnectionError);
      expect(connection.usable()).toBe(false);
      // Underneath, ldapts itself would reconnect (plain TCP: the StartTLS upgrade is not replayed); the one-socket rule stops it.
      const client = (connection as unknown as { client: Client }).client;
      await expect(client.bind(`uid=ludwig,${DIRECTORY.musicians}`, slapd.passwords.ludwig)).rejects.toThrow('not reconnecting');
      // A marker bind on another connection; once slapd logged it, nothing else reached it.
      const marker = new Client({ url: slapd.url });
      await marker.bind(DIRECTORY.adminDn, slapd.adminPassword);
      await marker.unbind();
      await waitUntil('the marker bind', async () => (slapd.allLogs().slice(start).some((l) => l.includes('BIND dn="cn=admin')) ? true : undefined));
      expect(slapd.allLogs().slice(start).filter((l) => /BIND dn="(uid|cn=wharf)/.test(l))).toEqual([]);
    } finally {
      connection.destroy();
    }
  });

  it('answers 503 from refresh rather than calling a valid identity invalid', async () => {
    const { auth } = make({ url: `ldap://127.0.0.1:${await freePort()}` });
    await expect(auth.refresh({ account: 'ludwig', provider: 'ldap', subject: '', attributes: { dn: `uid=ludwig,${DIRECTORY.musicians}` } })).rejects.toBeInstanceOf(
      TemporarilyUnavailableError,
    );
  });
});
