import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, SCREENSHOT_DIR } from '../support/browser.js';
import { dockerLogin } from '../support/docker-cli.js';
import { startGithubStandIn, type GithubStandIn } from '../support/github-standin.js';
import { buildOciImage } from '../support/oci-image.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { startProcess, waitUntil } from '../support/processes.js';
import { type RegistryHandle } from '../support/registry.js';
import { skopeoCopy, skopeoInspect } from '../support/skopeo.js';
import { startWharfAndRegistry, WHARF_BIN, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// A person signs in through a real OIDC provider (standing in for Google) or the GitHub stand-in
// in Debian Chromium, gets a registry credential, uses it with docker login and skopeo against
// the real registry, revokes it, and sees it refused.
describe('browser login hands out registry credentials', () => {
  let work: string;
  let idp: TestIdp;
  let github: GithubStandIn;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let browser: Browser;
  let image: { ref: string; layerDigest: string };
  const secrets: Record<string, string> = { WHARF_HASH_KEY: randomBytes(24).toString('hex') };

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });

  async function signInWithGoogle(page: Page, login: string) {
    await page.goto(`${wharf.url}/login`);
    await shot(page, 'login-page');
    await page.getByRole('link', { name: 'Sign in with Google' }).click();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any-password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click(); // consent
    await page.waitForURL(`${wharf.url}/account`);
  }

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-federated-'));
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    const wharfUrl = `http://127.0.0.1:${wharfPort}`;
    idp = await startTestIdp({
      redirectUris: [`${wharfUrl}/login/google/callback`],
      users: {
        alice: { email: 'alice@example.com', email_verified: true, hd: 'example.com' },
        mallory: { email: 'mallory@elsewhere.org', email_verified: true, hd: 'elsewhere.org' },
      },
    });
    github = await startGithubStandIn([
      { login: 'Octocat', id: 583231, orgs: ['acme'] },
      { login: 'outsider', id: 42, orgs: ['other'] },
    ]);
    secrets.WHARF_GOOGLE_CLIENT_SECRET = idp.clientSecret;
    secrets.WHARF_GITHUB_CLIENT_SECRET = github.clientSecret;
    const configFile = await writeConfig(
      {
        server: { port: wharfPort },
        dataDir: join(work, 'data'),
        federation: {
          registryHost: `127.0.0.1:${registryPort}`,
          providers: [
            { type: 'google', clientId: idp.clientId, issuer: idp.issuer, allowedDomains: ['example.com'] },
            { type: 'github', clientId: github.clientId, webUrl: github.url, apiUrl: github.apiUrl, allowedOrgs: ['acme'] },
          ],
        },
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort, secrets));
    image = await buildOciImage(join(work, 'image'), { tag: 'v1', content: 'federated' });
    browser = await launchBrowser();
  });

  afterAll(() => shutDown(browser, registry, wharf, github, idp, work));

  it('signs in with the OIDC provider, shows a credential once, and that credential works with docker login and skopeo until revoked', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInWithGoogle(page, 'alice');
    await expect(page.getByRole('heading', { name: 'Your registry access' }).isVisible()).resolves.toBe(true);
    await shot(page, 'account-page');
    await page.getByLabel('Name (where you will use it)').fill('ci laptop');
    await page.getByRole('button', { name: 'Create credential' }).click();
    const credential = (await page.locator('#credential').textContent())?.trim() ?? '';
    expect(credential).toMatch(/^wharf_cr_[A-Za-z0-9_-]{43}$/);
    expect(await page.locator('#docker-login').textContent()).toBe(`docker login ${registry.host} -u alice --password-stdin`);
    await shot(page, 'credential-created');

    const login = await dockerLogin(registry.host, 'alice', credential, { configDir: join(work, 'docker-alice') });
    expect(login.code, login.stderr).toBe(0);
    const push = await skopeoCopy(image.ref, `docker://${registry.host}/alice/app:v1`, { creds: `alice:${credential}` });
    expect(push.code, push.stderr).toBe(0);

    // The list shows it, with a last-used time, and reloading never shows the secret again.
    await page.goto(`${wharf.url}/account`);
    await expect(page.locator('table').textContent()).resolves.toContain('ci laptop');
    expect(await page.content()).not.toContain(credential);
    await page.getByRole('button', { name: 'Revoke ci laptop' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Credential revoked');
    await shot(page, 'credential-revoked');
    const after = await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { creds: `alice:${credential}`, raw: true });
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain('invalid username or password');
    await context.close();
  });

  it('refuses a Google account outside the allowed domain', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${wharf.url}/login/google`);
    await page.locator('input[name="login"]').fill('mallory');
    await page.locator('input[name="password"]').fill('x');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.locator('.error').textContent()).resolves.toContain('not in an allowed domain');
    await shot(page, 'login-refused-domain');
    await context.close();
  });

  it('signs in with GitHub, lower-cases the login, and refuses users outside the allowed organisation', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${wharf.url}/login`);
    await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
    await shot(page, 'github-authorize');
    await page.getByRole('button', { name: 'Authorize as Octocat' }).click();
    await page.waitForURL(`${wharf.url}/account`);
    await expect(page.locator('header').textContent()).resolves.toContain('Signed in as octocat');

    const other = await browser.newContext();
    const outsider = await other.newPage();
    await outsider.goto(`${wharf.url}/login/github`);
    await outsider.getByRole('button', { name: 'Authorize as outsider' }).click();
    await expect(outsider.locator('.error').textContent()).resolves.toContain('not a member of an allowed organisation');
    await Promise.all([context.close(), other.close()]);
  });

  it('refuses a callback with a forged state, one from another browser, and a replayed callback', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${wharf.url}/login/github`); // sets this browser's state cookie
    const forged = await page.request.get(`${wharf.url}/login/github/callback?code=x&state=forged`);
    expect(forged.status()).toBe(400);
    expect(await forged.text()).toContain('does not belong to this browser');

    // A real login: note the callback URL, then replay it once the login is done.
    const callbacks: string[] = [];
    page.on('request', (r) => r.url().includes('/login/github/callback') && callbacks.push(r.url()));
    await page.goto(`${wharf.url}/login/github`);
    await page.getByRole('button', { name: 'Authorize as Octocat' }).click();
    await page.waitForURL(`${wharf.url}/account`);
    expect(callbacks).toHaveLength(1);
    const replay = await page.goto(callbacks[0]!);
    expect(replay?.status()).toBe(400);

    // The same callback URL from a browser that never started the login.
    const stranger = await (await browser.newContext()).newPage();
    const foreign = await stranger.goto(callbacks[0]!);
    expect(foreign?.status()).toBe(400);
    await context.close();
  });

  it('refuses account forms without the session’s CSRF token', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInWithGoogle(page, 'alice');
    const forged = await page.request.post(`${wharf.url}/account/credentials`, { form: { label: 'evil', days: '1', csrf: 'guess' } });
    expect(forged.status()).toBe(403);
    const anonymous = await (await browser.newContext()).request.post(`${wharf.url}/account/credentials`, { form: { label: 'x' }, maxRedirects: 0 });
    expect(anonymous.status()).toBe(302);
    await context.close();
  });

  it('runs the device flow: code, approval page, then a credential for the CLI', async () => {
    const form = (body: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    const started = (await (await fetch(`${wharf.url}/device/code`, form({ client_id: 'wharf-cli', registry: registry.host }))).json()) as Record<string, string | number>;
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    const poll = () => fetch(`${wharf.url}/device/token`, form({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(started.device_code), client_id: 'wharf-cli' }));
    /** RFC 8628 §3.5: a 400 token error, whole. */
    const expectPollError = async (answer: Response, error: string, message: string) => {
      expect(answer.status).toBe(400);
      expect(await answer.json()).toEqual({ errors: [{ code: error.toUpperCase(), message }], error, error_description: message });
    };
    await expectPollError(await poll(), 'authorization_pending', 'waiting for the user to approve');
    await expectPollError(await poll(), 'slow_down', 'polling too fast: the interval is now 5 seconds longer'); // polled at once: too fast

    const context = await browser.newContext();
    const page = await context.newPage();
    await signInWithGoogle(page, 'alice');
    // Typed in lower case with spaces: still accepted.
    await page.goto(`${wharf.url}/device`);
    await page.getByLabel('Code shown by your terminal').fill(String(started.user_code).toLowerCase().replace('-', ' '));
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.locator('main').textContent()).resolves.toContain(registry.host);
    await shot(page, 'device-approve');
    await page.getByRole('button', { name: 'Approve' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('return to your terminal');
    await shot(page, 'device-approved');

    // Waiting out the (grown) interval is not needed: an approved grant is handed out at the next poll.
    const done = (await (await poll()).json()) as { access_token: string; account: string };
    expect(done.account).toBe('alice');
    const pull = await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { creds: `alice:${done.access_token}`, raw: true });
    expect(pull.code, pull.stderr).toBe(0);
    await expectPollError(await poll(), 'expired_token', 'the device code expired or is unknown: start again'); // single use
    await context.close();
  });

  it('lets `wharf login` get a credential by device code, approved in the browser, that skopeo then uses through docker-credential-wharf', async () => {
    const home = join(work, 'cli-home');
    const dockerDir = join(home, '.docker');
    const credentials = join(home, 'credentials.json');
    const bin = join(work, 'bin');
    await mkdir(bin, { recursive: true });
    // What `npm install -g` puts on PATH: the built helper.
    await writeFile(join(bin, 'docker-credential-wharf'), `#!/bin/sh\nexec '${process.execPath}' '${WHARF_BIN.replace('main.js', 'credential-helper.js')}' "$@"\n`);
    await chmod(join(bin, 'docker-credential-wharf'), 0o755);
    const env = { HOME: home, WHARF_CREDENTIALS_FILE: credentials, PATH: `${bin}:${process.env.PATH ?? ''}` };
    const cli = await startProcess(process.execPath, [WHARF_BIN, 'login', registry.host, '--no-browser', '--config-dir', dockerDir], { env });
    const url = await waitUntil('wharf login prints the verification link', async () => /(http:\/\/\S+\/device\?user_code=\S+)/.exec(cli.logs())?.[1], { process: cli, timeoutMs: 15_000 });

    const context = await browser.newContext();
    const page = await context.newPage();
    await signInWithGoogle(page, 'alice');
    await page.goto(url);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.locator('main').textContent()).resolves.toContain('wharf-cli');
    await page.getByRole('button', { name: 'Approve' }).click();
    const exit = await cli.exited;
    expect(exit.code, cli.logs()).toBe(0);
    expect(cli.logs()).toContain('Login Succeeded as alice');
    await context.close();

    const config = JSON.parse(await readFile(join(dockerDir, 'config.json'), 'utf8'));
    expect(config.credHelpers[registry.host]).toBe('wharf');
    expect(JSON.stringify(config)).not.toContain('wharf_cr_');
    const pull = await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { authfile: join(dockerDir, 'config.json'), raw: true, env: { PATH: env.PATH, WHARF_CREDENTIALS_FILE: credentials } });
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout).layers[0].digest).toBe(image.layerDigest);
  });

  it('never logs a credential, a client secret, a session cookie or a code', async () => {
    const logs = wharf.rawLogs();
    expect(logs).toContain('credential_created'); // the events are there...
    expect(logs).not.toMatch(/wharf_cr_[A-Za-z0-9_-]{10}/); // ...without the secrets
    expect(logs).not.toContain(idp.clientSecret);
    expect(logs).not.toContain(github.clientSecret);
    expect(logs).not.toMatch(/wharf_session=|gho_[0-9a-f]{8}/);
  });
});
