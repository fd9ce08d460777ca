import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '@fastify/cookie';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerLogin, readDockerConfig } from '../support/docker-cli.js';
import { startGithubStandIn, type GithubStandIn } from '../support/github-standin.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { type RegistryHandle } from '../support/registry.js';
import { pushNewImage, skopeoInspect } from '../support/skopeo.js';
import { startWharf, startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// Wharf on its embedded defaults (in-process cache, the store under dataDir) is stopped and
// started again on the same dataDir: what clients were handed before must still work after.
describe('credentials survive a restart on the embedded defaults', () => {
  const password = randomBytes(12).toString('base64url');
  // The GitHub user is another person than the static alice: one name has one owner.
  const octo = { account: 'octo', provider: 'github', subject: '7', attributes: { orgs: ['acme'] } };
  let work: string;
  let configFile: string;
  let env: Record<string, string>;
  let github: GithubStandIn;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let image: { ref: string; layerDigest: string };
  let dockerConfig: string;
  let deviceCredential: string;
  let logsBeforeRestart = '';
  let browser: { cookie: string; csrf: string };

  const form = (url: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${wharf.url}${url}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body), redirect: 'manual' });

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-restart-'));
    github = await startGithubStandIn([{ login: 'octo', id: 7, orgs: ['acme'] }]);
    env = { WHARF_GITHUB_CLIENT_SECRET: github.clientSecret };
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    // No cache and no store configured: the defaults.
    configFile = await writeConfig(
      {
        server: { host: '127.0.0.1', port: wharfPort },
        dataDir: join(work, 'data'),
        authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 10) } } }],
        // The default rule written out (rules replace it), and octo may pull alice's images.
        authz: { acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }, { account: 'octo', name: 'alice/*', actions: ['pull'] }] } },
        federation: { providers: [{ type: 'github', clientId: github.clientId, webUrl: github.url, apiUrl: github.apiUrl, allowedOrgs: ['acme'] }] },
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort, env));
    image = await pushNewImage(join(work, 'image'), `${registry.host}/alice/app:v1`, `alice:${password}`, 'kept across restarts');

    // docker login: config.json keeps an identitytoken (a refresh token), not the password.
    dockerConfig = join(work, 'docker-config');
    const login = await dockerLogin(registry.host, 'alice', password, { configDir: dockerConfig });
    expect(login.code, login.stderr).toBe(0);
    expect((await readDockerConfig(dockerConfig)).auths?.[registry.host]?.identitytoken).toMatch(/^wharf_rt_/);

    // A signed-in browser (its session made as the login callback makes it) approves a device login.
    const { id, session } = await wharf.services.sessions.create(octo);
    browser = { cookie: `wharf_session=${encodeURIComponent(sign(id, wharf.services.cookieSecret))}`, csrf: session.csrf };
    const started = (await (await form('/device/code', { client_id: 'wharf-cli', registry: registry.host })).json()) as { device_code: string; user_code: string };
    const decided = await form('/device/decide', { csrf: browser.csrf, user_code: started.user_code, decision: 'approve' }, { cookie: browser.cookie });
    expect(decided.status).toBe(200);
    const issued = await form('/device/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: started.device_code, client_id: 'wharf-cli' });
    expect(issued.status).toBe(200);
    deviceCredential = ((await issued.json()) as { access_token: string }).access_token;

    await wharf.stop();
    logsBeforeRestart = wharf.rawLogs();
    wharf = await startWharf(configFile, env);
  });

  afterAll(() => shutDown(registry, wharf, github, work));

  it('lets skopeo pull with the device-login credential issued before the restart', async () => {
    const pull = await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { creds: `octo:${deviceCredential}`, raw: true });
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout).layers[0].digest).toBe(image.layerDigest);
  });

  it('keeps the browser session, which still lists that credential', async () => {
    const page = await fetch(`${wharf.url}/account`, { headers: { cookie: browser.cookie }, redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('device login');
  });

  it('lets skopeo pull with the identitytoken docker login stored before the restart', async () => {
    const pull = await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { authfile: join(dockerConfig, 'config.json'), raw: true });
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout).layers[0].digest).toBe(image.layerDigest);
  });

  it('never writes the password or a credential into its logs, before the restart or after', () => {
    // The password and the device credential were sent to the first instance.
    for (const logs of [logsBeforeRestart, wharf.rawLogs()]) {
      expect(logs).not.toContain(password);
      expect(logs).not.toContain(deviceCredential);
    }
    expect(logsBeforeRestart.length).toBeGreaterThan(0);
  });
});
