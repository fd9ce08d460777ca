import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { requireCommand } from '../support/prerequisites.js';
import { httpGet } from '../support/processes.js';
import { type RegistryHandle } from '../support/registry.js';
import { pushNewImage, skopeoListTags } from '../support/skopeo.js';
import { runWharfCli, startWharfAndRegistry, type WharfHandle, writeConfig } from '../support/wharf.js';
import { shutDown } from '../support/shut-down.js';

// Keys from `wharf keys generate --alg RS256`, tokens with only a libtrust `kid` (no x5c): the
// registry must find the key by the kid alone, which proves the kid computation against
// distribution 2.8 itself.
describe('RS256 keys from files, kid-only tokens, against the real registry', () => {
  const password = randomBytes(12).toString('base64url');
  let work: string;
  let wharf: WharfHandle;
  let registry: RegistryHandle;

  beforeAll(async () => {
    requireCommand('/usr/bin/docker-registry', 'docker-registry');
    requireCommand('/usr/bin/skopeo', 'skopeo');
    work = await mkdtemp(join(tmpdir(), 'wharf-rs256-'));
    const keysDir = join(work, 'keys');
    const generated = await runWharfCli(['keys', 'generate', '--out', keysDir, '--alg', 'RS256']);
    expect(generated.code, generated.stderr).toBe(0);
    // With kid only, registry 2.8 looks the kid up among the bundle's certificates, so the leaf goes in the bundle too.
    const bundle = join(keysDir, 'bundle.pem');
    await writeFile(bundle, (await readFile(join(keysDir, 'ca.pem'), 'utf8')) + (await readFile(join(keysDir, 'signing-chain.pem'), 'utf8')));
    const [wharfPort, registryPort] = [await freePort(), await freePort()];
    const configFile = await writeConfig(
      {
        server: { port: wharfPort },
        dataDir: join(work, 'data'),
        token: { x5c: false, kidFormat: 'libtrust' },
        keys: { signingKeyFile: join(keysDir, 'signing-key.pem'), certificateChainFile: join(keysDir, 'signing-chain.pem'), rootCertificateFile: bundle },
        authn: [{ type: 'static', users: { carol: { passwordHash: await bcrypt.hash(password, 10) } } }],
      },
      work,
    );
    ({ wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort));
  });

  afterAll(() => shutDown(registry, wharf, work));

  it('signs RS256 with a kid and no x5c', async () => {
    const auth = { authorization: `Basic ${Buffer.from(`carol:${password}`).toString('base64')}` };
    const answer = await httpGet(`${wharf.url}/token?service=registry&scope=repository:carol/app:pull`, { headers: auth });
    const header = decodeProtectedHeader(JSON.parse(answer.body).token);
    expect(header.alg).toBe('RS256');
    expect(header.x5c).toBeUndefined();
    expect(header.kid).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
  });

  it('lets skopeo push and list tags with those tokens', async () => {
    await pushNewImage(join(work, 'image'), `${registry.host}/carol/app:v1`, `carol:${password}`, 'rs256');
    const tags = await skopeoListTags(`docker://${registry.host}/carol/app`, { creds: `carol:${password}` });
    expect(JSON.parse(tags.stdout).Tags).toEqual(['v1']);
  });

  it('publishes the key in the JWKS under the same kid', async () => {
    const jwks = JSON.parse((await httpGet(`${wharf.url}/.well-known/jwks.json`)).body);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: wharf.services.keys.current().kid });
    expect(jwks.keys[0].d).toBeUndefined();
  });
});
