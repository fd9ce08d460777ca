import { secretReader } from '../../src/config/secrets.js';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../../src/authn/authenticator.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import type { Identity } from '../../src/domain/identity.js';
import { captureLog } from '../support/log-capture.js';

/** A username and password, as `docker login` sends them. */
export interface Credential {
  readonly username: string;
  readonly password: string;
}

/** One backend built for one case, with the credentials that case uses and what it logged. */
export interface AuthenticatorUnderTest {
  readonly authenticator: PasswordAuthenticator;
  /** A credential the backend accepts (with its upstream up). */
  readonly valid: Credential;
  /** What the identity proved by `valid` must hold (compared with toMatchObject). */
  readonly identity: Partial<Identity> & { readonly account: string };
  /**
   * Credentials of a user the backend knows, with a wrong secret. Built for an outage: only those
   * the backend cannot refute without its upstream (the rest may still be rightly refused).
   */
  readonly wrong: readonly Credential[];
  /** Credentials that are not this backend's to judge (unknown user, another backend's token). */
  readonly foreign: readonly Credential[];
  /** The key of the backend's keyed hashes: no form of it may reach a log line. */
  readonly hashKey: Buffer;
  /** Further secrets the backend holds (client secret, bind password) that no log line may hold. */
  readonly secrets?: readonly string[];
  /** What the backend's logger wrote; absent for backends that take no logger. */
  readonly logs?: () => string;
  /** Releases what the backend or its upstream hold (connection pools, stores, servers). */
  close?(): Promise<void>;
}

/** How one backend is run through the contract. */
export interface PasswordAuthenticatorHarness {
  /**
   * What a wrong secret for a known user gets: `denied`, or `no_match` where the backend cannot
   * tell a wrong secret from a credential of another backend (say why where it is used).
   */
  readonly wrongSecret: 'denied' | 'no_match';
  /** Whether the backend implements `recall`; when it does, recall has a contract of its own. */
  readonly recalls: boolean;
  /** Builds the backend with its upstream up; every call a fresh backend that remembers nothing. */
  make(): Promise<AuthenticatorUnderTest>;
  /**
   * Each way the backend's upstream can be down, building the backend against an upstream down
   * that way. Empty only for a backend that has no upstream (say so where it is used).
   */
  readonly outages: Readonly<Record<string, () => Promise<AuthenticatorUnderTest>>>;
}

/**
 * What every backend factory is given, fresh per backend: an empty cache, a new hash key, a
 * captured logger (without redaction: a backend must never hand it a secret, not lean on the
 * safety net), and `env` for the secrets the config names. Last in the chain, as a lone backend is.
 */
export function freshDeps(env: Readonly<Record<string, string>> = {}) {
  const hashKey = randomBytes(32);
  const log = captureLog('trace', { unredacted: true });
  return { hashKey, logs: log.text, deps: { cache: new MemoryCache({ maxEntries: 1000 }), hashKey, logger: log.logger, readSecret: secretReader(env), lastInChain: true } };
}

const context: LoginContext = { clientIp: '192.0.2.10', service: 'registry' };

/**
 * What must never reach a log line, and what to call it in a failure: each secret whole and its
 * last 16 characters (the random part of a prefixed token, a JWT's signature), the hash key in
 * every encoding it could be printed in.
 */
function leakForms(sut: AuthenticatorUnderTest): Array<{ form: string; what: string }> {
  const key = sut.hashKey;
  const forms = (['hex', 'base64', 'base64url', 'latin1'] as const).map((encoding) => ({ form: key.toString(encoding), what: `the hash key (${encoding})` }));
  const secrets = [...[sut.valid, ...sut.wrong, ...sut.foreign].map((c) => ({ secret: c.password, what: `a password given for ${JSON.stringify(c.username)}` })), ...(sut.secrets ?? []).map((secret) => ({ secret, what: 'a secret of the backend' }))];
  for (const { secret, what } of secrets) {
    if (secret.length >= 8) forms.push({ form: secret, what });
    if (secret.length >= 24) forms.push({ form: secret.slice(-16), what: `the end of ${what}` });
  }
  return forms;
}

function expectNoSecretLogged(sut: AuthenticatorUnderTest): void {
  const logs = sut.logs?.() ?? '';
  for (const { form, what } of leakForms(sut)) {
    if (logs.includes(form)) throw new Error(`a log line holds ${what}:\n${logs}`);
  }
}

/** Runs `check` on a fresh backend, then the log check, then releases it whatever happened. */
async function withBackend(make: () => Promise<AuthenticatorUnderTest>, check: (sut: AuthenticatorUnderTest) => Promise<void>): Promise<void> {
  const sut = await make();
  try {
    await check(sut);
    expectNoSecretLogged(sut);
  } finally {
    await sut.close?.();
  }
}

const describeResult = (r: AuthnResult | undefined) => (r === undefined ? 'undefined' : r.kind);

