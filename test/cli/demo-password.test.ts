import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWharf, writeConfig, type WharfHandle } from '../support/wharf.js';

// The demo user's password from WHARF_DEMO_PASSWORD, across restarts of one data directory: each
// start is `wharf serve`'s bootstrap and buildApp, on the same data (keys, hash key, store).

let dir: string;
let configFile: string;
let running: WharfHandle | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-demo-password-'));
  configFile = await writeConfig({ demoUser: true, dataDir: join(dir, 'data'), server: { host: '127.0.0.1', port: 0 } }, dir);
});
afterAll(async () => {
  await running?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Stops the running Wharf, if any, and starts it again with `password` in WHARF_DEMO_PASSWORD. */
async function restart(password: string): Promise<WharfHandle> {
  await running?.stop();
  running = await startWharf(configFile, { WHARF_DEMO_PASSWORD: password });
  return running;
}

/** `docker login` with the demo password: its answer's refresh token is what docker stores. */
async function dockerLogin(wharf: WharfHandle, password: string): Promise<Response> {
  return fetch(`${wharf.url}/token?account=demo&client_id=docker&offline_token=true&service=registry`, {
    headers: { authorization: `Basic ${Buffer.from(`demo:${password}`).toString('base64')}` },
  });
}

/** What docker does with the stored refresh token on a later push. */
function redeem(wharf: WharfHandle, refreshToken: string): Promise<Response> {
  return fetch(`${wharf.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', service: 'registry', client_id: 'docker', refresh_token: refreshToken, scope: 'repository:demo/app:pull,push' }),
  });
}

describe('the demo password from WHARF_DEMO_PASSWORD', () => {
  const password = randomBytes(12).toString('base64url');
  let refreshToken: string;

  it('gives docker login a refresh token', async () => {
    const login = await dockerLogin(await restart(password), password);
    expect(login.status).toBe(200);
    refreshToken = ((await login.json()) as { refresh_token: string }).refresh_token;
    expect(refreshToken).toBeTypeOf('string');
  });

  it('keeps that login working across restarts with the same password', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await redeem(await restart(password), refreshToken);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { scope: string }).scope).toBe('repository:demo/app:pull,push');
    }
  });

  it('ends it when Wharf restarts with another password, which then logs in', async () => {
    const changed = randomBytes(12).toString('base64url');
    const wharf = await restart(changed);
    const res = await redeem(wharf, refreshToken);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_grant');
    expect((await dockerLogin(wharf, password)).status).toBe(401);
    expect((await dockerLogin(wharf, changed)).status).toBe(200);
  });
});
