import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccountBindings } from '../../src/accounts/account-bindings.js';
import { AccountGate } from '../../src/accounts/account-gate.js';
import type { AuthnResult } from '../../src/authn/authenticator.js';
import { OidcTokenAuthenticator } from '../../src/authn/oidc-token/oidc-token-authenticator.js';
import { oidcTokenBackend } from '../../src/authn/oidc-token/oidc-token-backend.js';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { passwordBackends } from '../../src/authn/registry.js';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { parseConfig } from '../../src/config/load.js';
import { actionsInScope } from '../../src/domain/credential-scope.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';
import { startClusterIssuer, type ClusterIssuer } from '../support/cluster-issuer.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';
import { tempStore } from '../support/store.js';

const ctx = { clientIp: '10.0.0.7', service: 'registry' };
const START = Date.UTC(2026, 11, 7, 10);
/** The one clock: the cluster stamps tokens with it, Wharf checks them with it. */
let now = START;
const clock = () => now;
const nowSeconds = () => Math.floor(now / 1000);

let cluster: ClusterIssuer;
/** Another cluster, which Wharf does not trust. */
let stranger: ClusterIssuer;

beforeAll(async () => {
  cluster = await startClusterIssuer({ now: clock });
  stranger = await startClusterIssuer({ now: clock });
});
afterAll(() => shutDown(cluster, stranger));
beforeEach(() => {
  now = START;
});

/** The rule docs/kubernetes.md starts from: team namespaces pull their own repositories and the shared base images. */
function teamRule(issuer = cluster.issuer, overrides: Record<string, unknown> = {}) {
  return { issuer, account: '${kubernetes.io.namespace}', claims: { 'kubernetes.io.namespace': 'team-*' }, pull: ['${kubernetes.io.namespace}/*', 'base/*'], ...overrides };
}

function setup(issuer: Record<string, unknown> = {}, rules: unknown[] = [teamRule()]) {
  const log = captureLog('debug');
  const fetched: string[] = [];
  const config = oidcTokenAuthnSchema.parse({ type: 'oidc-token', issuers: [{ issuer: cluster.issuer, audiences: ['wharf'], ...issuer }], rules, timeoutMs: 1000 });
  const auth = new OidcTokenAuthenticator(config, { logger: log.logger, now: clock, upstreamObserver: (upstream) => fetched.push(upstream) });
  return { auth, login: (token: string) => auth.login('kubelet', token, ctx), fetched, logs: log.text, events: log.events };
}

const reasonOf = (result: AuthnResult) => (result.kind === 'denied' ? result.reason : `not denied: ${result.kind}`);
const identityOf = (result: AuthnResult): Identity => {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.identity;
};
const delta = (issuer: ClusterIssuer, before: { discovery: number; jwks: number }) => ({
  discovery: issuer.fetches().discovery - before.discovery,
  jwks: issuer.fetches().jwks - before.jwks,
});

