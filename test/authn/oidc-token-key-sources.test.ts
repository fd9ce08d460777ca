import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuthnResult } from '../../src/authn/authenticator.js';
import { OidcTokenAuthenticator } from '../../src/authn/oidc-token/oidc-token-authenticator.js';
import { oidcTokenBackend } from '../../src/authn/oidc-token/oidc-token-backend.js';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { startClusterIssuer, type ClusterIssuer } from '../support/cluster-issuer.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

const ctx = { clientIp: '10.0.0.7', service: 'registry' };
const START = Date.UTC(2026, 11, 7, 10);
let now = START;
const clock = () => now;
/** What real clusters name as their issuer, which Wharf outside the cluster cannot reach. */
const IN_CLUSTER_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** An API server with a private CA that serves its keys only to a bearer token, its issuer unreachable. */
let apiServer: ClusterIssuer;
/** A cluster whose issuer is its own HTTPS URL (discovery works), also behind a bearer token. */
let discoverable: ClusterIssuer;
/** An HTTPS server of another origin, to which a discovery document points. */
let elsewhere: ClusterIssuer;
let dir: string;

beforeAll(async () => {
  apiServer = await startClusterIssuer({ https: true, requireBearer: true, issuer: IN_CLUSTER_ISSUER, now: clock });
  elsewhere = await startClusterIssuer({ https: true, now: clock });
  discoverable = await startClusterIssuer({ https: true, requireBearer: true, now: clock });
  dir = await mkdtemp(join(tmpdir(), 'wharf-k8s-keys-'));
});
afterAll(() => shutDown(apiServer, discoverable, elsewhere, dir));
beforeEach(() => {
  now = START;
});

function setup(issuer: Record<string, unknown>, issuerUrl = IN_CLUSTER_ISSUER) {
  const log = captureLog('debug');
  const config = oidcTokenAuthnSchema.parse({
    type: 'oidc-token',
    issuers: [{ issuer: issuerUrl, audiences: ['wharf'], ...issuer }],
    rules: [{ issuer: issuerUrl, account: '${kubernetes.io.namespace}', pull: ['${kubernetes.io.namespace}/*'] }],
    timeoutMs: 2000,
    retries: 0,
  });
  const auth = new OidcTokenAuthenticator(config, { logger: log.logger, now: clock });
  return { auth, login: (token: string) => auth.login('kubelet', token, ctx), logs: log.text };
}

const reasonOf = (result: AuthnResult) => (result.kind === 'denied' ? result.reason : `not denied: ${result.kind}`);
const since = (issuer: ClusterIssuer, before: ReturnType<ClusterIssuer['fetches']>) => {
  const after = issuer.fetches();
  return { discovery: after.discovery - before.discovery, jwks: after.jwks - before.jwks, refused: after.refused - before.refused };
};

