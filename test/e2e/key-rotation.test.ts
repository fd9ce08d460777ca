import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { waitUntil } from '../support/processes.js';
import { type RegistryHandle } from '../support/registry.js';
import { pushNewImage, skopeoInspect, type SkopeoResult } from '../support/skopeo.js';
import { runWharfCli, startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// The registry trusts only Wharf's CA; `wharf keys rotate` adds leaves while skopeo keeps pulling.
describe('key rotation never needs a registry restart', () => {
  const password = randomBytes(12).toString('base64url');
  let work: string;
  let configFile: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;

  const currentKid = async () => {
    const auth = `Basic ${Buffer.from(`rot:${password}`).toString('base64')}`;
    const res = await fetch(`${wharf.url}/token?service=registry&scope=repository:rot/app:pull`, { headers: { authorization: auth } });
    return decodeProtectedHeader(((await res.json()) as { token: string }).token).kid!;
  };
  const publishedKids = async () => ((await (await fetch(`${wharf.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-rotation-'));
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    configFile = await writeConfig(
      {
        server: { port: wharfPort },
        dataDir: join(work, 'data'),
        keys: { rotation: { automatic: false, rescanSeconds: 0.2, publishLeadSeconds: 1 } },
        authn: [{ type: 'static', users: { rot: { passwordHash: await bcrypt.hash(password, 10) } } }],
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort));
    await pushNewImage(join(work, 'image'), `${registry.host}/rot/app:v1`, `rot:${password}`, 'rotation');
  });

  afterAll(() => shutDown(registry, wharf, work));

  it('keeps every pull working across two rotations, publishing each new key before it signs', async () => {
    const pulls: SkopeoResult[] = [];
    let pulling = true;
    const loop = (async () => {
      while (pulling) pulls.push(await skopeoInspect(`docker://${registry.host}/rot/app:v1`, { creds: `rot:${password}`, raw: true }));
    })();

    const kids = [await currentKid()];
    for (let round = 0; round < 2; round++) {
      void round; // lead 3 s: long enough to observe "published, not yet signing" on a busy machine
      const rotate = await runWharfCli(['keys', 'rotate', '--config', configFile, '--lead-seconds', '3']);
      expect(rotate.code, rotate.stderr).toBe(0);
      // Published (after the next rescan) while the old key still signs.
      const fresh = await waitUntil('the new leaf is in the JWKS', async () => (await publishedKids()).find((k) => !kids.includes(k)), { timeoutMs: 5000, intervalMs: 50 });
      expect(await currentKid()).toBe(kids.at(-1));
      // Then it signs.
      await waitUntil('the new leaf signs', async () => ((await currentKid()) === fresh ? true : undefined), { timeoutMs: 5000, intervalMs: 100 });
      kids.push(fresh);
      expect(await publishedKids()).toContain(kids.at(-2)); // the previous key stays published
    }
    await waitUntil('a few more pulls with the newest key', async () => (pulls.length >= 6 ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
    pulling = false;
    await loop;

    const failed = pulls.filter((p) => p.code !== 0);
    expect(failed.map((p) => p.stderr)).toEqual([]);
    const signedWith = new Set(wharf.logs.filter((l) => l.event === 'token_issued').map((l) => l.kid));
    for (const kid of kids) expect(signedWith).toContain(kid);
    expect(kids).toHaveLength(3);
  });
});
