import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startExchangeStandIn, type ExchangeStandIn } from '../support/exchange-standin.js';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { runCommand, type CommandResult } from '../support/processes.js';
import { shutDown } from '../support/shut-down.js';
import { goDurationSeconds, kubeletKeyMatches, kubeletRequest, runPlugin, serviceAccountToken } from './kubelet-request.js';

// The built plugin, spawned as the kubelet spawns it, against a real HTTP stand-in of Wharf's
// exchange (POST /api/v1/exchange). The end-to-end chain with Wharf, the registry, ctr and skopeo
// is the exchange's own test.

const PASSWORD = 'wharf_xc_standin-credential-secret';

/** Exactly one line on stderr, no token, no password, nothing on stdout: what the kubelet logs on a failure. */
function expectOneLineFailure(result: CommandResult, exitCode: number, token: string): string {
  expect(result.code, result.stderr).toBe(exitCode);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^wharf-kubelet-credential-provider: [^\n]+\n$/);
  expect(result.stderr).not.toContain(token);
  // Not a piece of it either, nor of any other JWT (`eyJ` is base64url of `{"`).
  expect(result.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{8}/);
  expect(result.stderr).not.toContain(PASSWORD);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return result.stderr;
}

describe('wharf-kubelet-credential-provider', () => {
  let standIn: ExchangeStandIn;
  let host: string;
  const token = serviceAccountToken();
  const image = () => `${host}/team-a/app`;
  const plugin = (input: string, args: string[] = ['--url', standIn.url], env: Record<string, string> = {}) => runPlugin(args, input, env);

  beforeAll(async () => {
    standIn = await startExchangeStandIn();
    // The registry the pod pulls from; the plugin only talks to Wharf, so nothing listens there.
    host = `127.0.0.1:${await freePort()}`;
  });
  afterAll(() => shutDown(standIn));
  beforeEach(() => {
    standIn.behaviour = { kind: 'grant' };
    standIn.calls = [];
  });

  it('exchanges the pod token for a pull credential of the image repository, keyed so the kubelet offers it for that image', async () => {
    const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token, serviceAccountAnnotations: { 'wharf/pull': 'team-a/app' } }));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    // Nothing but the fields the kubelet knows: it decodes the response strictly.
    expect(JSON.parse(result.stdout)).toEqual({
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderResponse',
      cacheKeyType: 'Image',
      cacheDuration: '9m30s',
      auth: { [image()]: { username: 'team-a', password: PASSWORD } },
    });
    expect(standIn.calls).toHaveLength(1);
    const [call] = standIn.calls;
    expect(call).toMatchObject({ method: 'POST', path: '/api/v1/exchange' });
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.body).toEqual({ token, image: image(), annotations: { 'wharf/pull': 'team-a/app' } });

    const key = Object.keys(JSON.parse(result.stdout).auth as object)[0]!;
    expect(kubeletKeyMatches(key, image())).toBe(true);
    expect(kubeletKeyMatches(key, `${host}/team-b/app`)).toBe(false);
    expect(kubeletKeyMatches(key, `${host.split(':')[0]}:1/team-a/app`)).toBe(false);
  });

  it.each([
    [600, '9m30s'],
    [3600, '59m30s'],
    [45, '41s'],
    [5, '4s'],
    [1, '0s'],
  ])('a credential living %i s is cached %s, never past its end', async (expiresIn, expected) => {
    standIn.behaviour = { kind: 'grant', expiresIn };
    const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }));
    expect(result.code, result.stderr).toBe(0);
    const { cacheDuration } = JSON.parse(result.stdout) as { cacheDuration: string };
    expect(cacheDuration).toBe(expected);
    expect(goDurationSeconds(cacheDuration)).toBeLessThan(expiresIn);
  });

  it('keys the credential by repository whether the image comes with a tag or a digest, and sends no annotations it was not given', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    for (const ref of [`${image()}:1.0`, `${image()}@${digest}`, `${image()}:1.0@${digest}`]) {
      standIn.calls = [];
      const result = await plugin(kubeletRequest({ image: ref, serviceAccountToken: token }));
      expect(result.code, result.stderr).toBe(0);
      expect(Object.keys(JSON.parse(result.stdout).auth as object)).toEqual([image()]);
      expect(standIn.calls[0]!.body).toEqual({ token, image: ref });
    }
  });

  it('takes the URL and timeout from env, as a CredentialProviderConfig env list passes them', async () => {
    const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }), [], { WHARF_URL: `${standIn.url}/`, WHARF_TIMEOUT: '5' });
    expect(result.code, result.stderr).toBe(0);
    expect(standIn.calls.map((c) => c.path)).toEqual(['/api/v1/exchange']);
  });

  describe('refuses a request the kubelet was not set up to send, before calling Wharf', () => {
    it.each([
      ['another apiVersion', { apiVersion: 'credentialprovider.kubelet.k8s.io/v1beta1' }, /apiVersion is "credentialprovider\.kubelet\.k8s\.io\/v1beta1".*credentialprovider\.kubelet\.k8s\.io\/v1/],
      ['another kind', { kind: 'CredentialProviderResponse' }, /kind is "CredentialProviderResponse"/],
      ['no service-account token (no tokenAttributes)', { serviceAccountToken: undefined }, /no serviceAccountToken.*tokenAttributes\.serviceAccountTokenAudience/],
      ['an image without a registry host', { image: 'team-a/app' }, /names no registry host/],
    ])('%s: exit 3', async (_name, fields, message) => {
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token, ...fields }));
      expect(expectOneLineFailure(result, 3, token)).toMatch(message);
      expect(standIn.calls).toEqual([]);
    });

    it('stdin that is not JSON: exit 3, without quoting it (it holds the token)', async () => {
      const result = await plugin(`{"serviceAccountToken": "${token}", "image": `);
      expect(expectOneLineFailure(result, 3, token)).toMatch(/not JSON/);
    });
  });

  describe('settings', () => {
    it.each([
      ['no URL', [], /no Wharf URL.*--url.*WHARF_URL/],
      ['plain HTTP to a remote host', ['--url', 'http://wharf.example.com'], /plain HTTP/],
      ['an unknown argument', ['--url', 'https://wharf.example.com', '--insecure'], /--insecure/],
      ['a timeout past the kubelet own limit', ['--url', 'https://wharf.example.com', '--timeout', '90'], /timeout/],
      ['a CA file that is not there', ['--url', 'https://wharf.example.com', '--ca-file', '/nonexistent/ca.pem'], /cannot read the CA bundle.*ENOENT/],
    ])('%s: exit 2, nothing sent', async (_name, args, message) => {
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }), args);
      expect(expectOneLineFailure(result, 2, token)).toMatch(message);
      expect(standIn.calls).toEqual([]);
    });

    it('--help prints the args, env and exit codes', async () => {
      const result = await runPlugin(['--help'], '');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/--url URL.*WHARF_URL/);
      expect(result.stdout).toMatch(/--ca-file FILE.*WHARF_CA_FILE/);
      expect(result.stdout).toMatch(/Exit codes: 0 answered, 2 settings, 3 request on stdin, 4 Wharf refused, 5 Wharf unavailable/);
    });
  });

  describe('Wharf refusing or failing: one line that says why, never the token', () => {
    it.each([
      [401, 'UNAUTHORIZED', 'token expired', 4, /refused the pod's service-account token for .*team-a\/app \(401 UNAUTHORIZED: token expired\)/],
      [403, 'DENIED', 'team-b/app is outside what the rule allows', 4, /denied .*team-a\/app.*403 DENIED: team-b\/app is outside/],
      [400, 'INVALID_REQUEST', 'image is required', 4, /400 INVALID_REQUEST: image is required/],
      [429, 'TOO_MANY_REQUESTS', 'slow down', 5, /limiting exchanges \(429/],
      [503, 'UNAVAILABLE', 'issuer unreachable', 5, /could not answer \(503 UNAVAILABLE: issuer unreachable\)/],
    ])('%i %s (%s): exit %i', async (status, code, message, exitCode, line) => {
      standIn.behaviour = { kind: 'refuse', status, code, message };
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }));
      expect(expectOneLineFailure(result, exitCode, token)).toMatch(line);
    });

    it('a message that echoes the token (or any JWT) is cut, and stays on one line', async () => {
      standIn.behaviour = { kind: 'refuse', status: 401, code: 'UNAUTHORIZED', message: `bad token ${token}\nsecond line ${serviceAccountToken('other')}` };
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }));
      expect(expectOneLineFailure(result, 4, token)).toMatch(/bad token \[redacted\] second line \[redacted\]/);
    });

    it.each([
      ['a 500 page that is not JSON', { kind: 'raw', status: 500, body: '<html>oops</html>', contentType: 'text/html' } as const, /could not answer \(500 no error message\)/],
      ['a 200 that is not JSON', { kind: 'raw', status: 200, body: `{"password":"${PASSWORD}"` } as const, /answer is not JSON/],
      ['a 200 without a password', { kind: 'raw', status: 200, body: '{"username":"team-a","repository":"team-a/app","expires_in":600}' } as const, /no usable password/],
      ['a 200 without expires_in', { kind: 'raw', status: 200, body: `{"username":"team-a","password":"${PASSWORD}","repository":"team-a/app"}` } as const, /no usable expires_in/],
      ['a credential for another repository', { kind: 'grant', repository: 'team-a/other' } as const, /credential for .*team-a\/other, not for .*team-a\/app/],
      ['a credential for another registry', { kind: 'grant', registry: 'registry.elsewhere:5000' } as const, /registry\.elsewhere:5000\/team-a\/app, not for/],
      ['a reset connection', { kind: 'reset' } as const, /cannot reach Wharf at .*: the connection was reset/],
    ])('%s: exit 5', async (_name, behaviour, line) => {
      standIn.behaviour = behaviour;
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }));
      expect(expectOneLineFailure(result, 5, token)).toMatch(line);
    });

    it('Wharf not listening: exit 5', async () => {
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }), ['--url', `http://127.0.0.1:${await freePort()}`]);
      expect(expectOneLineFailure(result, 5, token)).toMatch(/connection refused/);
    });

    it('Wharf never answering: exit 5 once the timeout is spent', async () => {
      standIn.behaviour = { kind: 'hang' };
      const result = await plugin(kubeletRequest({ image: image(), serviceAccountToken: token }), ['--url', standIn.url, '--timeout', '0.3']);
      expect(expectOneLineFailure(result, 5, token)).toMatch(/did not answer within 0\.3 s.*--timeout/);
      expect(result.timedOut).toBe(false);
    });
  });
});

