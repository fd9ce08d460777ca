import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { expect } from 'vitest';
import { FileCredentialStore } from '../../src/client/credential-store.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { freePort } from './ports.js';
import { requireCommand } from './prerequisites.js';
import type { RegistryHandle } from './registry.js';
import { startWharfAndRegistry, writeConfig, type WharfHandle } from './wharf.js';

/**
 * Where the client commands' end-to-end tests start: a person, alice (a static user with a
 * password made at test time), a Wharf that knows her and an administrator's secret, and a real
 * registry that trusts that Wharf, in a scratch folder (`work`, with the config file).
 */
export interface AliceBesideRegistry {
  work: string;
  configFile: string;
  wharf: WharfHandle;
  registry: RegistryHandle;
  alicePassword: string;
  adminSecret: string;
}

/** Starts alice's Wharf and the registry; `authz` is the config's authz section (the ACL's defaults without it). */
export async function startAliceBesideRegistry(name: string, authz?: ConfigInput['authz']): Promise<AliceBesideRegistry> {
  requireCommand('/usr/bin/docker-registry', 'docker-registry');
  requireCommand('/usr/bin/skopeo', 'skopeo');
  const alicePassword = randomBytes(12).toString('base64url');
  const adminSecret = randomBytes(16).toString('hex');
  const work = await mkdtemp(join(tmpdir(), `wharf-${name}-`));
  const [wharfPort, registryPort] = [await freePort(), await freePort()];
  const configFile = await writeConfig(
    {
      server: { host: '127.0.0.1', port: wharfPort },
      dataDir: join(work, 'data'),
      token: { issuer: 'wharf-e2e', service: 'registry-e2e' },
      authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(alicePassword, 10) } } }],
      ...(authz ? { authz } : {}),
    },
    work,
  );
  const { wharf, registry } = await startWharfAndRegistry(configFile, work, registryPort, { WHARF_ADMIN_SECRET: adminSecret });
  return { work, configFile, wharf, registry, alicePassword, adminSecret };
}

/**
 * What `wharf login` leaves behind on a person's machine: an unscoped credential of `account`'s
 * in the credential helper's store, minted here through the credential API by an administrator
 * (as a deploy host's would be). Returns the environment that points the client commands
 * (`wharf token`, `wharf robot`) at that store, with `work` as their home.
 */
export async function storeLoginCredential(options: { wharfUrl: string; registryHost: string; adminSecret: string; work: string; account: string }): Promise<NodeJS.ProcessEnv> {
  const minted = await fetch(`${options.wharfUrl}/api/v1/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.adminSecret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ account: options.account, label: 'laptop' }),
  });
  const answer = await minted.text();
  expect(minted.status, answer).toBe(201);
  const credentialsFile = join(options.work, 'wharf-credentials.json');
  await new FileCredentialStore(credentialsFile).store({ serverUrl: options.registryHost, username: options.account, secret: (JSON.parse(answer) as { secret: string }).secret });
  return { WHARF_CREDENTIALS_FILE: credentialsFile, HOME: options.work };
}
