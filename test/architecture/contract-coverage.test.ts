import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { passwordBackends } from '../../src/authn/registry.js';
import { deciders } from '../../src/authz/registry.js';
import { findContractRuns, uncoveredTypes, type Contract } from './contract-runs.js';
import type { SourceFile } from './floors.js';

// Every registered backend runs the contract suite of its interface (Dex's conformance suites):
// the types come from the registries, the runs from the test files as they are written, so a
// backend added to a registry and to no contract run fails here. Browser-login providers
// (authn/login-registry.ts) have no shared contract suite yet; when one exists, it gets a line.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
const tests: SourceFile[] = files(join(ROOT, 'test')).map((path) => ({ path: relative(ROOT, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }));

const typesOf = (entries: readonly { readonly schema: { readonly shape: { readonly type: { readonly value: unknown } } } }[]) =>
  entries.map((e) => String(e.schema.shape.type.value));

const PASSWORD: Contract = { module: 'test/authn/password-authenticator-contract.ts', name: 'passwordAuthenticatorContract' };
const AUTHORIZER: Contract = { module: 'test/authz/authorizer-contract.ts', name: 'authorizerContract' };

const REGISTRIES = [
  { registry: 'authn/registry.ts passwordBackends', types: typesOf(passwordBackends.entries), contract: PASSWORD },
  { registry: 'authz/registry.ts deciders', types: typesOf(deciders.entries), contract: AUTHORIZER },
];

describe('every registered backend runs its contract suite', () => {
  for (const { registry, types, contract } of REGISTRIES) {
    it(`${registry}: each type has a run of ${contract.name}, read from the test files`, () => {
      expect(types.length, 'the registry has entries').toBeGreaterThan(0);
      const { runs, uncheckable } = findContractRuns(tests, contract);
      expect(uncheckable).toEqual([]);
      expect(uncoveredTypes(registry, types, contract, runs)).toEqual([]);
    });
  }
});

describe('the contract coverage check can fail', () => {
  const file = (path: string, ...lines: string[]): SourceFile => ({ path, text: lines.join('\n') });
  const importing = `import { passwordAuthenticatorContract } from './password-authenticator-contract.js';`;

  it('names a registered type that no test runs through the contract', () => {
    const { runs } = findContractRuns([file('test/authn/some.test.ts', importing, "passwordAuthenticatorContract('static', harness);")], PASSWORD);
    expect(uncoveredTypes('authn/registry.ts passwordBackends', ['static', 'team-token'], PASSWORD, runs)).toEqual([
      'authn/registry.ts passwordBackends registers "team-token", which no test runs through passwordAuthenticatorContract (test/authn/password-authenticator-contract.ts)',
    ]);
  });

  it('counts a run only where the contract itself is called, at the top level of a test file', () => {
    const found = findContractRuns(
      [
        file('test/authn/a.test.ts', `import { passwordAuthenticatorContract as contract } from './password-authenticator-contract.js';`, "contract('ldap', harness);"),
        // A function of the same name that is not the contract.
        file('test/authn/b.test.ts', 'const passwordAuthenticatorContract = (type: string, h: unknown) => {};', "passwordAuthenticatorContract('command', harness);"),
        file('test/authn/c.test.ts', importing, "if (process.env.SLOW) passwordAuthenticatorContract('introspection', harness);", 'for (const t of types) passwordAuthenticatorContract(t, harness);'),
        file('test/authn/d.test.ts', importing, 'passwordAuthenticatorContract(`${kind}-token`, harness);'),
        file('test/authn/helpers.ts', importing, "passwordAuthenticatorContract('github-token', harness);"),
      ],
      PASSWORD,
    );
    expect(found.runs).toEqual([{ file: 'test/authn/a.test.ts', line: 2, type: 'ldap' }]);
    expect(found.uncheckable).toEqual([
      'test/authn/c.test.ts:2: passwordAuthenticatorContract is not called as a top-level statement: cannot tell that it runs',
      'test/authn/c.test.ts:3: passwordAuthenticatorContract is not called as a top-level statement: cannot tell that it runs',
      'test/authn/d.test.ts:2: cannot check which type passwordAuthenticatorContract runs against: it is computed',
      'test/authn/helpers.ts:2: passwordAuthenticatorContract is called outside a test file, which nothing runs',
    ]);
  });
});
