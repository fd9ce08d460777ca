import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The house's floors: a module imports only from floors below its own (or from its own folder),
// so a newcomer can read a token request top-down and change a floor without the ones under it.
const FLOORS: readonly (readonly string[])[] = [
  ['domain'],
  ['crypto', 'upstream', 'logging'],
  ['metrics', 'cache'],
  ['store'],
  ['invalidation', 'accounts'],
  ['authn', 'authz', 'keys'],
  ['tokens', 'flows'],
  ['config'],
  ['http', 'readiness'],
  ['services'],
  ['app'],
  ['client'],
  ['cli', 'credential-helper'],
  ['main'],
];

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
const sources = files(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

/** Relative imports of a file (static, type-only and dynamic), as paths under src/. */
function importsOf(file: { path: string; text: string }): string[] {
  const specifiers = [...file.text.matchAll(/(?:from\s+|import\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]!);
  return specifiers.map((s) => relative(SRC, resolve(SRC, dirname(file.path), s)).replace(/\.js$/, '.ts'));
}
/** The unit a path belongs to: its top folder under src/, or a root file's name. */
const unitOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : path.replace(/\.ts$/, ''));
const floorOf = (unit: string) => FLOORS.findIndex((floor) => floor.includes(unit));
const edges = sources.flatMap((file) => importsOf(file).map((target) => ({ from: file.path, to: target })));

describe('the floors of src/', () => {
  it('place every folder and root file', () => {
    expect(sources.map((f) => unitOf(f.path)).filter((u) => floorOf(u) < 0)).toEqual([]);
  });

  it('have no import that runs sideways or back up', () => {
    const wrong = edges.filter(({ from, to }) => unitOf(from) !== unitOf(to) && floorOf(unitOf(to)) >= floorOf(unitOf(from)));
    expect(wrong.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it('keep each backend folder to itself (shared cores aside)', () => {
    const backendOf = (path: string) => /^(authn|authz)\/([^/]+)\//.exec(path)?.slice(1, 3).join('/');
    const SHARED_CORES = ['authn/oauth2-core'];
    const wrong = edges.filter(({ from, to }) => {
      const a = backendOf(from);
      const b = backendOf(to);
      return a !== undefined && b !== undefined && a !== b && !SHARED_CORES.includes(b);
    });
    expect(wrong.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it('let config/ know the backends only through their registries', () => {
    const REGISTRIES = ['authn/registry.ts', 'authn/login-registry.ts', 'authz/registry.ts'];
    const wrong = edges.filter(({ from, to }) => from.startsWith('config/') && /^(authn|authz)\//.test(to) && !REGISTRIES.includes(to));
    expect(wrong.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });
});

describe('source files', () => {
  it('stay under 400 lines, so each can be read in one sitting', () => {
    const long = sources.filter((f) => f.text.split('\n').length > 400).map((f) => `${f.path}: ${f.text.split('\n').length} lines`);
    expect(long).toEqual([]);
  });
});
