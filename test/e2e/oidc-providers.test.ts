import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, SCREENSHOT_DIR } from '../support/browser.js';
import { awkwardSecret, startTestIdp, type TestIdp } from '../support/oidc-idp.js';
import { freePort } from '../support/ports.js';
import { startWharf, writeConfig, type WharfHandle } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// Identity providers as they are: a real oidc-provider with its default claims behaviour (scope
// claims only in UserInfo), clients that each accept one token-endpoint authentication method,
// a provider whose discovery document is incomplete, and unverified e-mail addresses.
describe('OpenID Connect providers as they really are', () => {
  let work: string;
  let idp: TestIdp;
  let wharf: WharfHandle;
  let broken: Server;
  let browser: Browser;
  const secrets: Record<string, string> = { WHARF_HASH_KEY: randomBytes(24).toString('hex') };
  const postSecret = awkwardSecret();
  const clientKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  /** Signs in through the IdP's own login and consent forms; returns the page where Wharf sent the browser. */
  async function signIn(provider: string, login: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${wharf.url}/login`);
    await page.getByRole('link', { name: `Sign in with ${provider}`, exact: true }).click();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any-password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click(); // consent
    await page.waitForURL((url) => url.pathname === '/account' || url.pathname.endsWith('/callback'));
    return page;
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-oidc-providers-'));
    const wharfPort = await freePort();
    const wharfUrl = `http://127.0.0.1:${wharfPort}`;
    const names = ['keycloak', 'post', 'keyjwt', 'mail', 'wrongauth'];
    idp = await startTestIdp({
      redirectUris: names.map((n) => `${wharfUrl}/login/${n}/callback`),
      users: {
        bob: { email: 'bob@example.com', email_verified: true, preferred_username: 'Bob', groups: ['devs'] },
        carol: { email: 'carol@example.com', email_verified: false, preferred_username: 'carol' },
        eve: { email: 'eve@example.com', email_verified: true, preferred_username: 'eve', userinfoSub: 'bob' },
      },
      clients: [
        { clientId: 'wharf-post', method: 'client_secret_post', clientSecret: postSecret },
        { clientId: 'wharf-keyjwt', method: 'private_key_jwt', publicJwk: { ...clientKey.publicKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig' } },
      ],
    });
    // An issuer whose discovery document lacks authorization_endpoint.
    broken = createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(broken.address() as { port: number }).port}`;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.url === '/.well-known/openid-configuration' ? { issuer, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` } : {}));
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const brokenIssuer = `http://127.0.0.1:${(broken.address() as { port: number }).port}`;
    await writeFile(join(work, 'client-key.pem'), clientKey.privateKey.export({ type: 'sec1', format: 'pem' }));
    secrets.WHARF_KEYCLOAK_CLIENT_SECRET = idp.clientSecret;
    secrets.WHARF_MAIL_CLIENT_SECRET = idp.clientSecret;
    secrets.WHARF_POST_CLIENT_SECRET = postSecret;
    secrets.WHARF_WRONGAUTH_CLIENT_SECRET = idp.clientSecret;
    secrets.WHARF_BROKEN_CLIENT_SECRET = 'unused';
    const oidc = { type: 'oidc' as const, issuer: idp.issuer };
    const configFile = await writeConfig(
      {
        server: { port: wharfPort },
        dataDir: join(work, 'data'),
        federation: {
          registryHost: 'registry.example.com',
          providers: [
            // client_secret_basic by default, the only method this client accepts.
            { ...oidc, name: 'keycloak', displayName: 'Keycloak', logoUrl: 'https://sso.example.com/logo.svg', clientId: idp.clientId },
            { ...oidc, name: 'post', displayName: 'Post', clientId: 'wharf-post', clientAuthentication: 'client_secret_post' },
            { ...oidc, name: 'keyjwt', displayName: 'Key', clientId: 'wharf-keyjwt', clientAuthentication: 'private_key_jwt', clientPrivateKeyFile: join(work, 'client-key.pem') },
            { ...oidc, name: 'mail', displayName: 'Mail', clientId: idp.clientId, accountClaim: 'email', accountTransform: 'email-local-part' },
            // The basic-only client, told to send its secret in the body: the provider refuses.
            { ...oidc, name: 'wrongauth', displayName: 'Wrong', clientId: idp.clientId, clientAuthentication: 'client_secret_post' },
            { type: 'oidc', name: 'broken', displayName: 'Broken SSO', issuer: brokenIssuer, clientId: 'wharf' },
          ],
        },
        authz: {
          acl: {
            rules: [
              { group: 'devs', name: 'team/*', actions: ['pull'] },
              { account: '*', name: '${account}/*', actions: ['push', 'pull'] },
            ],
          },
        },
      },
      work,
    );
    wharf = await startWharf(configFile, secrets);
    browser = await launchBrowser();
  });

  afterAll(() => shutDown(browser, wharf, idp, broken, work));

  it('shows each provider by its display name, with its logo', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${wharf.url}/login`);
    const keycloak = page.getByRole('link', { name: 'Sign in with Keycloak' });
    await expect(keycloak.getAttribute('href')).resolves.toMatch(/^\/login\/keycloak\?/);
    await expect(keycloak.locator('img').getAttribute('src')).resolves.toBe('https://sso.example.com/logo.svg');
    await expect(page.getByRole('link', { name: 'Sign in with Broken SSO' }).isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'login-page-display-names.png'), fullPage: true });
  });

  it('reads the account and groups from UserInfo when the ID token lacks them, and the groups reach ACL group rules', async () => {
    const page = await signIn('Keycloak', 'bob');
    await expect(page.locator('header').textContent()).resolves.toContain('Signed in as bob');
    await page.getByLabel('Name (where you will use it)').fill('laptop');
    await page.getByRole('button', { name: 'Create credential' }).click();
    const credential = (await page.locator('#credential').textContent())?.trim() ?? '';
    const basic = Buffer.from(`bob:${credential}`).toString('base64');
    const answer = await fetch(`${wharf.url}/token?service=registry&scope=repository:team/app:pull&scope=repository:other/app:pull`, { headers: { authorization: `Basic ${basic}` } });
    expect(answer.status).toBe(200);
    const { token } = (await answer.json()) as { token: string };
    // `devs` came from UserInfo only: the group rule grants team/*, nothing grants other/*.
    expect(decodeJwt(token).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  it('refuses UserInfo claims whose sub is not the ID token’s', async () => {
    const page = await signIn('Keycloak', 'eve');
    await expect(page.locator('.error').textContent()).resolves.toContain('could not be verified');
    const line = wharf.logs.find((l) => l.event === 'login_refused' && l.provider === 'keycloak');
    expect(String(line?.reason)).toMatch(/sub/);
  });

  it.each([
    ['client_secret_basic', 'Keycloak'],
    ['client_secret_post', 'Post'],
    ['private_key_jwt', 'Key'],
  ])('signs in with %s against a client that accepts only that method', async (_method, provider) => {
    const page = await signIn(provider, 'bob');
    expect(new URL(page.url()).pathname).toBe('/account');
    await expect(page.locator('header').textContent()).resolves.toContain('Signed in as bob');
  });

  it('is refused by the provider when the configured method is not the client’s', async () => {
    const page = await signIn('Wrong', 'bob');
    await expect(page.locator('.error').textContent()).resolves.toContain('could not be verified');
    const line = wharf.logs.find((l) => l.event === 'login_refused' && l.provider === 'wrongauth');
    expect(String(line?.reason)).toMatch(/invalid_client|client authentication/i);
  });

  it('takes an e-mail address as the account only when it is verified', async () => {
    const ok = await signIn('Mail', 'bob');
    await expect(ok.locator('header').textContent()).resolves.toContain('Signed in as bob');
    const refused = await signIn('Mail', 'carol');
    await expect(refused.locator('.error').textContent()).resolves.toContain('e-mail address is not verified');
  });

  it('answers a provider with an incomplete discovery document with a 503 page, one log line, and /readyz', async () => {
    const before = wharf.logs.length;
    const response = await fetch(`${wharf.url}/login/broken`, { redirect: 'manual' });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(body).toContain('The sign-in provider Broken SSO is misconfigured or unreachable; try again later.');
    expect(body).not.toContain('authorization_endpoint');
    const lines = wharf.logs.slice(before).filter((l) => Number(l.level) >= 40 || l.event === 'login_provider_unavailable');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'login_provider_unavailable', provider: 'broken' });
    expect(String(lines[0]!.reason)).toContain('"authorization_endpoint"');
    expect(JSON.stringify(lines[0])).not.toMatch(/\n\s+at /);

    const ready = (await (await fetch(`${wharf.url}/readyz`)).json()) as { status: string; checks: Record<string, string> };
    expect(ready.status).toBe('degraded');
    expect(ready.checks['login.broken']).toContain('"authorization_endpoint"');
    expect(ready.checks['login.keycloak']).toBe('ok');
  });

  it('never logs a client secret or a private key', () => {
    const logs = wharf.rawLogs();
    expect(logs).not.toContain(idp.clientSecret);
    expect(logs).not.toContain(postSecret);
    expect(logs).not.toContain('PRIVATE KEY');
  });
});
