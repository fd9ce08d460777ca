import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrap } from '../../src/cli/bootstrap.js';
import type { CliIo } from '../../src/client/io.js';
import { parseConfig } from '../../src/config/load.js';
import { runWharfCli, writeConfig } from '../support/wharf.js';

// The hash key keys every cache name, signs cookies and seals upstream tokens: a short or empty
// one makes them guessable, so every source of it must give at least 32 bytes.
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-hash-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const io = (env: Record<string, string> = {}): CliIo => ({ env: { WHARF_DEMO_PASSWORD: 'demo-password', ...env }, stdout: () => {}, stderr: () => {}, readStdin: async () => '' });
const boot = (config: Record<string, unknown>, env: Record<string, string> = {}) => bootstrap(parseConfig({ dataDir: join(dir, 'data'), ...config }, {}, 'hash key test'), io(env));

describe('the hash key', () => {
  it('refuses a hashKeyFile that is empty, blank or shorter than 32 bytes, naming the file and never the value', async () => {
    const file = join(dir, 'hash-key');
    for (const [content, says] of [
      ['', 'is empty'],
      ['  \n', 'is empty'],
      ['short-key-31-bytes-xxxxxxxxxxxx\n', 'is 31 bytes'],
    ] as const) {
      await writeFile(file, content);
      await expect(boot({ hashKeyFile: file })).rejects.toThrow(`hash key from hashKeyFile ${file} ${says}; it must be at least 32 bytes`);
    }
    await writeFile(file, `${'k'.repeat(32)}\n`);
    expect((await boot({ hashKeyFile: file })).hashKey.toString()).toBe('k'.repeat(32));
  });

  it('refuses WHARF_HASH_KEY when set but empty or short, counting bytes', async () => {
    await expect(boot({}, { WHARF_HASH_KEY: '' })).rejects.toThrow('hash key from environment variable WHARF_HASH_KEY is empty; it must be at least 32 bytes');
    await expect(boot({}, { WHARF_HASH_KEY: 'x'.repeat(31) })).rejects.toThrow('is 31 bytes');
    expect((await boot({}, { WHARF_HASH_KEY: 'é'.repeat(16) })).hashKey.length).toBe(32);
  });

  it('generates a 32-byte key once under dataDir, and refuses that file if it is later found empty', async () => {
    const first = await boot({});
    const stored = (await readFile(join(dir, 'data', 'hash-key'), 'utf8')).trim();
    expect(first.hashKey.toString()).toBe(stored);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect((await boot({})).hashKey.equals(first.hashKey)).toBe(true);
    await writeFile(join(dir, 'data', 'hash-key'), '');
    await expect(boot({})).rejects.toThrow(`hash key from ${join(dir, 'data', 'hash-key')} (delete it to have a new one generated) is empty`);
  });

  it('is checked by `wharf config check` and refused by `wharf serve` with the same message and no stack trace', async () => {
    const file = join(dir, 'hash-key');
    await writeFile(file, '');
    const config = await writeConfig({ dataDir: join(dir, 'data'), hashKeyFile: file }, dir);
    const check = await runWharfCli(['config', 'check', config]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`hashKeyFile: error: hash key from hashKeyFile ${file} is empty; it must be at least 32 bytes`);
    const serve = await runWharfCli(['serve', '--config', config], { env: { WHARF_DEMO_PASSWORD: 'demo-password' } });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain(`wharf: hash key from hashKeyFile ${file} is empty; it must be at least 32 bytes`);
    expect(serve.stderr).not.toMatch(/at .*\.js:\d+/);
    const short = await runWharfCli(['config', 'check', config], { env: { WHARF_HASH_KEY: 'too-short' } });
    expect(short.stderr).toContain('WHARF_HASH_KEY: error: hash key from environment variable WHARF_HASH_KEY is 9 bytes');
  });
});
