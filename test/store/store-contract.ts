import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';

/**
 * The behaviour every Store backend must have: what was recorded is there until deleted or past
 * its own TTL, first claims win atomically, counters only move forward. `expire` moves the
 * backend's clock past a 1 s TTL (or waits, where the TTL runs on a server clock).
 */
export function storeContract(name: string, make: () => Promise<{ store: Store; expire: () => Promise<void>; reopen: () => Promise<Store> }>) {
  describe(`${name} store contract`, () => {
    it('returns what was recorded, and undefined for unknown keys', async () => {
      const { store } = await make();
      await store.put('a', 'value-a');
      expect(await store.get('a')).toBe('value-a');
      expect(await store.get('missing')).toBeUndefined();
    });

    it('overwrites and deletes, saying whether a value was there', async () => {
      const { store } = await make();
      await store.put('k', 'one', 60);
      await store.put('k', 'two', 60);
      expect(await store.get('k')).toBe('two');
      expect(await store.delete('k')).toBe(true);
      expect(await store.get('k')).toBeUndefined();
      expect(await store.delete('k')).toBe(false);
    });

    it('forgets an entry when its own TTL has passed, and keeps the rest', async () => {
      const { store, expire } = await make();
      await store.put('short', 'v', 1);
      await store.put('long', 'v', 3600);
      await store.put('forever', 'v');
      await expire();
      expect(await store.get('short')).toBeUndefined();
      expect(await store.get('long')).toBe('v');
      expect(await store.get('forever')).toBe('v');
    });

    it('lets only the first of 50 concurrent claims win, and reports the winner to the rest', async () => {
      const { store } = await make();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.putIfAbsent('claim', `owner-${i}`)));
      const winners = results.filter((r) => r.created);
      expect(winners).toHaveLength(1);
      expect(new Set(results.map((r) => r.value))).toEqual(new Set([winners[0]!.value]));
      expect(await store.get('claim')).toBe(winners[0]!.value);
    });

    it('lets a new claim win once the earlier one has expired', async () => {
      const { store, expire } = await make();
      expect((await store.putIfAbsent('pending', 'first', 1)).created).toBe(true);
      await expire();
      expect(await store.putIfAbsent('pending', 'second', 60)).toEqual({ created: true, value: 'second' });
    });

    it('counts up atomically under concurrency', async () => {
      const { store } = await make();
      const values = await Promise.all(Array.from({ length: 40 }, () => store.increment('counter')));
      expect(new Set(values).size).toBe(40);
      expect(Math.max(...values)).toBe(40);
      expect(await store.get('counter')).toBe('40');
    });

    it('counts within a window: a counter given a TTL keeps the expiry its first count set, then starts again', async () => {
      const { store, expire } = await make();
      const values = await Promise.all(Array.from({ length: 20 }, () => store.increment('window', 1)));
      expect(new Set(values).size).toBe(20);
      expect(Math.max(...values)).toBe(20);
      // A later count does not move the window's end, whatever TTL it names.
      expect(await store.increment('window', 3600)).toBe(21);
      expect(await store.increment('long-window', 3600)).toBe(1);
      await expire();
      expect(await store.increment('window', 1)).toBe(1);
      expect(await store.increment('long-window', 3600)).toBe(2);
    });

    it('lists live entries under a prefix only', async () => {
      const { store, expire } = await make();
      await store.put('binding:alice', 'A');
      await store.put('binding:bob', 'B');
      await store.put('binding:gone', 'G', 1);
      await store.put('bindingx', 'X');
      await store.put('other:alice', 'O');
      await expire();
      expect(await store.list('binding:')).toEqual([
        { key: 'binding:alice', value: 'A' },
        { key: 'binding:bob', value: 'B' },
      ]);
      expect(await store.list('binding:', 1)).toHaveLength(1);
    });

    it('keeps every acknowledged write across a close and reopen', async () => {
      const { store, reopen } = await make();
      const value = JSON.stringify({ account: 'ålice', groups: ['a b', '"quoted"'] });
      await store.put('refresh', value, 3600);
      await store.increment('generation');
      await store.close();
      const again = await reopen();
      expect(await again.get('refresh')).toBe(value);
      expect(await again.get('generation')).toBe('1');
      await again.close();
    });

    it('reports itself healthy', async () => {
      const { store } = await make();
      expect((await store.health()).ok).toBe(true);
    });
  });
}
