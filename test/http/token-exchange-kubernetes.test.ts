import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { makeAlice, type Alice } from '../support/alice.js';
import { startClusterIssuer, type ClusterIssuer } from '../support/cluster-issuer.js';
import { shutDown } from '../support/shut-down.js';
import { tempStore } from '../support/store.js';

let alice: Alice;
let cluster: ClusterIssuer;
beforeAll(async () => {
  alice = await makeAlice();
  cluster = await startClusterIssuer();
});
afterAll(() => shutDown(cluster));

interface Running {
  services: Services;
  app: FastifyInstance;
}
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app.close();
    await r.services.close();
  }
});

/**
 * The docs' setup: team-* namespaces pull their own repositories and base/*, as account NAMESPACE
 * owned by (cluster, namespace); base/* by an ACL rule for `baseGroup`, with the issuer named `cluster` when given.
 */
async function wharf({ cluster: name, baseGroup = 'system:serviceaccounts' }: { cluster?: string; baseGroup?: string } = {}): Promise<Running> {
  const config = parseConfig(
    {
      authn: [
        {
          type: 'oidc-token',
          issuers: [{ issuer: cluster.issuer, audiences: ['wharf'], ...(name ? { cluster: name } : {}) }],
          rules: [
            {
              issuer: cluster.issuer,
              account: '${kubernetes.io.namespace}',
              claims: { 'kubernetes.io.namespace': 'team-*' },
              pull: ['${kubernetes.io.namespace}/*', 'base/*'],
              owner: 'kubernetes.io.namespace',
            },
          ],
        },
      ],
      authz: { acl: { rules: [{ group: baseGroup, name: 'base/*', actions: ['pull'] }, { account: 'team-*', name: '${account}/*', actions: ['push', 'pull'] }] } },
    } as ConfigInput,
    {},
  );
  const services = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: alice.keys.store, hashKey: randomBytes(32) });
  const r = { services, app: await buildApp(services) };
  running.push(r);
  return r;
}

const exchange = (r: Running, body: object) => r.app.inject({ method: 'POST', url: '/api/v1/exchange', headers: { 'content-type': 'application/json' }, payload: body });
const message = (answer: { json: <T>() => T }) => answer.json<{ errors: Array<{ message: string }> }>().errors[0]!.message;
const basic = (account: string, secret: string) => `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}`;
async function granted(r: Running, username: string, password: string, name: string): Promise<string[] | number> {
  const answer = await r.app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:pull,push`, headers: { authorization: basic(username, password) } });
  if (answer.statusCode !== 200) return answer.statusCode;
  return (decodeJwt(answer.json<{ token: string }>().token).access as Array<{ actions: string[] }>)[0]?.actions ?? [];
}

describe('the token exchange with a cluster’s service-account tokens', () => {
  it('gives a team-a pod pull on team-a images and base images, and nothing of team-b', async () => {
    const r = await wharf();
    const teamA = await cluster.mint({ namespace: 'team-a', serviceAccount: 'web' });
    const own = await exchange(r, { token: teamA, image: 'registry.example:5000/team-a/app:1.0' });
    expect(own.statusCode).toBe(200);
    const got = own.json<{ username: string; password: string }>();
    expect(got.username).toBe('team-a');
    // The account may push its namespace (the ACL); the pod's credential pulls one repository.
    expect(await granted(r, got.username, got.password, 'team-a/app')).toEqual(['pull']);
    expect(await granted(r, got.username, got.password, 'team-a/other')).toEqual([]);
    expect((await exchange(r, { token: teamA, image: 'registry.example:5000/base/node:20' })).statusCode).toBe(200);

    const foreign = await exchange(r, { token: teamA, image: 'registry.example:5000/team-b/app:1.0' });
    expect(foreign.statusCode).toBe(403);
    expect(message(foreign)).toMatch(/team-b\/app is outside the repositories the trust rule grants team-a/);
    // An annotation cannot widen the rule's grant.
    const widened = await exchange(r, { token: teamA, image: 'registry.example:5000/team-b/app:1.0', annotations: { 'wharf/pull': '*' } });
    expect(widened.statusCode).toBe(403);

    const teamB = await cluster.mint({ namespace: 'team-b' });
    expect((await exchange(r, { token: teamB, image: 'registry.example:5000/team-a/app:1.0' })).statusCode).toBe(403);
  });

  it('hands a pod of a named cluster a credential with that cluster’s groups: base images by its rule, not by Kubernetes’ own group', async () => {
    const pull = async (r: Running) => {
      const answer = await exchange(r, { token: await cluster.mint({ namespace: 'team-a' }), image: 'registry.example:5000/base/node:20' });
      expect(answer.statusCode).toBe(200);
      const got = answer.json<{ username: string; password: string }>();
      return granted(r, got.username, got.password, 'base/node');
    };
    expect(await pull(await wharf({ cluster: 'prod', baseGroup: 'prod:system:serviceaccounts' }))).toEqual(['pull']);
    expect(await pull(await wharf({ cluster: 'prod', baseGroup: 'dev:system:serviceaccounts' }))).toEqual([]);
    expect(await pull(await wharf({ cluster: 'prod' }))).toEqual([]);
    expect(await pull(await wharf())).toEqual(['pull']);
  });

  it('refuses a namespace no rule admits, a token for another audience, an expired and a not-yet-valid one, saying why', async () => {
    const r = await wharf();
    const cases: Array<[string, RegExp]> = [
      [await cluster.mint({ namespace: 'kube-system' }), /no trust rule matches.*kubernetes\.io\.namespace/],
      [await cluster.mint({ namespace: 'team-a', wrongAudience: true }), /audience/i],
      [await cluster.mint({ namespace: 'team-a', expired: true }), /expired/i],
      [await cluster.mint({ namespace: 'team-a', notYetValid: true }), /not (yet )?(valid|active)|nbf|before/i],
    ];
    for (const [token, why] of cases) {
      const answer = await exchange(r, { token, image: 'registry.example:5000/team-a/app:1.0' });
      expect(answer.statusCode).toBe(401);
      expect(message(answer)).toMatch(why);
    }
  });

  it('verifies a cluster’s tokens without fetching its keys per exchange', async () => {
    const r = await wharf();
    const before = cluster.fetches().jwks;
    for (let i = 0; i < 50; i++) {
      const token = await cluster.mint({ namespace: 'team-a', pod: `web-${i}` });
      expect((await exchange(r, { token, repository: 'team-a/app' })).statusCode).toBe(200);
    }
    expect(cluster.fetches().jwks - before).toBe(1);
  });
});
