import { randomBytes, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSigningLeaf } from './certificates.js';
import { signingKeyFromFiles } from './key-pair-files.js';
import type { KidFormat, SigningAlgorithm, SigningKey } from './keys.js';

/** One short-lived signing key in a leaf directory. */
export interface LeafEntry {
  readonly id: string;
  readonly key: SigningKey;
  readonly createdAt: number;
  /** When it may start signing; until then it is only published (JWKS), so verifiers learn it first. */
  readonly activatesAt: number;
}

interface LeafMeta {
  createdAt: number;
  activatesAt: number;
}

/**
 * Reads every leaf (`<dir>/<id>/{key.pem,chain.pem,meta.json}`), by activation time; `known`
 * entries are reused as they are. A leaf being
 * written is invisible: writers build it in a dot-directory and rename it into place.
 */
export async function readLeaves(dir: string, kidFormat: KidFormat, known: ReadonlyMap<string, LeafEntry> = new Map()): Promise<LeafEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const leaves: LeafEntry[] = [];
  for (const id of names.filter((n) => !n.startsWith('.')).sort()) {
    // Leaves never change once in place: parse each once.
    const seen = known.get(id);
    if (seen) {
      leaves.push(seen);
      continue;
    }
    const path = join(dir, id);
    const meta = JSON.parse(await readFile(join(path, 'meta.json'), 'utf8')) as LeafMeta;
    const key = await signingKeyFromFiles(join(path, 'key.pem'), join(path, 'chain.pem'), kidFormat);
    leaves.push({ id, key, createdAt: meta.createdAt, activatesAt: meta.activatesAt });
  }
  return leaves.sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt);
}

/** What a new leaf is made from. */
export interface NewLeaf {
  algorithm: SigningAlgorithm;
  ca: { privateKey: KeyObject; certificatePem: string };
  validHours: number;
  /** Seconds between creation and activation (publish-before-sign). */
  leadSeconds: number;
  now: number;
}

/** Creates a leaf certified by the CA and moves it into place atomically; returns its id. */
export async function writeLeaf(dir: string, leaf: NewLeaf): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const id = `${new Date(leaf.now).toISOString().replace(/[-:.]/g, '').replace('T', 't').toLowerCase()}-${randomBytes(3).toString('hex')}`;
  const made = await createSigningLeaf(leaf.algorithm, leaf.ca, `Wharf token signing ${id}`, leaf.validHours / 24, new Date(leaf.now));
  const staging = join(dir, `.${id}`);
  await mkdir(staging, { mode: 0o700 });
  await writeFile(join(staging, 'key.pem'), made.privateKeyPem, { mode: 0o600 });
  await writeFile(join(staging, 'chain.pem'), made.certificatePem);
  const meta: LeafMeta = { createdAt: leaf.now, activatesAt: leaf.now + leaf.leadSeconds * 1000 };
  await writeFile(join(staging, 'meta.json'), `${JSON.stringify(meta)}\n`);
  await rename(staging, join(dir, id));
  return id;
}

/** Removes leaves that are expired: no token they signed can still be valid. */
export async function pruneExpiredLeaves(dir: string, leaves: readonly LeafEntry[], now: number): Promise<string[]> {
  const gone = leaves.filter((l) => l.key.notAfter.getTime() <= now).map((l) => l.id);
  await Promise.all(gone.map((id) => rm(join(dir, id), { recursive: true, force: true })));
  return gone;
}

/** Loads a CA key pair from PEM files. */
export async function readCa(keyFile: string, certFile: string): Promise<{ privateKey: KeyObject; certificatePem: string }> {
  return { privateKey: createPrivateKey(await readFile(keyFile, 'utf8')), certificatePem: await readFile(certFile, 'utf8') };
}
