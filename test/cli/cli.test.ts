import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { httpGet, startProcess, waitUntil } from '../support/processes.js';
import { runWharfCli, WHARF_BIN } from '../support/wharf.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'wharf-cli-'));

describe('wharf config check', () => {
  it('says ok for a valid file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'ok.yml'), 'token:\n  issuer: me\n');
    const result = await runWharfCli(['config', 'check', join(dir, 'ok.yml')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok');
  });

  it('prints every problem with its path and exits 1', async () => {
    const dir = await tempDir();
    const file = join(dir, 'bad.yml');
    await writeFile(file, 'server:\n  port: -1\ntoken:\n  lifetimeSeconds: 10\nauthn:\n  - type: static\n    users:\n      bob: { passwordHash: hunter2 }\nbogus: true\n');
    const result = await runWharfCli(['config', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('4 problems');
    for (const path of ['server.port', 'token.lifetimeSeconds', 'authn.0.users.bob.passwordHash', '(root)']) expect(result.stderr).toContain(`${path}:`);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it('warns, without failing, about trusting X-Forwarded-For from everyone or from ranges broader than a /24 or /64', async () => {
    const dir = await tempDir();
    const check = async (trustProxy: string) => {
      const file = join(dir, 'proxy.yml');
      await writeFile(file, `server:\n  trustProxy: ${trustProxy}\n`);
      const result = await runWharfCli(['config', 'check', file]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('ok');
      return result.stderr;
    };
    expect(await check('10.0.0.0/8')).toMatch(/server\.trustProxy: warning: 10\.0\.0\.0\/8 is broader than a \/24/);
    expect(await check('true')).toMatch(/server\.trustProxy: warning: true trusts X-Forwarded-For from any sender/);
    expect(await check('[10.1.2.0/24, "fd00::/48"]')).toMatch(/warning: fd00::\/48 is broader than a \/64/);
    expect(await check('uniquelocal')).toMatch(/warning: uniquelocal trusts 10\.0\.0\.0\/8/);
    // The proxy itself, or a hop count: nothing to say.
    for (const narrow of ['1', '10.1.2.3', '10.1.2.0/24', '"2001:db8::/64"']) expect(await check(narrow)).toBe('');
  });
});

describe('wharf config check on login providers', () => {
  it('requires the key file of private_key_jwt, and refuses a logo that is not https', async () => {
    const dir = await tempDir();
    const file = join(dir, 'providers.yml');
    await writeFile(
      file,
      [
        'federation:',
        '  providers:',
        '    - { type: oidc, name: okta, issuer: https://example.okta.com, clientId: x, clientAuthentication: private_key_jwt }',
        '    - { type: oidc, name: kc, issuer: https://sso.example.com, clientId: x, clientPrivateKeyFile: /k.pem, logoUrl: "javascript:alert(1)" }',
        '    - { type: github, clientId: x, logoUrl: "http://cdn.example.com/gh.png" }',
        '',
      ].join('\n'),
    );
    const result = await runWharfCli(['config', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('federation.providers.0.clientPrivateKeyFile: required with clientAuthentication private_key_jwt');
    expect(result.stderr).toContain('federation.providers.1.clientPrivateKeyFile: used only with clientAuthentication private_key_jwt');
    expect(result.stderr).toMatch(/federation\.providers\.1\.logoUrl: /);
    expect(result.stderr).toMatch(/federation\.providers\.2\.logoUrl: must be an https URL/);
  });
});

describe('wharf hash-password', () => {
  it('prints a bcrypt hash of the password on stdin', async () => {
    const result = await runWharfCli(['hash-password', '--cost', '10'], { input: 'correct horse\n' });
    expect(result.code, result.stderr).toBe(0);
    const hash = result.stdout.trim();
    expect(hash).toMatch(/^\$2b\$10\$/);
    expect(await bcrypt.compare('correct horse', hash)).toBe(true);
  });

  it('refuses an empty password and a silly cost', async () => {
    expect((await runWharfCli(['hash-password'], { input: '' })).code).toBe(2);
    expect((await runWharfCli(['hash-password', '--cost', '4'], { input: 'x' })).code).toBe(2);
  });
});

describe('wharf keys generate', () => {
  it('writes a CA and a signing chain, and refuses to overwrite them', async () => {
    const dir = join(await tempDir(), 'keys');
    const first = await runWharfCli(['keys', 'generate', '--out', dir, '--alg', 'RS256']);
    expect(first.code, first.stderr).toBe(0);
    for (const f of ['ca.pem', 'ca-key.pem', 'signing-key.pem', 'signing-chain.pem']) await access(join(dir, f));
    expect(first.stdout).toContain(`signingKeyFile: ${join(dir, 'signing-key.pem')}`);
    const second = await runWharfCli(['keys', 'generate', '--out', dir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('refusing to overwrite');
  });
});

describe('wharf registry-config', () => {
  it('prints a registry config whose token section matches the settings', async () => {
    const dir = await tempDir();
    const result = await runWharfCli(['registry-config', '--realm', 'https://auth.example/token'], {
      cwd: dir,
      env: { WHARF_ISSUER: 'iss-x', WHARF_SERVICE: 'svc-x', WHARF_DATA_DIR: join(dir, 'state') },
    });
    expect(result.code, result.stderr).toBe(0);
    const doc = parse(result.stdout);
    expect(doc.auth.token).toMatchObject({ realm: 'https://auth.example/token', service: 'svc-x', issuer: 'iss-x' });
    expect(await readFile(doc.auth.token.rootcertbundle, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(doc.http.addr).toBe('127.0.0.1:5000');
  });
});

describe('wharf serve on the embedded defaults', () => {
  it('creates the demo user once, keeps its password across restarts, and grants demo/* only', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const start = async () => {
      const proc = await startProcess(process.execPath, [WHARF_BIN, 'serve'], { cwd: dir, env: { PATH: process.env.PATH ?? '', PORT: String(port) } });
      await waitUntil('wharf serve prints its settings', async () => (proc.logs().includes('rootcertbundle') ? true : undefined), { process: proc });
      return proc;
    };
    const first = await start();
    const printed = /password \(shown only now\): (\S+)/.exec(first.logs())?.[1];
    expect(printed).toBeDefined();
    expect(first.logs()).toContain(`realm: http://127.0.0.1:${port}/token`);
    await first.stop();

    const second = await start();
    try {
      expect(second.logs()).not.toContain(printed!);
      const auth = { authorization: `Basic ${Buffer.from(`demo:${printed}`).toString('base64')}` };
      const ok = await httpGet(`http://127.0.0.1:${port}/token?service=registry&scope=repository:demo/app:push,pull&scope=repository:other/app:pull`, { headers: auth });
      expect(ok.status).toBe(200);
      const payload = JSON.parse(Buffer.from(JSON.parse(ok.body).token.split('.')[1], 'base64url').toString());
      expect(payload.access).toEqual([{ type: 'repository', name: 'demo/app', actions: ['push', 'pull'] }]);
      const bad = await httpGet(`http://127.0.0.1:${port}/token?service=registry`, { headers: { authorization: `Basic ${Buffer.from('demo:nope').toString('base64')}` } });
      expect(bad.status).toBe(401);
      await access(join(dir, 'data', 'keys', 'ca.pem'));
    } finally {
      await second.stop();
    }
    expect(second.exitInfo()?.code).toBe(0); // SIGTERM is a clean shutdown
  });
});

describe('every command answers --help', () => {
  const commands = [['serve'], ['registry-config'], ['hash-password'], ['keys'], ['keys', 'generate'], ['keys', 'rotate'], ['config'], ['config', 'check'], ['login'], ['access']];

  it.each(commands.map((c) => [c.join(' '), c]))('wharf %s --help prints its usage and options, exit 0', async (name, command) => {
    const result = await runWharfCli([...(command as string[]), '--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^usage: wharf ${name}`));
    expect(result.stdout).toMatch(/--\w/); // its options, not only the synopsis
    expect(result.stderr).toBe('');
  });

  it('shows each default in the usage', async () => {
    expect((await runWharfCli(['hash-password', '--help'])).stdout).toContain('(default 11)');
    expect((await runWharfCli(['registry-config', '--help'])).stdout).toContain('(default 127.0.0.1:5000)');
    expect((await runWharfCli(['keys', 'generate', '--help'])).stdout).toContain('(default ES256)');
    expect((await runWharfCli(['serve', '--help'])).stdout).toContain('(default 1)');
  });

  it.each(commands.filter((c) => c.length === 2 || !['keys', 'config'].includes(c[0]!)).map((c) => [c.join(' '), c]))(
    'wharf %s with an unknown option names that command’s --help, exit 2, no stack',
    async (name, command) => {
      const result = await runWharfCli([...(command as string[]), '--no-such-option']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("'--no-such-option'");
      expect(result.stderr).toMatch(new RegExp(`wharf ${name}( --help|: )`));
      expect(result.stderr).not.toMatch(/\n\s+at /);
    },
  );

  it('config check --help does not read a file named --help', async () => {
    const result = await runWharfCli(['config', 'check', '--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('ENOENT');
    expect(result.stderr).not.toContain('--help:');
  });
});

describe('bin/wharf, the command the README uses', () => {
  const ROOT = join(WHARF_BIN, '..', '..');

  it('runs the built CLI without npm', async () => {
    const { runCommand } = await import('../support/processes.js');
    // Only node on PATH: no npm, npx or network needed.
    const result = await runCommand(join(ROOT, 'bin', 'wharf'), ['registry-config', '--help'], { env: { PATH: `${join(process.execPath, '..')}:/usr/bin:/bin` } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('usage: wharf registry-config');
  });

  it('is what README and the docs run; none says npx wharf', async () => {
    const { readdir } = await import('node:fs/promises');
    const files = ['README.md', 'deploy/README.md', ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), ...(await readdir(join(ROOT, 'config'))).map((f) => `config/${f}`)];
    for (const file of files) expect(await readFile(join(ROOT, file), 'utf8'), file).not.toMatch(/npx\s+wharf/);
    // Commands to type, in shell blocks: the bin path, not a bare `wharf` that may not be on PATH.
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const shellLines = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'));
    expect(shellLines.filter((l) => /^\s*wharf\s/.test(l))).toEqual([]);
    expect(shellLines.some((l) => l.startsWith('bin/wharf '))).toBe(true);
  });
});
