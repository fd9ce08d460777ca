import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImports } from '../architecture/imports.js';

// The kubelet starts the plugin for every pull it has no cached credential for, and its budget is
// ~150 ms end to end of which Node's own start takes ~70: it may load its own files and Node's
// built-ins, never a package (zod, pino, undici…) nor the rest of Wharf.

const KUBELET = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/kubelet');

/** Every import of a file that is neither a sibling in kubelet/ nor a `node:` built-in. */
function foreignImports(path: string, text: string): string[] {
  const found = readImports(path, text);
  return [
    ...found.uncheckable.map((u) => `${path}:${u.line}: computed ${u.text}`),
    ...found.references.filter((r) => !/^\.\/[^/]+\.js$/.test(r.specifier) && !r.specifier.startsWith('node:')).map((r) => `${path}:${r.line}: ${r.specifier}`),
  ];
}

describe('the kubelet plugin', () => {
  it('imports only its own files and node: built-ins', () => {
    const files = readdirSync(KUBELET).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('credential-provider.ts');
    expect(files.flatMap((f) => foreignImports(f, readFileSync(join(KUBELET, f), 'utf8')))).toEqual([]);
  });

  it('the check catches a package, another folder and a computed import', () => {
    const text = "import { z } from 'zod';\nimport type { CliIo } from '../client/io.js';\nexport const m = (n: string) => import(`./${n}.js`);\n";
    expect(foreignImports('x.ts', text)).toEqual(['x.ts:3: computed `./${n}.js`', 'x.ts:1: zod', 'x.ts:2: ../client/io.js']);
  });
});