describe('oidc-token keys: the API server’s /openid/v1/jwks with a CA bundle and a bearer token', () => {
  it('fetches the keys over HTTPS trusting only the cluster CA, with the bearer token from the file, once for 200 tokens', async () => {
    const { auth, login } = setup({ jwksUri: apiServer.jwksUri, caFile: apiServer.caFile, bearerTokenFile: apiServer.bearerTokenFile });
    try {
      const before = apiServer.fetches();
      const authorizations = apiServer.authorizations.length;
      for (let i = 0; i < 200; i++) expect((await login(await apiServer.mint({ namespace: 'team-a' }))).kind).toBe('ok');
      expect(since(apiServer, before)).toEqual({ discovery: 0, jwks: 1, refused: 0 });
      const token = (await readFile(apiServer.bearerTokenFile!, 'utf8')).trim();
      expect(apiServer.authorizations.slice(authorizations)).toEqual([`Bearer ${token}`]);
    } finally {
      await auth.close();
    }
  });

  it('re-reads the bearer token file at the next fetch, so a rotated projected token keeps working', async () => {
    const { auth, login } = setup({ jwksUri: apiServer.jwksUri, caFile: apiServer.caFile, bearerTokenFile: apiServer.bearerTokenFile });
    try {
      expect((await login(await apiServer.mint({ namespace: 'team-a' }))).kind).toBe('ok');
      await apiServer.rotateBearer(); // the old token is refused from now on
      now += 601_000; // past jwksCacheSeconds: the keys are fetched again
      const before = apiServer.fetches();
      expect((await login(await apiServer.mint({ namespace: 'team-a' }))).kind).toBe('ok');
      expect(since(apiServer, before)).toEqual({ discovery: 0, jwks: 1, refused: 0 });
      expect(apiServer.authorizations.at(-1)).toBe(`Bearer ${(await readFile(apiServer.bearerTokenFile!, 'utf8')).trim()}`);
    } finally {
      await auth.close();
    }
  });

  it('answers 503 (never a 401 the pod cannot fix) when the server’s certificate is not from the configured CA, or the token is refused', async () => {
    const noCa = setup({ jwksUri: apiServer.jwksUri, bearerTokenFile: apiServer.bearerTokenFile });
    await expect(noCa.login(await apiServer.mint({ namespace: 'team-a' }))).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(noCa.logs()).toMatch(/"event":"oidc_jwks_unavailable".*connection failed/);

    const noBearer = setup({ jwksUri: apiServer.jwksUri, caFile: apiServer.caFile });
    try {
      await expect(noBearer.login(await apiServer.mint({ namespace: 'team-a' }))).rejects.toBeInstanceOf(TemporarilyUnavailableError);
      expect(noBearer.logs()).toContain('answered 401 (the API server wants a bearer token it accepts, or RBAC for system:service-account-issuer-discovery)');
    } finally {
      await noBearer.auth.close();
    }
  });

  it('discovers the keys of an HTTPS issuer with the bearer token, and never sends the token to a JWKS of another origin', async () => {
    const own = setup({ caFile: discoverable.caFile, bearerTokenFile: discoverable.bearerTokenFile }, discoverable.issuer);
    try {
      const before = discoverable.fetches();
      expect((await own.login(await discoverable.mint({ namespace: 'team-a' }))).kind).toBe('ok');
      expect(since(discoverable, before)).toEqual({ discovery: 1, jwks: 1, refused: 0 });
    } finally {
      await own.auth.close();
    }

    // A discovery document naming someone else's JWKS (a compromised or misconfigured issuer).
    const pointing = await startClusterIssuer({ https: true, requireBearer: true, discoveryJwksUri: elsewhere.jwksUri, now: clock });
    const bundle = join(dir, 'both-cas.pem');
    await writeFile(bundle, (await readFile(pointing.caFile!, 'utf8')) + (await readFile(elsewhere.caFile!, 'utf8')));
    const redirected = setup({ caFile: bundle, bearerTokenFile: pointing.bearerTokenFile }, pointing.issuer);
    try {
      const seen = elsewhere.authorizations.length;
      expect(reasonOf(await redirected.login(await pointing.mint({ namespace: 'team-a' })))).toMatch(/^no key in the JWKS of https:\/\/127\.0\.0\.1:\d+ matches kid/);
      expect(elsewhere.authorizations.slice(seen)).toEqual([undefined]);
    } finally {
      await redirected.auth.close();
      await pointing.close();
    }
  });
});

describe('oidc-token keys: a static JWKS for a cluster Wharf cannot reach', () => {
  it('verifies with keys written into the config, fetching nothing, ever', async () => {
    const { login } = setup({ jwks: apiServer.jwks() });
    const before = apiServer.fetches();
    const requests = apiServer.authorizations.length;
    for (let i = 0; i < 200; i++) expect((await login(await apiServer.mint({ namespace: `team-${i % 3}` }))).kind).toBe('ok');
    now += 86_400_000 - 600_000; // a day on, within no cache period
    expect((await login(await apiServer.mint({ namespace: 'team-a' }))).kind).toBe('ok');
    expect(since(apiServer, before)).toEqual({ discovery: 0, jwks: 0, refused: 0 });
    expect(apiServer.authorizations.length).toBe(requests);
  });

  it('reads a JWKS file at start, and again when a token names a key it lacks (a rotation is a new file)', async () => {
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify(apiServer.jwks()));
    const { login } = setup({ jwksFile: file });
    const before = apiServer.fetches();
    expect((await login(await apiServer.mint({ namespace: 'team-a' }))).kind).toBe('ok');
    await apiServer.rotateKey();
    // Signed with the new key, not yet in the file: refused, with the kids the file has.
    expect(reasonOf(await login(await apiServer.mint({ namespace: 'team-a' })))).toMatch(/^no key in the JWKS of https:\/\/kubernetes\.default\.svc\.cluster\.local matches kid "[\w-]+"/);
    await writeFile(file, JSON.stringify(apiServer.jwks()));
    now += 31_000; // unknown kids re-read at most every 30 s
    expect((await login(await apiServer.mint({ namespace: 'team-a' }))).kind).toBe('ok');
    expect(since(apiServer, before)).toEqual({ discovery: 0, jwks: 0, refused: 0 }); // the file, not the server
  });

  it('refuses to start with a JWKS file that is missing or holds a private key, naming the file', async () => {
    const missing = join(dir, 'absent.json');
    expect(() => setup({ jwksFile: missing })).toThrow(`jwksFile: cannot read ${missing} (ENOENT)`);
    const leaked = join(dir, 'private.json');
    await writeFile(leaked, JSON.stringify({ keys: [{ ...apiServer.jwks().keys[0], d: 'c2VjcmV0' }] }));
    expect(() => setup({ jwksFile: leaked })).toThrow(`jwksFile: ${leaked} key 0 is a private key ("d"): publish only the public half`);
  });
});