describe('wharf-kubelet-credential-provider over HTTPS', () => {
  let standIn: ExchangeStandIn;
  let dir: string;
  const token = serviceAccountToken();
  const request = kubeletRequest({ image: '127.0.0.1:5000/team-a/app', serviceAccountToken: token });

  beforeAll(async () => {
    requireCommand('/usr/bin/openssl', 'openssl');
    dir = await mkdtemp(join(tmpdir(), 'wharf-kubelet-tls-'));
    const made = await runCommand('/usr/bin/openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem'),
      '-days', '1', '-subj', '/CN=wharf-exchange-test', '-addext', 'subjectAltName=IP:127.0.0.1',
    ]);
    expect(made.code, made.stderr).toBe(0);
    standIn = await startExchangeStandIn({ key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'ca.pem'), 'utf8') });
  });
  afterAll(() => shutDown(standIn, dir));

  it('trusts a private CA given by --ca-file (or WHARF_CA_FILE)', async () => {
    const byArg = await runPlugin(['--url', standIn.url, '--ca-file', join(dir, 'ca.pem')], request);
    expect(byArg.code, byArg.stderr).toBe(0);
    expect(JSON.parse(byArg.stdout).auth['127.0.0.1:5000/team-a/app'].password).toBe(PASSWORD);
    const byEnv = await runPlugin([], request, { WHARF_URL: standIn.url, WHARF_CA_FILE: join(dir, 'ca.pem') });
    expect(byEnv.code, byEnv.stderr).toBe(0);
  });

  it('refuses a certificate nobody vouched for, and says which setting fixes it', async () => {
    standIn.calls = [];
    const result = await runPlugin(['--url', standIn.url], request);
    expect(expectOneLineFailure(result, 5, token)).toMatch(/certificate is not trusted.*--ca-file/);
    expect(standIn.calls).toEqual([]);
  });
});
