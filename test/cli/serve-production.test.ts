import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { httpGet, runCommand, startProcess, waitUntil, type ManagedProcess } from '../support/processes.js';
import { startRedis } from '../support/redis.js';
import { runWharfCli, WHARF_BIN, writeConfig } from '../support/wharf.js';

const started: ManagedProcess[] = [];
afterAll(async () => Promise.all(started.map((p) => p.stop())));

async function serve(args: string[], env: Record<string, string>, cwd: string) {
  const proc = await startProcess(process.execPath, [WHARF_BIN, 'serve', ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
  started.push(proc);
  return proc;
}

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('wharf serve over TLS', () => {
  it('serves HTTPS from the configured key and certificate, and says https in the realm', async () => {
    requireCommand('/usr/bin/openssl', 'openssl');
    const dir = await mkdtemp(join(tmpdir(), 'wharf-tls-'));
    const made = await runCommand('/usr/bin/openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'),
    ]);
    expect(made.code, made.stderr).toBe(0);
    const port = await freePort();
    const config = await writeConfig({ server: { port, tls: { keyFile: join(dir, 'tls.key'), certFile: join(dir, 'tls.crt') } }, dataDir: join(dir, 'data') }, dir);
    const proc = await serve(['--config', config], {}, dir);
    await waitUntil('wharf prints its settings', async () => (proc.logs().includes('rootcertbundle') ? true : undefined), { process: proc });
    expect(proc.logs()).toContain(`realm: https://127.0.0.1:${port}/token`);
    const res = await httpsGet(`https://127.0.0.1:${port}/healthz`, await readFile(join(dir, 'tls.crt')));
    expect(res).toEqual({ status: 200, body: '{"status":"ok"}' });
    await proc.stop();
  });
});

describe('wharf serve logging', () => {
  it('writes the audit line of a lone token request promptly, while the server keeps running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-log-'));
    const port = await freePort();
    const config = await writeConfig({ server: { port }, dataDir: join(dir, 'data'), log: { level: 'info' } }, dir);
    const proc = await serve(['--config', config], {}, dir);
    await waitUntil('wharf answers', async () => ((await httpGet(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), { process: proc });
    const res = await httpGet(`http://127.0.0.1:${port}/token?service=registry&scope=repository:public/app:pull`);
    expect(res.status).toBe(200);
    // Log lines are batched; a quiet server must not sit on them until more traffic arrives.
    await waitUntil('the audit line appears', async () => (/"event":"token_issued"[^\n]*"provider":"anonymous"/.test(proc.logs()) ? true : undefined), { process: proc, timeoutMs: 3000 });
    expect(proc.exitInfo()).toBeUndefined();
    await proc.stop();
  });
});

describe('wharf serve --workers', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => redis?.stop());

  it('refuses several workers without the Redis cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-workers-'));
    const result = await runWharfCli(['serve', '--workers', '2'], { cwd: dir, env: { PORT: String(await freePort()) } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--workers needs the Redis cache');
  });

  it('runs N workers on one port that share state, and stops them all on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-workers-'));
    const password = randomBytes(9).toString('base64url');
    const port = await freePort();
    const config = await writeConfig(
      { server: { port }, dataDir: join(dir, 'data'), authn: [{ type: 'static', users: { w: { passwordHash: await bcrypt.hash(password, 10) } } }] },
      dir,
    );
    const proc = await serve(['--config', config, '--workers', '2'], { WHARF_REDIS_URL: redis.url }, dir);
    await waitUntil('two workers answer', async () => ((await httpGet(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), { process: proc, timeoutMs: 20_000 });
    const children = await runCommand('/usr/bin/pgrep', ['-P', String(proc.pid)]);
    const workers = children.stdout.trim().split('\n');
    expect(workers).toHaveLength(2);

    // A refresh token issued by one worker is honoured by whichever worker gets the next request.
    const auth = { authorization: `Basic ${Buffer.from(`w:${password}`).toString('base64')}` };
    const first = JSON.parse((await httpGet(`http://127.0.0.1:${port}/token?service=registry&offline_token=true`, { headers: auth })).body) as { refresh_token: string };
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token, service: 'registry' }),
      });
      expect(res.status).toBe(200);
    }
    await proc.stop();
    expect(proc.exitInfo()?.code).toBe(0);
    const left = await runCommand('/usr/bin/pgrep', ['-P', String(proc.pid)]);
    expect(left.stdout.trim()).toBe('');
    // Orphans would be re-parented to init and missed by pgrep -P: check the workers themselves.
    await waitUntil('every worker has exited', async () => (workers.every((pid) => !existsSync(`/proc/${pid}`)) ? true : undefined), { timeoutMs: 5000 });
  });
});
