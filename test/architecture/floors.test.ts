import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkFloors, type SourceFile } from './floors.js';

// The rules themselves live in floors.ts (imports read by the TypeScript parser in imports.ts):
// the same checker runs on src/ here and on the bypasses below, which prove it can fail.

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
const sources: SourceFile[] = files(SRC).map((path) => ({ path: relative(SRC, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }));
const findings = checkFloors(sources);

describe('the floors of src/', () => {
  it.each([
    ['place every folder and root file', 'unplaced'],
    ['name every import plainly, so each can be checked', 'uncheckable'],
    ['import nothing outside src/', 'outsideSrc'],
    ['have no import that runs sideways or back up', 'upward'],
    ['keep each backend folder to itself (shared cores aside)', 'acrossBackends'],
    ['let config/ know the backends only through their registries', 'configPastRegistries'],
    ["keep authn/'s rooms apart: its core imports no backend folder, a backend no registry", 'authnRooms'],
  ] as const)('%s', (_name, finding) => {
    expect(findings[finding]).toEqual([]);
  });
});

describe('source files', () => {
  it('stay under 400 lines, so each can be read in one sitting', () => {
    const long = sources.filter((f) => f.text.split('\n').length > 400).map((f) => `${f.path}: ${f.text.split('\n').length} lines`);
    expect(long).toEqual([]);
  });
});

/** The findings for one made-up file, on top of a clean tree. */
const check = (path: string, text: string) => checkFloors([{ path, text }]);

describe('the floors check catches the bypasses a pattern match let through', () => {
  it('a double-quoted specifier', () => {
    expect(check('domain/scope.ts', 'import { TokenService } from "../tokens/token-service.js";\n').upward).toEqual([
      'domain/scope.ts:1 -> tokens/token-service.ts (import)',
    ]);
  });

  it('import("…") in a type position, either quote', () => {
    const text = 'export let services: import("../services.js").Services;\nexport let app: import(\'../app.js\').App;\n';
    expect(check('crypto/keyed-hash.ts', text).upward).toEqual(['crypto/keyed-hash.ts:1 -> services.ts (import() type)', 'crypto/keyed-hash.ts:2 -> app.ts (import() type)']);
  });

  it('a dynamic import through a template literal: a computed one cannot be checked, a plain one is', () => {
    const text = 'export const load = (name: string) => import(`../http/${name}.js`);\nexport const app = () => import(`../app.js`);\n';
    const found = check('store/store.ts', text);
    expect(found.uncheckable).toEqual(['store/store.ts:1: cannot check dynamic import() of `../http/${name}.js`: its specifier is computed']);
    expect(found.upward).toEqual(['store/store.ts:2 -> app.ts (dynamic import())']);
  });

  it('a require made by createRequire, named or called at once, and a plain require', () => {
    const text = [
      "import { createRequire as makeRequire } from 'node:module';",
      'const load = makeRequire(import.meta.url);',
      "export const services = load('../services.js');",
      "export const app = makeRequire(import.meta.url)('../app.js');",
      "export const main = require('../main.js');",
      'export const other = load(process.env.WHICH!);',
    ].join('\n');
    const found = check('cache/cache.ts', text);
    expect(found.upward).toEqual(['cache/cache.ts:3 -> services.ts (require)', 'cache/cache.ts:4 -> app.ts (require)', 'cache/cache.ts:5 -> main.ts (require)']);
    expect(found.uncheckable).toEqual(['cache/cache.ts:6: cannot check require of process.env.WHICH!: its specifier is computed']);
  });

  it("a re-export from a backend folder inside authn/, by authn/'s core or by another backend", () => {
    expect(check('authn/authenticator-chain.ts', "export { LdapAuthenticator } from './ldap/ldap-authenticator.js';\n").authnRooms).toEqual([
      'authn/authenticator-chain.ts:1 -> authn/ldap/ldap-authenticator.ts (export from)',
    ]);
    expect(check('authn/static/static-backend.ts', 'export * from "../ldap/ldap-authenticator.js";\n').acrossBackends).toEqual([
      'authn/static/static-backend.ts:1 -> authn/ldap/ldap-authenticator.ts (export from)',
    ]);
  });

  it('type-only imports and a backend reaching back for a registry', () => {
    expect(check('authn/verification-slots.ts', "import type { LdapConfig } from './ldap/ldap-config.js';\n").authnRooms).toEqual([
      'authn/verification-slots.ts:1 -> authn/ldap/ldap-config.ts (import type)',
    ]);
    expect(check('authn/ldap/ldap-backend.ts', "import { passwordBackends } from '../registry.js';\n").authnRooms).toEqual([
      'authn/ldap/ldap-backend.ts:1 -> authn/registry.ts (import)',
    ]);
  });

  it('lets the registries register backend folders, and config/ reach them only through the registries', () => {
    const registry = check('authn/registry.ts', "import { ldapBackend } from './ldap/ldap-backend.js';\n");
    expect([registry.authnRooms, registry.acrossBackends, registry.upward]).toEqual([[], [], []]);
    expect(check('config/schema.ts', "import { ldapAuthnSchema } from '../authn/ldap/ldap-config.js';\n").configPastRegistries).toEqual([
      'config/schema.ts:1 -> authn/ldap/ldap-config.ts (import)',
    ]);
  });

  it('an import that leaves src/, and a file no floor places', () => {
    const found = checkFloors([{ path: 'garden/gnome.ts', text: "import pkg from '../../package.json';\n" }]);
    expect(found.outsideSrc).toEqual(['garden/gnome.ts:1 -> ../../package.json (import)']);
    expect(found.unplaced).toEqual(['garden/gnome.ts']);
  });
});
