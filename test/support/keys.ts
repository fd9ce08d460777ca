import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeys, type LoadedKeys } from '../../src/keys/key-files.js';
import type { KidFormat, SigningAlgorithm } from '../../src/keys/keys.js';

/** Fresh keys generated at test time in a temp dir (a CA and a signing leaf). */
export async function testKeys(algorithm: SigningAlgorithm = 'ES256', kidFormat: KidFormat = 'libtrust'): Promise<LoadedKeys> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-keys-'));
  return loadKeys({ generatedDir: dir, algorithm, kidFormat });
}
