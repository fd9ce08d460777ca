import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';

/** A real embedded store in a fresh temporary directory, so tests never share records. */
export function tempStore(now?: () => number): LmdbStore {
  return new LmdbStore({ path: mkdtempSync(join(tmpdir(), 'wharf-state-')), ...(now ? { now } : {}) });
}
