import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { storeContract } from './store-contract.js';

storeContract('lmdb', async () => {
  const path = mkdtempSync(join(tmpdir(), 'wharf-store-'));
  let now = 1_000_000;
  const clock = () => now;
  return { store: new LmdbStore({ path, now: clock }), expire: async () => void (now += 1001), reopen: async () => new LmdbStore({ path, now: clock }) };
});

describe('LmdbStore', () => {
  it('keeps a write acknowledged just before the process is killed with SIGKILL', () => {
    const path = mkdtempSync(join(tmpdir(), 'wharf-store-'));
    // The compiled module (npm test builds first), so the child needs no TypeScript loader.
    const url = new URL('../../dist/store/lmdb-store.js', import.meta.url).href;
    // A child process records a value, says so, and is killed at once, with no chance to close.
    const child = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import(${JSON.stringify(url)}).then(async ({ LmdbStore }) => { const s = new LmdbStore({ path: ${JSON.stringify(path)} }); await s.put('revoked:x', 'yes'); process.stdout.write('recorded'); process.kill(process.pid, 'SIGKILL'); })`],
      { encoding: 'utf8' },
    );
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toBe('recorded');
    return new LmdbStore({ path }).get('revoked:x').then((v) => expect(v).toBe('yes'));
  });

  it('sweeps expired entries away', async () => {
    let now = 1_000_000;
    const store = new LmdbStore({ path: mkdtempSync(join(tmpdir(), 'wharf-store-')), now: () => now });
    await store.put('a', '1', 1);
    await store.put('b', '2');
    now += 2000;
    expect(await store.sweep()).toBe(1);
    expect(await store.list('')).toEqual([{ key: 'b', value: '2' }]);
    await store.close();
  });
});
