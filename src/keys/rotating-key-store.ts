import type { KeyStore, KidFormat, SigningKey, VerificationKey } from './keys.js';
import { readLeaves, type LeafEntry } from './leaf-directory.js';

/** Margin for clock skew between Wharf replicas and the registry (its own leeway is 60 s). */
const SKEW_MS = 60_000;

/**
 * Signing keys from a leaf directory shared by every replica, so they all agree on the active
 * key: the newest leaf whose activation time has come signs; leaves not yet active are already
 * published; a superseded leaf stays published until every token it signed has expired.
 */
export class RotatingKeyStore implements KeyStore {
  private leaves: LeafEntry[] = [];
  private active: SigningKey | undefined;
  private published: readonly VerificationKey[] = [];
  private signature = '';

  constructor(
    private readonly dir: string,
    private readonly rootPem: string,
    private readonly kidFormat: KidFormat,
    /** The longest lifetime any token can have, in seconds. */
    private readonly maxTokenLifetimeSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Re-reads the directory; cheap when nothing changed (objects keep their identity). */
  async refresh(): Promise<void> {
    this.leaves = await readLeaves(this.dir, this.kidFormat, new Map(this.leaves.map((l) => [l.id, l])));
    this.select();
  }

  /** Recomputes which leaf signs and which are published, for the current time. */
  select(): void {
    const now = this.now();
    const lifetimeMs = this.maxTokenLifetimeSeconds * 1000;
    const valid = this.leaves.filter((l) => l.key.notAfter.getTime() > now + SKEW_MS);
    const activated = valid.filter((l) => l.activatesAt <= now);
    // Prefer a leaf that outlives a maximum-length token; the minter caps exp at notAfter anyway.
    const roomy = activated.filter((l) => l.key.notAfter.getTime() - now >= lifetimeMs + SKEW_MS);
    const chosen = (roomy.length ? roomy : activated).at(-1);
    const published = this.leaves.filter((leaf, index) => {
      if (leaf.key.notAfter.getTime() <= now) return false;
      if (leaf === chosen || leaf.activatesAt > now) return true;
      // Superseded (a later leaf has activated): keep it until the tokens it may have signed expired.
      const successor = this.leaves.slice(index + 1).find((l) => l.activatesAt <= now);
      return !successor || successor.activatesAt + lifetimeMs + SKEW_MS > now;
    });
    const ordered = chosen ? [chosen, ...published.filter((l) => l !== chosen).reverse()] : published.reverse();
    const signature = ordered.map((l) => l.id).join(',');
    if (signature !== this.signature || this.active !== chosen?.key) {
      this.signature = signature;
      this.active = chosen?.key;
      this.published = ordered.map((l) => l.key);
    }
  }

  current(): SigningKey {
    if (!this.active) throw new Error(`no active signing key in ${this.dir}: run \`wharf keys rotate\``);
    return this.active;
  }

  verificationKeys(): readonly VerificationKey[] {
    return this.published;
  }

  rootBundlePem(): string {
    return this.rootPem;
  }

  /** The leaves seen at the last refresh (for rotation decisions and status). */
  entries(): readonly LeafEntry[] {
    return this.leaves;
  }
}
