import { NOT_HELD, type Cache } from './cache.js';

/** A lookup's result, as the lookup metric counts it. */
export type LookupResult = 'hit' | 'miss' | 'error';

/** Where the lookups of one kind and result are counted: a plain number (the metrics read it when scraped). */
export type LookupTally = (kind: string, result: LookupResult) => { count: number };

/** Kinds whose prefix is matched without cutting the key (cache keys have a handful). */
const KNOWN_KINDS = 32;

/** Counts hits and misses per kind of entry (the key's prefix before `:`). */
export class InstrumentedCache implements Cache {
  private readonly kinds: KindCounts[] = [];
  private readonly byName = new Map<string, KindCounts>();

  constructor(
    private readonly inner: Cache,
    private readonly tally: LookupTally,
  ) {}

  get(key: string): Promise<string | undefined> {
    // The kind's own callbacks, made once: no async frame, closure or label hash per lookup.
    const kind = this.kindOf(key);
    return this.inner.get(key).then(kind.found, kind.failed);
  }

  /** Part of Cache: a held answer is counted as the `get` it spares would be; `NOT_HELD` is not counted (its `get` is). */
  peek(key: string): string | undefined | typeof NOT_HELD {
    if (this.inner.peek === undefined) return NOT_HELD;
    let value: string | undefined | typeof NOT_HELD;
    try {
      value = this.inner.peek(key);
    } catch (err) {
      return this.kindOf(key).failed(err);
    }
    return value === NOT_HELD ? value : this.kindOf(key).found(value);
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    return this.inner.set(key, value, ttlSeconds);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  healthy(): Promise<boolean> {
    return this.inner.healthy();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private kindOf(key: string): KindCounts {
    for (const kind of this.kinds) if (key.startsWith(kind.prefix)) return kind;
    const name = key.slice(0, Math.max(0, key.indexOf(':'))) || 'other';
    let kind = this.byName.get(name);
    if (!kind) {
      kind = new KindCounts(name, this.tally);
      this.byName.set(name, kind);
      if (this.kinds.length < KNOWN_KINDS) this.kinds.push(kind);
    }
    return kind;
  }
}

/** One kind's counts, each made at its first lookup (so a scrape shows only results that happened). */
class KindCounts {
  /** `kind:`, the start of every key of this kind. */
  readonly prefix: string;
  private hit: { count: number } | undefined;
  private miss: { count: number } | undefined;
  private error: { count: number } | undefined;

  constructor(
    private readonly kind: string,
    private readonly tally: LookupTally,
  ) {
    this.prefix = `${kind}:`;
  }

  readonly found = (value: string | undefined): string | undefined => {
    if (value === undefined) (this.miss ??= this.tally(this.kind, 'miss')).count++;
    else (this.hit ??= this.tally(this.kind, 'hit')).count++;
    return value;
  };

  readonly failed = (err: unknown): never => {
    (this.error ??= this.tally(this.kind, 'error')).count++;
    throw err;
  };
}
