import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SigningAlgorithm } from './keys.js';
import { pruneExpiredLeaves, readCa, writeLeaf } from './leaf-directory.js';
import type { RotatingKeyStore } from './rotating-key-store.js';

/** How leaves are made and replaced. */
export interface RotationSettings {
  leafDirectory: string;
  caKeyFile: string;
  caCertificateFile: string;
  algorithm: SigningAlgorithm;
  /** Age at which the newest leaf is replaced. */
  everyHours: number;
  leafValidityHours: number;
  /** Publish-before-sign delay of a new leaf. */
  publishLeadSeconds: number;
}

// A lock older than this was left by a crashed rotation.
const STALE_LOCK_MS = 5 * 60_000;

/**
 * Makes new leaves with the CA key. Several replicas may run it on one shared directory: an
 * exclusive lock file lets one of them rotate at a time, and the store picks the result up.
 */
export class KeyRotator {
  constructor(
    private readonly settings: RotationSettings,
    private readonly store: RotatingKeyStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds a leaf that activates after `leadSeconds`; returns its id, or undefined when another process holds the lock. */
  async rotate(leadSeconds = this.settings.publishLeadSeconds): Promise<string | undefined> {
    return this.locked(async () => {
      const id = await writeLeaf(this.settings.leafDirectory, {
        algorithm: this.settings.algorithm,
        ca: await readCa(this.settings.caKeyFile, this.settings.caCertificateFile),
        validHours: this.settings.leafValidityHours,
        leadSeconds,
        now: this.now(),
      });
      await this.store.refresh();
      await pruneExpiredLeaves(this.settings.leafDirectory, this.store.entries(), this.now());
      await this.store.refresh();
      return id;
    });
  }

  /** Makes sure some leaf can sign now (first start): an immediately active leaf if none is. */
  async ensureSigningKey(): Promise<string | undefined> {
    await this.store.refresh();
    try {
      this.store.current();
      return undefined;
    } catch {
      return this.rotate(0);
    }
  }

  /** Rotates when the newest leaf is older than `everyHours`. */
  async rotateIfDue(): Promise<string | undefined> {
    await this.store.refresh();
    const newest = this.store.entries().at(-1);
    if (newest && this.now() - newest.createdAt < this.settings.everyHours * 3_600_000) return undefined;
    return this.rotate();
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T | undefined> {
    const lock = join(this.settings.leafDirectory, '.rotate.lock');
    await mkdir(this.settings.leafDirectory, { recursive: true, mode: 0o700 });
    try {
      const age = this.now() - (await stat(lock)).mtimeMs;
      if (age > STALE_LOCK_MS) await rm(lock, { force: true });
    } catch {
      // no lock file
    }
    let handle;
    try {
      handle = await open(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw err;
    }
    try {
      return await fn();
    } finally {
      await handle.close();
      await rm(lock, { force: true });
    }
  }
}
