import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { launchBrowser } from '../support/browser.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';
import { freePort } from '../support/ports.js';
import { runWharfCli, startWharf, writeConfig, type WharfHandle } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

const CONFLICT = 'account "demo" belongs to another sign-in method; ask an administrator';

// The finding: a Google login that admits an outside domain signs `demo@evil.example` in as
// `demo`, the static demo user, and the credential made there pushes to demo/*. With bindings the
// static user owns `demo` from start-up, the Google sign-in is refused, and only an operator's
// `wharf accounts unbind` hands the name over.
describe('account bindings against a running Wharf', () => {
  let work: string;
  let idp: TestIdp;
  let wharf: WharfHandle;
  let browser: Browser;
  let configFile: string;
  let config: ConfigInput;
  const demoPassword = randomBytes(12).toString('base64url');
  const secrets: Record<string, string> = { WHARF_HASH_KEY: randomBytes(24).toString('hex') };

  async function signInWithGoogle(page: Page, login: string) {
    await page.goto(`${wharf.url}/login`);
    await page.getByRole('link', { name: 'Sign in with Google' }).click();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any-password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click(); // consent
    await page.waitForURL((url) => url.href.startsWith(wharf.url));
  }

  const staticToken = () =>
    fetch(`${wharf.url}/token?service=registry&scope=repository:demo/app:push,pull`, { headers: { authorization: `Basic ${Buffer.from(`demo:${demoPassword}`).toString('base64')}` } });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-bindings-'));
    const port = await freePort();
    idp = await startTestIdp({
      redirectUris: [`http://127.0.0.1:${port}/login/google/callback`],
      users: { demo: { email: 'demo@evil.example', email_verified: true, hd: 'evil.example' } },
    });
    secrets.WHARF_GOOGLE_CLIENT_SECRET = idp.clientSecret;
    config = {
      server: { port },
      dataDir: join(work, 'data'),
      authn: [{ type: 'static', users: { demo: { passwordHash: await bcrypt.hash(demoPassword, 4) } } }],
      // An operator admitted a partner domain; its `demo` is not the static demo.
      federation: { providers: [{ type: 'google', clientId: idp.clientId, issuer: idp.issuer, allowedDomains: ['evil.example'] }] },
    };
    configFile = await writeConfig(config, work);
    wharf = await startWharf(configFile, secrets);
    browser = await launchBrowser();
  });

  afterAll(() => shutDown(browser, wharf, idp, work));

  it('config check refuses a Google login open to every Google account unless allowAnyAccount comes with an account prefix', async () => {
    const google = { type: 'google' as const, clientId: 'x', issuer: 'https://accounts.google.com' };
    const check = async (provider: Record<string, unknown>, name: string) => {
      await mkdir(join(work, name));
      const file = await writeConfig({ ...config, federation: { providers: [{ ...google, ...provider } as never] } }, join(work, name));
      return runWharfCli(['config', 'check', file]);
    };
    const open = await check({}, 'open');
    expect(open.code).toBe(1);
    expect(open.stderr).toContain(
      'federation.providers.0: this admits every Google account on the internet and lets them take account names other backends\' users have: set allowedDomains, or allowAnyAccount: true with an accountPrefix',
    );
    const noPrefix = await check({ allowAnyAccount: true }, 'no-prefix');
    expect(noPrefix.code).toBe(1);
    expect(noPrefix.stderr).toContain('federation.providers.0.accountPrefix: allowAnyAccount admits every Google account on the internet: give an accountPrefix');
    await mkdir(join(work, 'static-clash'));
    const staticClash = await writeConfig({ ...config, authn: [{ type: 'static', users: { 'g-admin': { passwordHash: '$2b$04$' + 'a'.repeat(53) } } }], federation: { providers: [{ ...google, allowAnyAccount: true, accountPrefix: 'g-' }] } }, join(work, 'static-clash'));
    const staticResult = await runWharfCli(['config', 'check', staticClash]);
    expect(staticResult.code).toBe(1);
    expect(staticResult.stderr).toContain('authn.0.users.g-admin: user name starts with "g-", the account prefix of another sign-in method');
    const prefixed = await check({ allowAnyAccount: true, accountPrefix: 'g-' }, 'prefixed');
    expect(prefixed.code, prefixed.stderr).toBe(0);
  });

  it('refuses demo@evil.example as the static demo, until an operator unbinds the name; then the static demo is refused', async () => {
    const list = await runWharfCli(['accounts', 'list', '--config', configFile], { env: secrets });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^demo\tstatic\tdemo\t\d{4}-\d\d-\d\dT/m);

    const context = await browser.newContext();
    const page = await context.newPage();
    await signInWithGoogle(page, 'demo');
    expect(page.url()).toContain('/login/google/callback');
    await expect(page.locator('.error').textContent()).resolves.toBe(CONFLICT);
    const googleSource = `google:${new URL(idp.issuer).host}`;
    expect(wharf.logs.filter((l) => l.event === 'account_conflict')).toEqual([expect.objectContaining({ account: 'demo', source: googleSource, ownerSource: 'static' })]);
    // No session: the account page sends the browser to sign in.
    await page.goto(`${wharf.url}/account`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect((await staticToken()).status).toBe(200);

    const unbind = await runWharfCli(['accounts', 'unbind', 'demo', '--config', configFile], { env: secrets });
    expect(unbind.code, unbind.stderr).toBe(0);
    expect(unbind.stdout).toContain('unbound demo (was static)');
    // A browser of its own: the identity provider would remember the first sign-in.
    const second = await browser.newContext();
    const again = await second.newPage();
    await signInWithGoogle(again, 'demo');
    expect(new URL(again.url()).pathname).toBe('/account');
    const show = await runWharfCli(['accounts', 'show', 'demo', '--config', configFile], { env: secrets });
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`source: ${googleSource}\n`);

    const refused = await staticToken();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(CONFLICT);
    const missing = await runWharfCli(['accounts', 'show', 'nobody', '--config', configFile], { env: secrets });
    expect(missing.code).toBe(1);

    // Handed back: the Google session made before is now worth nothing, on the account page and
    // for approving a device.
    expect((await runWharfCli(['accounts', 'unbind', 'demo', '--config', configFile], { env: secrets })).code).toBe(0);
    expect((await staticToken()).status).toBe(200);
    const accountPage = await again.goto(`${wharf.url}/account`);
    expect(accountPage?.status()).toBe(403);
    await expect(again.locator('.error').textContent()).resolves.toBe(CONFLICT);
    const started = await fetch(`${wharf.url}/device/code`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=wharf-cli' });
    const { user_code: userCode } = (await started.json()) as { user_code: string };
    await again.goto(`${wharf.url}/device?user_code=${encodeURIComponent(userCode)}`);
    await again.getByRole('button', { name: 'Continue' }).click();
    const [approval] = await Promise.all([again.waitForResponse((r) => r.url().endsWith('/device/decide')), again.getByRole('button', { name: 'Approve' }).click()]);
    expect(approval.status()).toBe(403);
    await expect(again.locator('.error').textContent()).resolves.toBe(CONFLICT);
    await second.close();
    await context.close();
  });
});
