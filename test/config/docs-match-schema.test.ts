import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { schemaKeyPaths, valueKeyPaths } from '../support/schema-keys.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'examples/pam/README.md', 'examples/reference-platform/README.md', 'deploy/README.md'];
const EXAMPLES = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yml')).map((f) => `config/${f}`);

const schemaPaths = schemaKeyPaths(configSchema);
const recordPaths = new Set([...schemaPaths].filter((p) => p.endsWith('{}')));
const rootKeys = new Set([...schemaPaths].filter((p) => !p.includes('.') && !p.includes('[')));
/** Where a fragment that is one `type:` item (or a list of them) may live. */
const ITEM_HOMES = ['authn[]', 'federation.providers[]', 'authz.webhook', 'cache', 'store'];

/** Every ```yaml block of a Markdown file, dedented, with its line number. */
function yamlBlocks(file: string): Array<{ where: string; value: unknown }> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const blocks: Array<{ where: string; value: unknown }> = [];
  for (const match of text.matchAll(/^([ \t]*)```ya?ml\n([\s\S]*?)^[ \t]*```/gm)) {
    const lines = match[2]!.split('\n');
    const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
    const line = text.slice(0, match.index).split('\n').length;
    blocks.push({ where: `${file}:${line}`, value: parse(lines.map((l) => l.slice(indent)).join('\n')) });
  }
  return blocks;
}

/** The keys of a documented block that the schema does not know, or undefined when the block is not Wharf configuration. */
function unknownKeys(value: unknown): string[] | undefined {
  const check = (prefix: string) => valueKeyPaths(value, prefix, recordPaths).filter((p) => !schemaPaths.has(p));
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (isObject && Object.keys(value).some((k) => rootKeys.has(k))) return check('');
  const items = Array.isArray(value) ? value : isObject ? [value] : [];
  if (items.length === 0 || !items.every((i) => i && typeof i === 'object' && 'type' in i)) return undefined;
  // A fragment: fine when some home accepts all of it.
  const tries = ITEM_HOMES.map((home) => check(Array.isArray(value) ? home.replace(/\[\]$/, '') : home));
  return tries.find((t) => t.length === 0) ?? tries.reduce((a, b) => (a.length <= b.length ? a : b));
}

describe('documentation and the config schema agree', () => {
  const blocks = [...DOCS.flatMap(yamlBlocks), ...EXAMPLES.map((f) => ({ where: f, value: parse(readFileSync(join(ROOT, f), 'utf8')) as unknown }))];

  it('finds the documented configuration it checks', () => {
    const checked = blocks.filter((b) => unknownKeys(b.value) !== undefined).map((b) => b.where);
    expect(checked.filter((w) => w.startsWith('README.md:'))).toHaveLength(1);
    expect(checked).toEqual(expect.arrayContaining(EXAMPLES));
    expect(checked.length).toBeGreaterThan(EXAMPLES.length + 5);
  });

  it('uses no configuration key that the schema does not have', () => {
    const problems = blocks.flatMap((b) => (unknownKeys(b.value) ?? []).map((key) => `${b.where}: ${key}`));
    expect(problems).toEqual([]);
  });

  it('documents every configuration key the schema has', () => {
    const text = [...DOCS, ...EXAMPLES].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
    const words = new Set(text.match(/[A-Za-z][A-Za-z0-9]*/g));
    const undocumented = [...schemaPaths].filter((p) => !p.endsWith('{}')).filter((p) => !words.has(p.split('.').pop()!.replace(/\[\]$/, '')));
    expect(undocumented).toEqual([]);
  });
});
