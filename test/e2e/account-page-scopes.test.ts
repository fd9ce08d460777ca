import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, SCREENSHOT_DIR } from '../support/browser.js';
import { buildOciImage } from '../support/oci-image.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { startRegistry, type RegistryHandle } from '../support/registry.js';
import { skopeoCopy, skopeoInspect } from '../support/skopeo.js';
import { runWharfCli, startWharf, writeConfig, type WharfHandle } from '../support/wharf.js';

// The browser line: in Debian Chromium a person signs in, makes a pull-only credential for
// alice/app on /account, and skopeo against a real registry pulls alice/app with it, cannot push
// it, gets nothing of alice/other, and is refused once it is revoked on the page. Rotation on the
// page: both secrets work until "Retire the previous secret" is clicked, then only the new one.
describe('/account in a real browser: a pull-only credential for one repository', () => {
  let work: string;
  let idp: TestIdp;
  let wharf: WharfHandle;
  let registry: RegistryHandle;
  let browser: Browser;
  let page: Page;
  let image: { ref: string };
  const secrets: Record<string, string> = { WHARF_HASH_KEY: randomBytes(24).toString('hex') };
  const repo = (name: string) => `docker://${registry.host}/${name}`;
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });

  /** Makes a credential on the page with the preset `scope` (and `repository`); its secret, shown once. */
  async function create(label: string, scope: string, repository?: string): Promise<string> {
    await page.goto(`${wharf.url}/account`);
    await page.getByLabel('Name (where you will use it)').fill(label);
    await page.getByLabel(scope, { exact: true }).check();
    if (repository !== undefined) await page.getByLabel(/^Repository/).fill(repository);
    await page.getByRole('button', { name: 'Create credential' }).click();
    const secret = (await page.locator('#credential').textContent())?.trim() ?? '';
    expect(secret).toMatch(/^wharf_cr_/);
    return secret;
  }

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-account-scopes-'));
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    const wharfUrl = `http://127.0.0.1:${wharfPort}`;
    idp = await startTestIdp({ redirectUris: [`${wharfUrl}/login/google/callback`], users: { alice: { email: 'alice@example.com', email_verified: true, hd: 'example.com' } } });
    secrets.WHARF_GOOGLE_CLIENT_SECRET = idp.clientSecret;
    const configFile = await writeConfig(
      {
        server: { port: wharfPort },
        dataDir: join(work, 'data'),
        federation: { registryHost: `127.0.0.1:${registryPort}`, providers: [{ type: 'google', clientId: idp.clientId, issuer: idp.issuer, allowedDomains: ['example.com'] }] },
      },
      work,
    );
    const cli = await runWharfCli(['registry-config', '--config', configFile, '--out', join(work, 'registry'), '--listen', `127.0.0.1:${registryPort}`], { env: secrets });
    expect(cli.code, cli.stderr).toBe(0);
    wharf = await startWharf(configFile, secrets);
    registry = await startRegistry({ configFile: join(work, 'registry', 'config.yml') });
    image = await buildOciImage(join(work, 'image'), { tag: 'v1', content: 'account page scopes' });
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    await page.goto(`${wharf.url}/login`);
    await page.getByRole('link', { name: 'Sign in with Google' }).click();
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any-password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click(); // consent
    await page.waitForURL(`${wharf.url}/account`);
    // Two repositories of alice's, pushed with a full-rights credential made on the page.
    const full = await create('seed', 'Full rights: everything my account may do');
    for (const name of ['alice/app:v1', 'alice/other:v1']) {
      const push = await skopeoCopy(image.ref, repo(name), { creds: `alice:${full}` });
      expect(push.code, push.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await registry?.stop();
    await wharf?.stop();
    await idp?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls alice/app, cannot push it, gets nothing of alice/other, and is refused once revoked on the page', async () => {
    const secret = await create('ci', 'This repository only: pull', 'alice/app');
    await expect(page.locator('.notice').textContent()).resolves.toContain('It may: pull on alice/app.');
    await shot('account-scoped-created');
    const creds = `alice:${secret}`;

    const pull = await skopeoCopy(repo('alice/app:v1'), `oci:${join(work, 'pulled')}:v1`, { creds });
    expect(pull.code, pull.stderr).toBe(0);
    const push = await skopeoCopy(image.ref, repo('alice/app:v2'), { creds });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/denied|unauthorized|authentication required/i);
    // The registry refused because the token lacked push: Wharf's audit line says the scope removed it.
    const issued = wharf.logs.filter((l) => l.event === 'token_issued' && JSON.stringify(l.decisions).includes('"source":"credential"'));
    expect(issued.some((l) => JSON.stringify(l.decisions).includes("push not in the credential's scope"))).toBe(true);
    const other = await skopeoInspect(repo('alice/other:v1'), { creds, raw: true });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/denied|unauthorized|authentication required/i);

    await page.goto(`${wharf.url}/account`);
    const row = page.getByRole('row').filter({ hasText: 'ci' }).filter({ hasText: 'pull on alice/app' });
    await expect(row.count()).resolves.toBe(1);
    await page.getByRole('button', { name: 'Revoke ci', exact: true }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Credential revoked');
    const after = await skopeoInspect(repo('alice/app:v1'), { creds, raw: true });
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain('unauthorized: invalid username or password'); // Wharf's 401, as skopeo prints it
  });

  it('rotates on the page: both secrets pull until the previous one is retired, then only the new one', async () => {
    const first = await create('deploy', 'This repository only: pull', 'alice/app');
    await page.goto(`${wharf.url}/account`);
    await page.getByRole('button', { name: 'Rotate deploy', exact: true }).click();
    const second = (await page.locator('#credential').textContent())?.trim() ?? '';
    expect(second).toMatch(/^wharf_cr_/);
    expect(second).not.toBe(first);
    await shot('account-rotated');
    for (const secret of [first, second]) {
      const both = await skopeoInspect(repo('alice/app:v1'), { creds: `alice:${secret}`, raw: true });
      expect(both.code, both.stderr).toBe(0);
    }
    await page.getByRole('button', { name: 'Retire the previous secret', exact: true }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Previous secret retired');
    const old = await skopeoInspect(repo('alice/app:v1'), { creds: `alice:${first}`, raw: true });
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain('unauthorized: invalid username or password');
    const renewed = await skopeoInspect(repo('alice/app:v1'), { creds: `alice:${second}`, raw: true });
    expect(renewed.code, renewed.stderr).toBe(0);
  });
});
