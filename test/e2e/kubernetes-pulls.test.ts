import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeletRequest, runPlugin } from '../kubelet/kubelet-request.js';
import { startClusterIssuer, type ClusterIssuer } from '../support/cluster-issuer.js';
import { ctrPull, startContainerd, type ContainerdHandle } from '../support/containerd.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { type RegistryHandle } from '../support/registry.js';
import { shutDown } from '../support/shut-down.js';
import { pushNewImage, skopeoCopy, skopeoInspect } from '../support/skopeo.js';
import { runWharfCli, startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';

/** What the plugin answers the kubelet. */
interface ProviderResponse {
  apiVersion: string;
  kind: string;
  cacheKeyType: string;
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

// The whole chain a node runs: a stand-in cluster issuer mints pod-bound service-account tokens
// of the real shape; the kubelet's CredentialProviderRequest goes to the built plugin; the plugin
// exchanges the token at the real Wharf; containerd (ctr) and skopeo pull from the real registry
// with the `auth` it returned, and the registry refuses what the credential does not carry.
describe('Kubernetes pods pull with their service account', () => {
  const pusherPassword = randomBytes(12).toString('base64url');
  let work: string;
  let cluster: ClusterIssuer;
  /** A cluster Wharf was never told about. */
  let strangerCluster: ClusterIssuer;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let containerd: ContainerdHandle;
  const image = (repository: string) => `${registry.host}/${repository}`;
  const plugin = (request: Parameters<typeof kubeletRequest>[0]) => runPlugin(['--url', wharf.url], kubeletRequest(request));
  /** The plugin's answer for a pod of `namespace` pulling `repository` (the kubelet sends the image without its tag). */
  async function credentialFor(namespace: string, repository: string, annotations?: Record<string, string>): Promise<{ username: string; password: string }> {
    const token = await cluster.mint({ namespace, serviceAccount: 'web' });
    const result = await plugin({ image: image(repository), serviceAccountToken: token, ...(annotations ? { serviceAccountAnnotations: annotations } : {}) });
    expect(result.code, result.stderr).toBe(0);
    const response = JSON.parse(result.stdout) as ProviderResponse;
    expect(response).toMatchObject({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderResponse', cacheKeyType: 'Image' });
    expect(Object.keys(response.auth)).toEqual([image(repository)]);
    return response.auth[image(repository)]!;
  }
  /** The plugin's one stderr line when the pull is refused before any credential exists. */
  async function refusal(token: string, repository: string, annotations?: Record<string, string>): Promise<string> {
    const result = await plugin({ image: image(repository), serviceAccountToken: token, ...(annotations ? { serviceAccountAnnotations: annotations } : {}) });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^wharf-kubelet-credential-provider: [^\n]+\n$/);
    expect(result.stderr).not.toContain(token.split('.')[2]!);
    return result.stderr;
  }

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-kubernetes-e2e-'));
    cluster = await startClusterIssuer({ audience: 'wharf.example.com' });
    strangerCluster = await startClusterIssuer({ audience: 'wharf.example.com' });
    containerd = await startContainerd();
    const configFile = await writeConfig(
      {
        server: { host: '127.0.0.1', port: await freePort() },
        dataDir: join(work, 'data'),
        authn: [
          { type: 'static', users: { pusher: { passwordHash: await bcrypt.hash(pusherPassword, 10) } } },
          {
            type: 'oidc-token',
            issuers: [{ issuer: cluster.issuer, audiences: ['wharf.example.com'] }],
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
        authz: {
          acl: {
            rules: [
              { account: 'pusher', name: '*', actions: ['push', 'pull'] },
              { group: 'system:serviceaccounts', name: 'base/*', actions: ['pull'] },
              // Even an account that may push its namespace gets a credential that only pulls.
              { account: 'team-*', name: '${account}/*', actions: ['push', 'pull'] },
            ],
          },
        },
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, await freePort()));
    for (const name of ['team-a/app', 'team-a/other', 'team-b/secret', 'base/node']) {
      await pushNewImage(join(work, `image-${name.replace('/', '-')}`), `${image(name)}:v1`, `pusher:${pusherPassword}`, `content of ${name}`);
    }
  });

  afterAll(() => shutDown(containerd, registry, wharf, cluster, strangerCluster, work));

  it('a team-a pod pulls team-a/app with ctr and skopeo, cannot push it, and its credential reaches no other repository', async () => {
    const auth = await credentialFor('team-a', 'team-a/app');
    expect(auth.username).toBe('team-a');
    const pull = await ctrPull(containerd, `${image('team-a/app')}:v1`, { user: auth.username, password: auth.password, plainHttp: true });
    expect(pull.code, `${pull.stdout}\n${pull.stderr}`).toBe(0);
    const creds = `${auth.username}:${auth.password}`;
    const copy = await skopeoCopy(`docker://${image('team-a/app')}:v1`, `oci:${join(work, 'pulled')}:v1`, { creds });
    expect(copy.code, copy.stderr).toBe(0);

    // The registry refuses: the token Wharf gave has no push.
    const push = await skopeoCopy(`oci:${join(work, 'pulled')}:v1`, `docker://${image('team-a/app')}:v2`, { creds });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/denied|unauthorized|authentication required/i);
    // Same account, another repository: the credential was made for team-a/app alone.
    expect((await ctrPull(containerd, `${image('team-a/other')}:v1`, { user: auth.username, password: auth.password, plainHttp: true })).code).not.toBe(0);
    expect((await skopeoInspect(`docker://${image('team-b/secret')}:v1`, { creds, raw: true })).code).not.toBe(0);
    // The exchange left its audit line, naming the pod's account and repository, never the token.
    const exchanged = wharf.logs.filter((l) => l.event === 'credential_exchanged');
    expect(exchanged.at(-1)).toMatchObject({ account: 'team-a', repository: 'team-a/app' });
  });

  it('a pod pulls the shared base images too, and a second namespace never gets the first one’s images', async () => {
    const base = await credentialFor('team-b', 'base/node');
    expect((await ctrPull(containerd, `${image('base/node')}:v1`, { user: base.username, password: base.password, plainHttp: true })).code).toBe(0);
    const teamB = await cluster.mint({ namespace: 'team-b' });
    expect(await refusal(teamB, 'team-a/app')).toMatch(/team-a\/app is outside the repositories the trust rule grants team-b/);
    // And team-b's own credential, presented for team-a's image, is refused by the registry.
    const own = await credentialFor('team-b', 'team-b/secret');
    expect((await ctrPull(containerd, `${image('team-a/app')}:v1`, { user: own.username, password: own.password, plainHttp: true })).code).not.toBe(0);
  });

  it('refuses, each with one clear line for the kubelet’s log: wrong audience, expired, not yet valid, unknown issuer, namespace no rule admits', async () => {
    const cases: Array<[string, Promise<string>, RegExp]> = [
      ['wrong audience', cluster.mint({ namespace: 'team-a', wrongAudience: true }), /audience/i],
      ['expired', cluster.mint({ namespace: 'team-a', expired: true }), /expired/i],
      ['not yet valid', cluster.mint({ namespace: 'team-a', notYetValid: true }), /not (yet )?(valid|active)|nbf|before/i],
      ['an issuer not configured', strangerCluster.mint({ namespace: 'team-a' }), /issuer .* is not one this server trusts/],
      ['a namespace no rule admits', cluster.mint({ namespace: 'kube-system' }), /no trust rule matches/],
    ];
    for (const [what, token, why] of cases) {
      expect(await refusal(await token, 'team-a/app'), what).toMatch(why);
    }
  });

  it('lets the service account’s wharf/pull annotation narrow, never widen', async () => {
    const token = await cluster.mint({ namespace: 'team-a' });
    // Narrowed to team-a/app, the pod cannot pull team-a/other.
    expect(await refusal(token, 'team-a/other', { 'wharf/pull': 'team-a/app' })).toMatch(/outside the service account's wharf\/pull annotation/);
    // Naming another namespace's images gains nothing.
    expect(await refusal(token, 'team-b/secret', { 'wharf/pull': 'team-b/*' })).toMatch(/outside the repositories the trust rule grants/);
    const narrowed = await credentialFor('team-a', 'team-a/app', { 'wharf/pull': 'team-a/app' });
    expect((await ctrPull(containerd, `${image('team-a/app')}:v1`, { user: narrowed.username, password: narrowed.password, plainHttp: true })).code).toBe(0);
  });

  it('serves controllers too: wharf token exchange writes a docker config that skopeo pulls with', async () => {
    const tokenFile = join(work, 'controller-token');
    await writeFile(tokenFile, await cluster.mint({ namespace: 'team-a', serviceAccount: 'flux-source-controller', unbound: true }));
    const result = await runWharfCli(['token', 'exchange', '--wharf', wharf.url, '--token-file', tokenFile, '--image', `${image('team-a/app')}:v1`, '--output', 'docker-config']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/pulls team-a\/app as team-a until /);
    const authfile = join(work, 'controller-config.json');
    await writeFile(authfile, result.stdout);
    const pull = await skopeoCopy(`docker://${image('team-a/app')}:v1`, `oci:${join(work, 'controller')}:v1`, { authfile });
    expect(pull.code, pull.stderr).toBe(0);
    const refused = await runWharfCli(['token', 'exchange', '--wharf', wharf.url, '--token-file', tokenFile, '--repository', 'team-b/secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/403 .*outside the repositories the trust rule grants team-a/);
  });
});