describe('oidc-token: Kubernetes service-account tokens', () => {
  it('lets a pod’s token in as its namespace, with the groups Kubernetes names, the workload for the audit, and a pull-only ceiling', async () => {
    const { login } = setup();
    const token = await cluster.mint({ namespace: 'team-a', serviceAccount: 'puller', pod: 'app-7d9f', node: 'node-3' });
    const claims = decodeJwt(token) as Record<string, unknown> & { 'kubernetes.io': { serviceaccount: { uid: string }; pod: { uid: string }; node: { uid: string } } };
    const k8s = claims['kubernetes.io'];
    const result = await login(token);
    expect(result).toEqual({
      kind: 'ok',
      identity: {
        account: 'team-a',
        provider: 'oidc-token',
        subject: 'system:serviceaccount:team-a:puller',
        attributes: {
          issuer: cluster.issuer,
          audience: 'wharf',
          claims: { 'kubernetes.io.namespace': 'team-a' },
          rule: 0,
          expiresAt: nowSeconds() + 600,
          jti: claims.jti,
          kubernetes: {
            namespace: 'team-a',
            serviceaccount: { name: 'puller', uid: k8s.serviceaccount.uid },
            pod: { name: 'app-7d9f', uid: k8s.pod.uid },
            node: { name: 'node-3', uid: k8s.node.uid },
          },
          groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a'],
          pull: ['team-a/*', 'base/*'],
        },
        owner: { source: `oidc-token:${cluster.issuer}` },
      },
      scope: [{ repositories: ['team-a/*', 'base/*'], actions: ['pull'] }],
    });
    // ACL `group` rules see them: the registry entry declares the attribute.
    expect(passwordBackends.groupsOf(identityOf(result))).toEqual(['system:serviceaccounts', 'system:serviceaccounts:team-a']);
    // The ceiling: pull on its own repositories and base, never push, nothing of another team.
    const scope = result.kind === 'ok' ? result.scope! : [];
    expect(actionsInScope(scope, { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] })).toEqual(['pull']);
    expect(actionsInScope(scope, { type: 'repository', name: 'base/debian', actions: ['pull'] })).toEqual(['pull']);
    expect(actionsInScope(scope, { type: 'repository', name: 'team-b/app', actions: ['pull'] })).toEqual([]);
  });

  it('lets in a token bound to no pod (a plain TokenRequest), with the service account only', async () => {
    const result = await setup().login(await cluster.mint({ namespace: 'team-a', unbound: true }));
    expect(identityOf(result).attributes.kubernetes).toEqual({ namespace: 'team-a', serviceaccount: { name: 'default', uid: expect.any(String) } });
  });

  it('verifies 200 tokens with one discovery and one JWKS fetch, each reported to the upstream metrics', async () => {
    const { login, fetched } = setup();
    const before = cluster.fetches();
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => cluster.mint({ namespace: `team-${i % 7}`, pod: `app-${i}` })));
    const results = await Promise.all(tokens.slice(0, 100).map((t) => login(t)));
    for (const token of tokens.slice(100)) results.push(await login(token));
    expect(results.filter((r) => r.kind === 'ok')).toHaveLength(200);
    expect(delta(cluster, before)).toEqual({ discovery: 1, jwks: 1 });
    expect(fetched).toEqual([`oidc-token ${cluster.issuer}`, `oidc-token ${cluster.issuer}`]);
  });

  it('refuses, each with a reason that says why: wrong audience, expired, not yet valid, issued in the future, a namespace no rule admits', async () => {
    const { login } = setup();
    const cases: Array<[Promise<string>, RegExp]> = [
      [cluster.mint({ namespace: 'team-a', wrongAudience: true }), /^audience \["https:\/\/kubernetes\.default\.svc"\] is not accepted for issuer http:\/\/127\.0\.0\.1:\d+ \(accepted: wharf\)$/],
      [cluster.mint({ namespace: 'team-a', expired: true }), /^the ID token expired at 2026-12-07T09:58:00\.000Z, 120 s ago \(clock tolerance 30 s\)$/],
      [cluster.mint({ namespace: 'team-a', notYetValid: true }), /^the ID token is not valid before 2026-12-07T10:05:00\.000Z \(clock tolerance 30 s\)$/],
      [cluster.mint({ namespace: 'team-a', claims: { iat: nowSeconds() + 120 } }), /^the ID token was issued at 2026-12-07T10:02:00\.000Z, 120 s in the future \(clock tolerance 30 s\)$/],
      [cluster.mint({ namespace: 'kube-system' }), /^no trust rule matches the token: rule 0: claim "kubernetes\.io\.namespace" is "kube-system", not "team-\*"$/],
    ];
    for (const [token, reason] of cases) expect(reasonOf(await login(await token))).toMatch(reason);
  });

  it('accepts token times within the clock tolerance (a node clock a little off)', async () => {
    const { login } = setup();
    expect((await login(await cluster.mint({ namespace: 'team-a', claims: { iat: nowSeconds() + 25 } }))).kind).toBe('ok');
    expect((await login(await cluster.mint({ namespace: 'team-a', iat: nowSeconds() - 620 }))).kind).toBe('ok'); // expired 20 s ago
    expect((await login(await cluster.mint({ namespace: 'team-a', iat: nowSeconds() + 25 }))).kind).toBe('ok'); // nbf 25 s ahead
  });

  it('passes on a token from a cluster it does not trust, fetching nothing, and logs the issuer it named', async () => {
    const { login, logs } = setup();
    const before = stranger.fetches();
    expect(await login(await stranger.mint({ namespace: 'team-a' }))).toEqual({ kind: 'no_match' });
    expect(delta(stranger, before)).toEqual({ discovery: 0, jwks: 0 });
    expect(logs()).toMatch(new RegExp(`"event":"oidc_token_untrusted_issuer","iss":"${stranger.issuer.replace(/[.]/g, '\\.')}"`));
  });

  it('refuses a token whose kubernetes.io claim disagrees with its sub or names something Kubernetes never would', async () => {
    const { login } = setup();
    const forged = [
      cluster.mint({ namespace: 'team-a', claims: { sub: 'system:serviceaccount:kube-system:default' } }),
      cluster.mint({ namespace: 'team-a', claims: { 'kubernetes.io': { namespace: '*', serviceaccount: { name: 'default', uid: 'u' } }, sub: 'system:serviceaccount:*:default' } }),
      cluster.mint({ namespace: 'team-a', claims: { 'kubernetes.io': 'team-a' } }),
    ];
    expect(reasonOf(await login(await forged[0]!))).toBe(
      'the token\'s "kubernetes.io" claim names system:serviceaccount:team-a:default, but "sub" is "system:serviceaccount:kube-system:default", unlike a Kubernetes service-account token',
    );
    expect(reasonOf(await login(await forged[1]!))).toBe('the token\'s "kubernetes.io" claim has no valid namespace, unlike a Kubernetes service-account token');
    expect(reasonOf(await login(await forged[2]!))).toBe('the token\'s "kubernetes.io" claim is not an object, unlike a Kubernetes service-account token');
  });

  it('denies, rather than widens, when a value put into a pull template is not one plain path component', async () => {
    // Claims of an issuer that is not a cluster: nothing but the pull template stands between a value and the grant.
    const { login } = setup({}, [{ issuer: cluster.issuer, account: 'ci', claims: { team: '*' }, pull: ['${team}/*'] }]);
    const token = (team: unknown) => cluster.mint({ claims: { 'kubernetes.io': undefined, sub: 'job-1', team } });
    for (const team of ['*', 'a/b', '..', 'team-*', 'a?b', '', 'te\u212Am']) {
      expect(reasonOf(await login(await token(team)))).toBe(
        `rule 0 matched but claim "team" is ${JSON.stringify(team)}, which is not one registry path component (a-z, 0-9, and . _ - between them), so the pull template "\${team}/*" grants nothing`,
      );
    }
    const ok = await login(await token('Team-A'));
    expect(ok.kind === 'ok' && ok.scope).toEqual([{ repositories: ['team-a/*'], actions: ['pull'] }]);
  });

  it('binds the account to (issuer, namespace) with owner: another namespace cannot take it', async () => {
    const { login } = setup({}, [teamRule(cluster.issuer, { account: 'shared', owner: 'kubernetes.io.namespace' })]);
    const teamA = identityOf(await login(await cluster.mint({ namespace: 'team-a' })));
    const teamB = identityOf(await login(await cluster.mint({ namespace: 'team-b' })));
    expect(teamA.owner).toEqual({ source: `oidc-token:${cluster.issuer}`, subject: 'team-a' });
    const log = captureLog();
    const store = tempStore(clock);
    try {
      const gate = new AccountGate(new AccountBindings(store, { now: clock }), { reserved: [], logger: log.logger });
      expect(await gate.admit(teamA)).toEqual({ kind: 'ok' });
      expect(await gate.admit(identityOf(await login(await cluster.mint({ namespace: 'team-a', serviceAccount: 'other' }))))).toEqual({ kind: 'ok' });
      expect(await gate.admit(teamB)).toMatchObject({ kind: 'refused' });
    } finally {
      await store.close();
    }
  });

  it('binds the account to the service account’s uid with owner: kubernetes.io.serviceaccount.uid', async () => {
    const { login } = setup({}, [teamRule(cluster.issuer, { owner: 'kubernetes.io.serviceaccount.uid' })]);
    const token = await cluster.mint({ namespace: 'team-a', serviceAccount: 'builder' });
    const uid = (decodeJwt(token)['kubernetes.io'] as { serviceaccount: { uid: string } }).serviceaccount.uid;
    expect(identityOf(await login(token)).owner).toEqual({ source: `oidc-token:${cluster.issuer}`, subject: uid });
    const noUid = await cluster.mint({ namespace: 'team-a', claims: { 'kubernetes.io': { namespace: 'team-a', serviceaccount: { name: 'default' } } } });
    expect(reasonOf(await login(noUid))).toBe('rule 0 matched but its owner claim "kubernetes.io.serviceaccount.uid" is missing or not a string');
  });

  describe('two clusters side by side', () => {
    /** prod (`cluster`) and dev (`stranger`, trusted here), each admitting its namespaces, named or not. */
    function twoClusters(names: { prod?: string; dev?: string }) {
      const log = captureLog('debug');
      const config = oidcTokenAuthnSchema.parse({
        type: 'oidc-token',
        issuers: [
          { issuer: cluster.issuer, audiences: ['wharf'], ...(names.prod ? { cluster: names.prod } : {}) },
          { issuer: stranger.issuer, audiences: ['wharf'], ...(names.dev ? { cluster: names.dev } : {}) },
        ],
        rules: [
          { issuer: cluster.issuer, account: 'prod-${kubernetes.io.namespace}' },
          { issuer: stranger.issuer, account: 'dev-${kubernetes.io.namespace}' },
        ],
      });
      const auth = new OidcTokenAuthenticator(config, { logger: log.logger, now: clock });
      return { config, events: log.events, login: async (issuer: ClusterIssuer, namespace: string) => identityOf(await auth.login('kubelet', await issuer.mint({ namespace }), ctx)) };
    }
    // The ACL a platform writes for a payments team that deploys to prod only.
    const acl = new StaticAclAuthorizer(
      parseConfig({
        authz: {
          acl: {
            rules: [
              { group: 'prod:system:serviceaccounts:payments', name: 'payments/*', actions: ['push', 'pull'] },
              { group: 'system:serviceaccounts:payments', name: 'payments/*', actions: ['pull'] },
              { group: '*:system:serviceaccounts', name: 'base/*', actions: ['pull'] },
            ],
          },
        },
      }, {}).authz.acl,
      undefined,
      (identity) => passwordBackends.groupsOf(identity),
    );
    const granted = async (identity: Identity, scope: string) => (await acl.authorize({ identity, service: 'registry', clientIp: ctx.clientIp, scopes: [parseScope(scope)] }))[0]!.granted;

    it('names each cluster in its groups, so a rule for prod’s payments namespace does not admit dev’s', async () => {
      const { login, events } = twoClusters({ prod: 'prod', dev: 'dev' });
      const prod = await login(cluster, 'payments');
      const dev = await login(stranger, 'payments');
      expect(passwordBackends.groupsOf(prod)).toEqual(['prod:system:serviceaccounts', 'prod:system:serviceaccounts:payments']);
      expect(passwordBackends.groupsOf(dev)).toEqual(['dev:system:serviceaccounts', 'dev:system:serviceaccounts:payments']);
      expect(await granted(prod, 'repository:payments/api:push,pull')).toEqual(['push', 'pull']);
      // Neither the prod rule nor the unprefixed one (which a named cluster never matches) admits dev.
      expect(await granted(dev, 'repository:payments/api:push,pull')).toEqual([]);
      // A rule for every cluster says so with a wildcard.
      expect(await granted(dev, 'repository:base/debian:pull')).toEqual(['pull']);
      // The audit line and the webhook's attributes say which cluster.
      expect(prod.attributes.kubernetes).toMatchObject({ namespace: 'payments', cluster: 'prod' });
      expect(events('oidc_token_login').map((e) => (e.kubernetes as { cluster?: string }).cluster)).toEqual(['prod', 'dev']);
    });

    it('without names, gives both clusters Kubernetes’ own groups: the ambiguity config check warns about', async () => {
      const { login, config } = twoClusters({});
      const dev = await login(stranger, 'payments');
      expect(passwordBackends.groupsOf(dev)).toEqual(['system:serviceaccounts', 'system:serviceaccounts:payments']);
      expect(await granted(dev, 'repository:payments/api:push,pull')).toEqual(['pull']);
      const findings = await oidcTokenBackend.preflight!(config, { path: 'authn.0', env: {} });
      expect(findings.map((f) => [f.severity, f.path])).toEqual([
        ['warning', 'authn.0.issuers.0.cluster'],
        ['warning', 'authn.0.issuers.1.cluster'],
      ]);
      expect(findings[1]!.message).toBe(
        `2 issuers admit Kubernetes service accounts, and those of ${stranger.issuer} get groups (system:serviceaccounts:NAMESPACE) that the other clusters' namespaces of the same name get too: name the cluster (cluster: NAME) and write ACL group rules for NAME:system:serviceaccounts:NAMESPACE`,
      );
      // Named, or one cluster alone, there is nothing to warn about.
      expect(await oidcTokenBackend.preflight!(twoClusters({ prod: 'prod', dev: 'dev' }).config, { path: 'authn.0', env: {} })).toEqual([]);
      expect(await oidcTokenBackend.preflight!(oidcTokenAuthnSchema.parse({ type: 'oidc-token', issuers: [{ issuer: cluster.issuer, audiences: ['wharf'] }], rules: [teamRule()] }), { path: 'authn.0', env: {} })).toEqual([]);
    });

    it('refuses a cluster name that is not a DNS label, is Kubernetes’ own prefix, or is given twice', () => {
      const problems = (prod: string, dev: string) => {
        const parsed = oidcTokenAuthnSchema.safeParse({
          type: 'oidc-token',
          issuers: [{ issuer: cluster.issuer, audiences: ['wharf'], cluster: prod }, { issuer: stranger.issuer, audiences: ['wharf'], cluster: dev }],
          rules: [teamRule()],
        });
        return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
      };
      expect(problems('prod', 'dev')).toEqual([]);
      expect(problems('Prod', 'dev:x')).toEqual([
        'issuers.0.cluster: must be a DNS label: lower-case letters, digits and -, at most 63',
        'issuers.1.cluster: must be a DNS label: lower-case letters, digits and -, at most 63',
      ]);
      expect(problems('system', 'dev')).toEqual(['issuers.0.cluster: system is the prefix of Kubernetes’ own groups: name the cluster otherwise']);
      expect(problems('prod', 'prod')).toEqual([`issuers.1.cluster: cluster prod is already the name of ${cluster.issuer}: each cluster needs a name of its own`]);
    });
  });
});
