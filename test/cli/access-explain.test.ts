import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { runWharfCli, startWharf, writeConfig, type WharfHandle } from '../support/wharf.js';

const adminSecret = randomBytes(16).toString('hex');
let wharf: WharfHandle;
let configFile: string;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-explain-'));
  configFile = await writeConfig(
    {
      server: { host: '127.0.0.1', port: await freePort() },
      dataDir: join(dir, 'data'),
      authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash('pw', 4) } } }],
      authz: { acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }] } },
    },
    dir,
  );
  wharf = await startWharf(configFile, { WHARF_ADMIN_SECRET: adminSecret });
});
afterAll(async () => {
  await wharf?.stop();
});

describe('wharf access explain', () => {
  it("prints per action the ACL rule that allowed it, the credential's scope entry that removed it, or deny by default", async () => {
    const alice = { account: 'alice', provider: 'static', subject: 'alice', attributes: {} };
    const { record } = await wharf.services.credentials.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'api', scope: [{ repositories: ['alice/app'], actions: ['pull'] }], vouched: true });
    const args = ['access', 'explain', '--config', configFile, '--account', 'alice', '--credential', record.id, '--scope', 'repository:alice/app:push,pull', '--scope', 'repository:team/app:delete'];
    const result = await runWharfCli(args, { env: { WHARF_ADMIN_SECRET: adminSecret } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^account alice: owned by static \(subject alice\) since \d{4}-/);
    expect(lines[1]).toMatch(/^groups: none given/);
    expect(lines.slice(2)).toEqual([
      `credential ${record.id} "ci", ends ${new Date(record.expiresAt).toISOString()}`,
      'repository:alice/app:push,pull',
      "  push  refused  by the credential's scope (entry 0 allows pull on alice/app)",
      `  pull  allowed  by acl rule 0 {account: "*", name: "\${account}/*", actions: [push, pull]}, inside the credential's scope`,
      'repository:team/app:delete',
      '  delete  refused  no rule matched (deny by default)',
      '',
    ]);
  });

  it("says a person's robot is decided as its maker, naming the maker's rule on each line", async () => {
    const alice = { account: 'alice', provider: 'static', subject: 'alice', attributes: {} };
    const { secret } = await wharf.services.credentials.create(alice, { label: 'laptop', lifetimeSeconds: 86_400, source: 'device' });
    const made = await wharf.app.inject({
      method: 'POST',
      url: '/api/v1/robots',
      headers: { authorization: `Basic ${Buffer.from(`alice:${secret}`).toString('base64')}`, 'content-type': 'application/json' },
      payload: { name: 'ci', scope: [{ repositories: ['alice/app'], actions: ['pull'] }] },
    });
    expect(made.statusCode, made.body).toBe(201);
    const { credential } = made.json<{ credential: { id: string } }>();
    const args = ['access', 'explain', '--config', configFile, '--account', 'robot-ci', '--credential', credential.id, '--scope', 'repository:alice/app:push,pull'];
    const result = await runWharfCli(args, { env: { WHARF_ADMIN_SECRET: adminSecret } });
    expect(result.stderr).toBe('');
    const rule = 'acl rule 0 {account: "*", name: "${account}/*", actions: [push, pull]}';
    expect(result.stdout.split('\n').slice(1)).toEqual([
      expect.stringMatching(/^groups: its maker alice's, as their sign-in method proved them/) as unknown,
      "robot made by alice: decided as alice's rights now, cut by the credential's scope",
      expect.stringMatching(new RegExp(`^credential ${credential.id} "robot", ends `)) as unknown,
      'repository:alice/app:push,pull',
      `  push  refused  by the credential's scope (entry 0 allows pull on alice/app); its maker alice may, by ${rule}`,
      `  pull  allowed  as its maker alice: by ${rule}, inside the credential's scope`,
      '',
    ]);
  });

  it('says what is wrong, without a stack, for a wrong secret and a missing scope', async () => {
    const wrong = await runWharfCli(['access', 'explain', '--config', configFile, '--account', 'alice', '--scope', 'repository:alice/app:pull'], { env: { WHARF_ADMIN_SECRET: 'wrong' } });
    expect(wrong).toMatchObject({ code: 1, stdout: '', stderr: 'wharf access: explanations need Authorization: Bearer <admin secret>\n' });
    const usage = await runWharfCli(['access', 'explain', '--config', configFile, '--account', 'alice'], { env: { WHARF_ADMIN_SECRET: adminSecret } });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^wharf access: give at least one --scope\nusage: wharf access explain/);
  });
});
