import type { LRUCache } from 'lru-cache';

/** Counts saturate here (four bits' worth, as in TinyLFU). */
const MAX_COUNT = 15;

/**
 * Which newcomers a full LRU takes in: TinyLFU's admission (Einziger, Friedman and Manes, 2017;
 * the policy behind Caffeine and Ristretto). Every lookup, found or not, is counted in a small
 * count-min sketch; a newcomer replaces the least recently used entry only if it was asked for
 * more often lately. Counts are halved every few lookups per entry, so "lately" means lately.
 *
 * What that buys over a plain LRU, and over admitting a random share of newcomers (what this
 * replaced):
 * - a fleet going round more keys than the cache holds asks for all of them equally often, so the
 *   cache keeps what it holds and hits for that share (a plain LRU evicts each entry just before
 *   it is asked for again, and misses every time);
 * - a new working set (the next fleet, the next hour's jobs) takes over within a few rounds, as
 *   the old entries' counts fade: a random eighth took dozens of rounds, and a replica kept going
 *   to Redis for the new fleet's entries all that time;
 * - keys asked for once (junk credentials, a scan) do not push out entries in use.
 */
export class Admission {
  /** Four-bit counts (a byte each here), 16 per expected entry, as in Caffeine's sketch. */
  private readonly counters: Uint8Array;
  private readonly counterMask: number;
  /**
   * TinyLFU's doorkeeper, as two Bloom filters (this period's and the last): a key's first lookup
   * only marks it here, so keys asked for once do not fill the counters with noise, and a key
   * seen in either period counts one more. Keeping the last period's means an entry in steady use
   * does not look unused right after the counts are halved.
   */
  private door: Uint32Array;
  private lastDoor: Uint32Array;
  private readonly doorMask: number;
  private readonly halveEvery: number;
  private counted = 0;

  /** `expectedEntries`: about how many entries the cache holds when full. */
  constructor(expectedEntries: number) {
    const entries = Math.max(64, expectedEntries);
    this.halveEvery = 4 * entries;
    const width = 2 ** Math.ceil(Math.log2(16 * entries));
    this.counters = new Uint8Array(width);
    this.counterMask = width - 1;
    // Eight bits per lookup of a period, three of them per key: ~3 % false positives.
    const doorBits = 2 ** Math.ceil(Math.log2(8 * this.halveEvery));
    this.door = new Uint32Array(doorBits / 32);
    this.lastDoor = new Uint32Array(doorBits / 32);
    this.doorMask = doorBits - 1;
  }

  /** What the sketch takes in memory: the cache it serves gets that much less. */
  get bytes(): number {
    return this.counters.byteLength + this.door.byteLength + this.lastDoor.byteLength;
  }

  /** Counts a lookup of `key`, whether the cache had it or not. */
  record(key: string): void {
    const h1 = fnv1a(key);
    const h2 = mix(h1);
    if (!this.knocked(this.door, h1, h2)) {
      for (let i = 0; i < 3; i++) {
        const bit = (h1 + i * h2) & this.doorMask;
        this.door[bit >>> 5]! |= 1 << (bit & 31);
      }
    } else {
      for (let i = 0; i < 4; i++) {
        const at = (h2 + i * h1) & this.counterMask;
        const count = this.counters[at]!;
        if (count < MAX_COUNT) this.counters[at] = count + 1;
      }
    }
    if (++this.counted >= this.halveEvery) this.halve();
  }

  /** About how often `key` was looked up lately (an overestimate at worst, never under). */
  frequency(key: string): number {
    const h1 = fnv1a(key);
    const h2 = mix(h1);
    let least = MAX_COUNT;
    for (let i = 0; i < 4; i++) least = Math.min(least, this.counters[(h2 + i * h1) & this.counterMask]!);
    return least + (this.knocked(this.door, h1, h2) || this.knocked(this.lastDoor, h1, h2) ? 1 : 0);
  }

  /**
   * Whether `lru` should take `key` (an entry of `size`, by its own measure) now. With room, yes;
   * full, only if `key` was asked for more often lately than the entry it would push out.
   */
  admits<V extends {}>(lru: LRUCache<string, V>, key: string, size: number): boolean {
    if (lru.calculatedSize + size <= lru.maxSize) return true;
    const victim = lru.rkeys().next();
    return victim.done === true || this.frequency(key) > this.frequency(victim.value);
  }

  private knocked(door: Uint32Array, h1: number, h2: number): boolean {
    for (let i = 0; i < 3; i++) {
      const bit = (h1 + i * h2) & this.doorMask;
      if ((door[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Ages every count and starts a new period. */
  private halve(): void {
    for (let i = 0; i < this.counters.length; i++) this.counters[i] = this.counters[i]! >> 1;
    const recycled = this.lastDoor;
    this.lastDoor = this.door;
    this.door = recycled.fill(0);
    this.counted = 0;
  }
}

/** 32-bit FNV-1a over the UTF-16 code units: the keys are keyed hashes, so nobody picks collisions. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A second, odd hash derived from the first (double hashing picks the positions). */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 1;
}
