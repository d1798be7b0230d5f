import { describe, expect, it } from 'vitest';
import { compareKeys } from '../../node/src/store/keys.js';
import { SortedKeySet, fromSortKey, toSortKey } from '../../node/src/store/sorted-keys.js';
import { randomKey, seededRng } from './helpers.js';

describe('SortedKeySet against a sorted-array reference model', () => {
  it('random inserts and deletes keep byte order, across many block splits', () => {
    const rng = seededRng(3);
    const set = new SortedKeySet();
    const model = new Set<string>();
    for (let step = 0; step < 6000; step++) {
      const key = rng.next() < 0.5 ? randomKey(rng) : `n/${rng.int(0, 4000)}`;
      if (rng.next() < 0.7) {
        expect(set.insert(key)).toBe(!model.has(key));
        model.add(key);
      } else {
        expect(set.delete(key)).toBe(model.has(key));
        model.delete(key);
      }
    }
    const expected = [...model].sort(compareKeys);
    expect(set.size).toBe(expected.length);
    expect([...set]).toEqual(expected);
    for (let i = 0; i < 60; i++) {
      const probe = randomKey(rng);
      const exclusive = rng.next() < 0.5;
      const want = expected.filter((k) => (exclusive ? compareKeys(k, probe) > 0 : compareKeys(k, probe) >= 0));
      expect([...set.from(probe, exclusive)].join('\n')).toBe(want.join('\n'));
    }
    for (const k of expected) expect(set.has(k)).toBe(true);
  });

  it('emptying and refilling works (blocks are removed when empty)', () => {
    const set = new SortedKeySet();
    for (let i = 0; i < 2000; i++) set.insert(`k${i}`);
    for (let i = 0; i < 2000; i++) expect(set.delete(`k${i}`)).toBe(true);
    expect(set.size).toBe(0);
    expect([...set]).toEqual([]);
    expect(set.delete('k1')).toBe(false);
    set.insert('z');
    set.insert('a');
    expect([...set]).toEqual(['a', 'z']);
  });

  it('sort keys are a bijection whose UTF-16 order is the UTF-8 byte order', () => {
    const rng = seededRng(5);
    const keys = Array.from({ length: 500 }, () => randomKey(rng));
    for (const k of keys) expect(fromSortKey(toSortKey(k))).toBe(k);
    expect(toSortKey('plain/ascii')).toBe('plain/ascii');
    for (let i = 0; i + 1 < keys.length; i++) {
      const [a, b] = [keys[i] as string, keys[i + 1] as string];
      const native = toSortKey(a) < toSortKey(b) ? -1 : toSortKey(a) > toSortKey(b) ? 1 : 0;
      expect(native).toBe(Math.sign(compareKeys(a, b)));
    }
  });
});