/**
 * The behaviour every PasswordAuthenticator must have (Dex's shared conformance suite): unknown
 * credentials pass on, wrong secrets are refused, an upstream that cannot answer is an outage
 * (503) and never a refusal or a success, correct credentials prove their identity, recall never
 * refuses, and no secret is ever logged. `type` is the backend's type, which the backend under
 * test must report: `test/architecture/contract-coverage.test.ts` finds the runs of every
 * registered type by it.
 */
export function passwordAuthenticatorContract(type: string, harness: PasswordAuthenticatorHarness): void {
  describe(`${type} password authenticator contract`, () => {
    it('passes on credentials that are not its own (no_match), in login and in recall', async () => {
      await withBackend(harness.make, async (sut) => {
        expect(sut.foreign.length).toBeGreaterThan(0);
        for (const c of sut.foreign) {
          expect(await sut.authenticator.login(c.username, c.password, context), `login of foreign ${JSON.stringify(c.username)}`).toEqual({ kind: 'no_match' });
          // Last in the chain a backend may leave an unknown user to a login (timing), but it never judges one.
          const recalled = await sut.authenticator.recall?.(c.username, c.password, context);
          expect(['undefined', 'no_match'], `recall of foreign ${JSON.stringify(c.username)}`).toContain(describeResult(recalled));
        }
      });
    });

    it(`answers a wrong secret for a known user with ${harness.wrongSecret}`, async () => {
      await withBackend(harness.make, async (sut) => {
        expect(sut.wrong.length).toBeGreaterThan(0);
        // The right credential first, so a backend that remembers successes has something to confuse.
        expect((await sut.authenticator.login(sut.valid.username, sut.valid.password, context)).kind).toBe('ok');
        for (const c of sut.wrong) {
          const result = await sut.authenticator.login(c.username, c.password, context);
          expect(result.kind, `login of ${JSON.stringify(c.username)} with a wrong secret`).toBe(harness.wrongSecret);
        }
      });
    });

    it('proves the identity of a correct credential, again when asked again', async () => {
      await withBackend(harness.make, async (sut) => {
        expect(sut.authenticator.type, 'the type of the backend this run is named for').toBe(type);
        for (let attempt = 1; attempt <= 2; attempt++) {
          const result = await sut.authenticator.login(sut.valid.username, sut.valid.password, context);
          if (result.kind !== 'ok') throw new Error(`attempt ${attempt}: expected ok, got ${JSON.stringify(result)}`);
          expect(result.identity).toMatchObject(sut.identity);
        }
      });
    });

    if (harness.recalls) {
      it('recalls only what it verified: never denied, never a wrong secret as ok', async () => {
        await withBackend(harness.make, async (sut) => {
          const recall = sut.authenticator.recall?.bind(sut.authenticator);
          expect(recall, 'the harness says this backend recalls').toBeTypeOf('function');
          // Before any login: unknown, or ok where the backend's own record is the proof (registry credentials).
          const before = await recall!(sut.valid.username, sut.valid.password, context);
          if (before !== undefined) expect(before).toMatchObject({ kind: 'ok', identity: sut.identity });
          for (const c of sut.wrong) {
            await sut.authenticator.login(c.username, c.password, context);
            const recalled = await recall!(c.username, c.password, context);
            expect(['undefined', 'no_match'], `recall of a refused secret of ${JSON.stringify(c.username)}`).toContain(describeResult(recalled));
          }
          expect((await sut.authenticator.login(sut.valid.username, sut.valid.password, context)).kind).toBe('ok');
          const remembered = await recall!(sut.valid.username, sut.valid.password, context);
          if (remembered !== undefined) expect(remembered).toMatchObject({ kind: 'ok', identity: sut.identity });
          for (const c of sut.wrong) {
            const recalled = await recall!(c.username, c.password, context);
            expect(['undefined', 'no_match'], `recall of a wrong secret of ${JSON.stringify(c.username)} after the right one`).toContain(describeResult(recalled));
          }
        });
      });
    }

    for (const [outage, make] of Object.entries(harness.outages)) {
      it(`fails closed while its upstream is down (${outage}): unavailable, never denied, never ok`, async () => {
        await withBackend(make, async (sut) => {
          for (const c of [sut.valid, ...sut.wrong]) {
            const outcome = await sut.authenticator.login(c.username, c.password, context).then(
              (r) => new Error(`login of ${JSON.stringify(c.username)} answered ${JSON.stringify(r)} while its upstream is down`),
              (err: unknown) => err,
            );
            expect(outcome).toBeInstanceOf(TemporarilyUnavailableError);
            const recalled = await sut.authenticator.recall?.(c.username, c.password, context).then(
              (r) => r,
              (err: unknown) => {
                expect(err).toBeInstanceOf(TemporarilyUnavailableError);
                return undefined;
              },
            );
            expect(['undefined', 'no_match'], `recall of ${JSON.stringify(c.username)} while the upstream is down`).toContain(describeResult(recalled));
          }
        });
      });
    }
  });
}
