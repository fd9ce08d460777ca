import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runWharfCli } from '../support/wharf.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLES = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yml'));

// The example configurations are what a new operator copies first: each must pass the same
// check they will run, and the README must lead to it.
describe('example configurations in config/', () => {
  it('has one per common deployment', () => {
    expect(EXAMPLES.sort()).toEqual(['ci-trusted-publishing.yml', 'embedded-single-node.yml', 'federated-login.yml', 'kubernetes.yml', 'ldap.yml', 'platform-webhook-redis.yml']);
  });

  it.each(EXAMPLES)('config/%s passes wharf config check, and README links it', async (file) => {
    // No secrets in the environment: the check must not need them (warnings only).
    const result = await runWharfCli(['config', 'check', join(ROOT, 'config', file)], { cwd: ROOT });
    expect(result.stderr).not.toMatch(/: error: /);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`${file}: ok`);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(`(config/${file})`);
  });
});
