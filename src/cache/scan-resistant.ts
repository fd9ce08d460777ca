import type { LRUCache } from 'lru-cache';

/** Share of new entries a full cache takes in (one in eight); the minter's reuse table takes the same. */
export const ADMIT_WHEN_FULL = 0.125;

/**
 * Whether a full LRU should take a new entry of `size` (evicting its least recently used). A fleet
 * that goes round more keys than the cache holds would otherwise evict each entry just before it
 * is asked for again: every lookup misses. Taking one newcomer in eight keeps most of what is held,
 * so such a round hits about as often as the cache is large against it. A cache with room takes
 * everything.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- lru-cache's own bound: keys and values are any non-nullish value
export function admits<K extends {}, V extends {}>(lru: LRUCache<K, V>, size: number, random: () => number = Math.random): boolean {
  return lru.calculatedSize + size <= lru.maxSize || random() < ADMIT_WHEN_FULL;
}