describe('oidc-token key source settings', () => {
  const issues = (issuer: Record<string, unknown>, rule: Record<string, unknown> = {}) => {
    const result = oidcTokenAuthnSchema.safeParse({
      type: 'oidc-token',
      issuers: [{ issuer: IN_CLUSTER_ISSUER, audiences: ['wharf'], ...issuer }],
      rules: [{ issuer: IN_CLUSTER_ISSUER, account: '${kubernetes.io.namespace}', ...rule }],
    });
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('takes one key source, and CA and bearer settings only where keys are fetched over HTTPS', () => {
    const jwks = { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] };
    expect(issues({ jwksUri: 'https://10.0.0.1:6443/openid/v1/jwks', jwksFile: '/etc/wharf/jwks.json' })).toEqual(['issuers.0.jwksFile: give one of jwksUri, jwks and jwksFile, not jwksUri and jwksFile']);
    expect(issues({ jwksFile: '/etc/wharf/jwks.json', caFile: '/etc/ca.crt', bearerTokenFile: '/var/run/token' })).toEqual([
      'issuers.0.caFile: caFile has no effect: the keys come from jwksFile, nothing is fetched',
      'issuers.0.bearerTokenFile: bearerTokenFile has no effect: the keys come from jwksFile, nothing is fetched',
    ]);
    expect(issues({ jwksUri: 'http://10.0.0.1:8080/openid/v1/jwks', bearerTokenFile: '/var/run/token' })).toEqual([
      'issuers.0.bearerTokenFile: a bearer token is sent only over HTTPS, and http://10.0.0.1:8080/openid/v1/jwks is http://',
    ]);
    expect(issues({ jwks: { keys: [{ ...jwks.keys[0], d: 'AQAB' }] } })).toEqual(['issuers.0.jwks: the JWKS key 0 is a private key ("d"): publish only the public half']);
    expect(issues({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } })).toEqual(['issuers.0.jwks: the JWKS key 0 has kty "oct", not RSA, EC, OKP']);
    expect(issues({ jwks: apiServer.jwks() })).toEqual([]);
  });

  it('checks pull templates and the owner claim of rules', () => {
    expect(issues({}, { pull: ['${kubernetes.io.namespace}/*', 'Base/*', '${ns', '/x'], owner: 'kubernetes.io/namespace' })).toEqual([
      'rules.0.owner: must be a claim path',
      'rules.0.pull.1: pull template "Base/*" does not make a repository glob (lower-case a-z, 0-9, . _ - and the wildcards * ?, components separated by /)',
      'rules.0.pull.2: unclosed "${" in pull template "${ns"',
      'rules.0.pull.3: pull template "/x" does not make a repository glob (lower-case a-z, 0-9, . _ - and the wildcards * ?, components separated by /)',
    ]);
  });

  it('has wharf config check read the key files, naming each problem with its path and never a file’s contents', async () => {
    const empty = join(dir, 'empty-token');
    const notJwks = join(dir, 'not-jwks.json');
    await writeFile(empty, '\n');
    await writeFile(notJwks, '{"issuer":"x"}');
    const config = oidcTokenAuthnSchema.parse({
      type: 'oidc-token',
      issuers: [
        { issuer: 'https://a.example', audiences: ['wharf'], caFile: notJwks, bearerTokenFile: empty },
        { issuer: 'https://b.example', audiences: ['wharf'], jwksFile: notJwks },
        { issuer: 'https://c.example', audiences: ['wharf'], jwksUri: apiServer.jwksUri, caFile: apiServer.caFile, bearerTokenFile: apiServer.bearerTokenFile },
        { issuer: 'https://d.example', audiences: ['wharf'], jwksFile: join(dir, 'nowhere.json') },
      ],
      rules: [{ issuer: 'https://a.example', account: '${sub}' }],
    });
    expect(await oidcTokenBackend.preflight!(config, { path: 'authn.1', env: {} })).toEqual([
      { severity: 'error', path: 'authn.1.issuers.0.caFile', message: `${notJwks} holds no PEM certificate` },
      { severity: 'error', path: 'authn.1.issuers.0.bearerTokenFile', message: `${empty} is empty` },
      { severity: 'error', path: 'authn.1.issuers.1.jwksFile', message: `${notJwks} is not a JWK set (no "keys" array)` },
      { severity: 'error', path: 'authn.1.issuers.3.jwksFile', message: `cannot read ${join(dir, 'nowhere.json')} (ENOENT)` },
    ]);
  });
});
