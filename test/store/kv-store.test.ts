import { describe, expect, it } from 'vitest';
import {
  ApplyOrderError,
  CompactedError,
  FutureRevisionError,
  InvalidArgumentError,
  InvalidKeyError,
} from '../../node/src/store/errors.js';
import { compareKeys } from '../../node/src/store/keys.js';
import { KvStore } from '../../node/src/store/kv-store.js';
import { Feeder, dec, enc, randomCommand, randomKey, seededRng } from './helpers.js';
import { Model } from './model.js';

const text = (v: Uint8Array | undefined): string => dec(v as Uint8Array);

describe('KvStore: revisions and versions (design §3)', () => {
  it('starts empty', () => {
    const s = new KvStore();
    expect([s.revision(), s.compactedRevision(), s.keyCount(), s.appliedIndex()]).toEqual([0, 0, 0, 0]);
    expect(s.get('a')).toBeNull();
    expect(s.list({ limit: 10 })).toEqual({ revision: 0, items: [], more: false });
    expect(s.history('a')).toEqual([]);
  });

  it('create then update: version 1 then +1, createRevision kept, modRevision = revision', () => {
    const f = new Feeder();
    expect(f.put('a', 'one', { contentType: 'application/yaml' })).toEqual({
      ok: true, type: 'put', key: 'a', revision: 1, created: true, createRevision: 1, modRevision: 1, version: 1,
    });
    expect(f.put('b', 'x')).toMatchObject({ revision: 2, createRevision: 2, version: 1 });
    expect(f.put('a', 'two')).toEqual({
      ok: true, type: 'put', key: 'a', revision: 3, created: false, createRevision: 1, modRevision: 3, version: 2,
    });
    const a = f.store.get('a');
    expect(a && { ...a, value: text(a.value) }).toEqual({
      key: 'a', value: 'two', contentType: 'text/plain', createRevision: 1, modRevision: 3, version: 2,
    });
    expect(f.store.revision()).toBe(3);
    expect(f.store.keyCount()).toBe(2);
  });

  it('stores the content type as given', () => {
    const f = new Feeder();
    f.put('k', 'v', { contentType: 'application/json; charset=utf-8' });
    expect(f.store.get('k')?.contentType).toBe('application/json; charset=utf-8');
    f.put('k', 'v', { contentType: 'application/octet-stream' });
    expect(f.store.get('k')?.contentType).toBe('application/octet-stream');
  });

  it('blank and config entries return null, advance the applied index, not the revision', () => {
    const f = new Feeder();
    f.put('a', '1');
    expect(f.blank()).toBeNull();
    const [r] = f.store.apply([f.entry('config', enc('{"members":[]}'))]);
    expect(r).toBeNull();
    expect(f.store.appliedIndex()).toBe(3);
    expect(f.store.revision()).toBe(1);
    expect(f.put('a', '2')).toMatchObject({ revision: 2, version: 2 });
  });

  it('a garbage normal entry yields an invalid_command result, deterministically, and changes nothing', () => {
    const a = new Feeder();
    const b = new Feeder();
    a.put('k', 'v');
    b.put('k', 'v');
    const garbage = Uint8Array.of(1, 1, 0, 0, 1, 0x2f);
    const ra = a.raw(garbage);
    expect(ra).toEqual({ ok: false, code: 'invalid_command', revision: 1, message: expect.stringMatching(/key/) });
    expect(b.raw(garbage)).toEqual(ra);
    expect(a.raw(new Uint8Array(0))).toMatchObject({ ok: false, code: 'invalid_command' });
    expect(a.store.revision()).toBe(1);
    expect(a.store.appliedIndex()).toBe(3);
  });
});

describe('KvStore: preconditions (If-Match / If-None-Match)', () => {
  it('If-Match compares modRevision; a failure reports the current one and does not bump the revision', () => {
    const f = new Feeder();
    f.put('k', 'v1'); // rev 1
    f.put('other', 'x'); // rev 2
    expect(f.put('k', 'v2', { ifMatch: 2 })).toEqual({
      ok: false, code: 'precondition_failed', key: 'k', revision: 2, modRevision: 1, message: expect.any(String),
    });
    expect(f.store.revision()).toBe(2);
    expect(f.put('k', 'v2', { ifMatch: 1 })).toMatchObject({ ok: true, revision: 3, version: 2 });
    expect(f.put('absent', 'v', { ifMatch: 1 })).toMatchObject({ ok: false, code: 'precondition_failed', modRevision: null });
    expect(f.store.get('absent')).toBeNull();
  });

  it('If-None-Match creates only', () => {
    const f = new Feeder();
    expect(f.put('k', 'v1', { ifNoneMatch: true })).toMatchObject({ ok: true, created: true });
    expect(f.put('k', 'v2', { ifNoneMatch: true })).toMatchObject({
      ok: false, code: 'precondition_failed', modRevision: 1,
    });
    expect(text(f.store.get('k')?.value)).toBe('v1');
    f.del('k');
    expect(f.put('k', 'v3', { ifNoneMatch: true })).toMatchObject({ ok: true, created: true, version: 1 });
  });

  it('delete: 404 if absent; with If-Match the precondition is evaluated first', () => {
    const f = new Feeder();
    expect(f.del('nope')).toEqual({ ok: false, code: 'not_found', key: 'nope', revision: 0, message: expect.any(String) });
    expect(f.del('nope', 5)).toMatchObject({ ok: false, code: 'precondition_failed', modRevision: null });
    f.put('k', 'v');
    expect(f.del('k', 7)).toMatchObject({ ok: false, code: 'precondition_failed', modRevision: 1 });
    expect(f.del('k', 1)).toEqual({ ok: true, type: 'delete', key: 'k', revision: 2 });
    expect(f.store.revision()).toBe(2);
  });
});

describe('KvStore: delete, re-create and history', () => {
  it('re-creating a deleted key starts again at version 1 with a new createRevision', () => {
    const f = new Feeder();
    f.put('k', 'a'); // 1
    f.put('k', 'b'); // 2
    f.del('k'); // 3
    expect(f.store.get('k')).toBeNull();
    expect(f.store.keyCount()).toBe(0);
    expect(f.put('k', 'c')).toMatchObject({ created: true, createRevision: 4, modRevision: 4, version: 1 });
    expect(f.put('k', 'd')).toMatchObject({ created: false, createRevision: 4, version: 2 });
    const h = f.store.history('k');
    expect(h.map((i) => [i.modRevision, i.version, i.createRevision, i.deleted, text(i.value)])).toEqual([
      [5, 2, 4, false, 'd'],
      [4, 1, 4, false, 'c'],
      [3, 0, 0, true, ''],
      [2, 2, 1, false, 'b'],
      [1, 1, 1, false, 'a'],
    ]);
    expect(h[2]?.contentType).toBe('');
  });

  it('reads at a revision: the key as of then; at its delete revision it is absent', () => {
    const f = new Feeder();
    f.put('k', 'a'); // 1
    f.put('x', 'x'); // 2
    f.put('k', 'b'); // 3
    f.del('k'); // 4
    f.put('k', 'c'); // 5
    const at = (r: number): string | null => {
      const kv = f.store.get('k', r);
      return kv === null ? null : `${text(kv.value)}@${kv.modRevision}v${kv.version}`;
    };
    expect([1, 2, 3, 4, 5].map(at)).toEqual(['a@1v1', 'a@1v1', 'b@3v2', null, 'c@5v1']);
    expect(f.store.get('x', 1)).toBeNull(); // before it existed
    expect(() => f.store.get('k', 6)).toThrow(FutureRevisionError);
    expect(() => f.store.get('k', 0)).toThrow(InvalidArgumentError);
    expect(() => f.store.get('k', 1.5)).toThrow(InvalidArgumentError);
  });

  it('the read API refuses invalid keys with InvalidKeyError', () => {
    const s = new KvStore();
    expect(() => s.get('a//b')).toThrow(InvalidKeyError);
    expect(() => s.history('')).toThrow(InvalidKeyError);
  });

  it('accepts a 1024-byte key end to end', () => {
    const f = new Feeder();
    const key = 'é'.repeat(512);
    expect(f.put(key, 'v')).toMatchObject({ ok: true });
    expect(f.store.get(key)?.key).toBe(key);
  });
});

describe('KvStore: rollback', () => {
  it('writes the value and content type of revision N as a new version', () => {
    const f = new Feeder();
    f.put('k', 'one', { contentType: 'text/yaml' }); // 1
    f.put('k', 'two', { contentType: 'application/json' }); // 2
    expect(f.rollback('k', 1)).toEqual({
      ok: true, type: 'rollback', key: 'k', revision: 3, created: false, createRevision: 1, modRevision: 3, version: 3, toRevision: 1,
    });
    const kv = f.store.get('k');
    expect([text(kv?.value), kv?.contentType]).toEqual(['one', 'text/yaml']);
  });

  it('re-creates a deleted key; refuses N where the key was absent, N in the future, and If-Match', () => {
    const f = new Feeder();
    f.put('other', 'o'); // 1
    f.put('k', 'v'); // 2
    f.del('k'); // 3
    expect(f.rollback('k', 1)).toMatchObject({ ok: false, code: 'not_found' }); // not yet created
    expect(f.rollback('k', 3)).toMatchObject({ ok: false, code: 'not_found' }); // deleted at 3
    expect(f.rollback('k', 4)).toMatchObject({ ok: false, code: 'future_revision', requestedRevision: 4 });
    expect(f.rollback('k', 2, 2)).toMatchObject({ ok: false, code: 'precondition_failed', modRevision: null });
    expect(f.store.revision()).toBe(3);
    expect(f.rollback('k', 2)).toMatchObject({ ok: true, created: true, createRevision: 4, version: 1 });
    expect(f.rollback('k', 2, 3)).toMatchObject({ ok: false, code: 'precondition_failed', modRevision: 4 });
    expect(f.rollback('k', 2, 4)).toMatchObject({ ok: true, version: 2 });
  });
});

describe('KvStore: compaction', () => {
  it('counts the bytes of the change log, and finds the compaction point that keeps it under a bound', () => {
    const f = new Feeder();
    // Each record costs its value, key and content type, plus 64 for the record itself.
    const cost = (key: string, valueBytes: number) => valueBytes + key.length + 'text/plain'.length + 64;
    f.put('a', 'x'.repeat(1000)); // 1
    f.put('b', 'y'.repeat(10)); // 2
    f.put('a', 'z'.repeat(5000)); // 3
    f.del('b'); // 4 (a tombstone: no value, content type '')
    const tombstone = 'b'.length + 64;
    const total = cost('a', 1000) + cost('b', 10) + cost('a', 5000) + tombstone;
    expect(f.store.historyBytes()).toBe(total);
    // Everything fits: compacting keeps from the oldest retained revision.
    expect(f.store.compactionPointForBytes(total)).toBe(1);
    // One byte less: revision 1 must go.
    expect(f.store.compactionPointForBytes(total - 1)).toBe(2);
    expect(f.store.compactionPointForBytes(cost('a', 5000) + tombstone)).toBe(3);
    // Not even the newest record fits: keep the current revision alone.
    expect(f.store.compactionPointForBytes(10)).toBe(4);
    f.compact(3);
    expect(f.store.historyBytes()).toBe(cost('a', 5000) + tombstone);
    expect(f.store.compactionPointForBytes(0)).toBe(4);
    expect(new KvStore().compactionPointForBytes(0)).toBe(0);
  });

  it('counts the bytes of the live keys, and what a command would add to them', () => {
    const f = new Feeder();
    const cost = (key: string, valueBytes: number) => valueBytes + key.length + 'text/plain'.length + 64;
    const put = (key: string, n: number) => ({ type: 'put' as const, key, value: new Uint8Array(n), contentType: 'text/plain' });
    expect(f.store.liveGrowthOf(put('a', 100))).toBe(cost('a', 100));
    f.put('a', 'x'.repeat(100)); // 1
    f.put('b', 'y'.repeat(10)); // 2
    expect(f.store.liveBytes()).toBe(cost('a', 100) + cost('b', 10));
    // Replacing a value counts the difference; a smaller one shrinks the live data.
    expect(f.store.liveGrowthOf(put('a', 300))).toBe(200);
    expect(f.store.liveGrowthOf(put('a', 40))).toBe(-60);
    f.put('a', 'z'.repeat(300)); // 3
    expect(f.store.liveBytes()).toBe(cost('a', 300) + cost('b', 10));
    expect(f.store.liveGrowthOf({ type: 'delete', key: 'b' })).toBe(-cost('b', 10));
    expect(f.store.liveGrowthOf({ type: 'delete', key: 'nothing' })).toBe(0);
    f.del('b'); // 4
    expect(f.store.liveBytes()).toBe(cost('a', 300));
    // A rollback brings the old value back: growth by what it held then.
    expect(f.store.liveGrowthOf({ type: 'rollback', key: 'a', toRevision: 1 })).toBe(-200);
    expect(f.store.liveGrowthOf({ type: 'rollback', key: 'b', toRevision: 2 })).toBe(cost('b', 10));
    // Rollbacks that would fail add nothing.
    expect(f.store.liveGrowthOf({ type: 'rollback', key: 'b', toRevision: 4 })).toBe(0);
    expect(f.store.liveGrowthOf({ type: 'rollback', key: 'a', toRevision: 99 })).toBe(0);
    f.rollback('b', 2); // 5
    expect(f.store.liveBytes()).toBe(cost('a', 300) + cost('b', 10));
    // Compaction drops history, never live data.
    f.compact(5);
    expect(f.store.liveBytes()).toBe(cost('a', 300) + cost('b', 10));
    expect(f.store.liveGrowthOf({ type: 'rollback', key: 'a', toRevision: 1 })).toBe(0);
    expect(f.store.liveGrowthOf({ type: 'compact', revision: 5 })).toBe(0);
  });

  it('drops history below the revision; reads there throw CompactedError, reads at or above stay exact', () => {
    const f = new Feeder();
    f.put('k', 'a'); // 1
    f.put('k', 'b'); // 2
    f.put('gone', 'g'); // 3
    f.del('gone'); // 4
    f.put('k', 'c'); // 5
    f.put('dead', 'd'); // 6
    f.del('dead'); // 7
    expect(f.compact(4)).toEqual({ ok: true, type: 'compact', revision: 7, compactedRevision: 4 });
    expect(f.store.revision()).toBe(7); // compaction is not a change
    expect(f.store.compactedRevision()).toBe(4);
    expect(() => f.store.get('k', 3)).toThrow(CompactedError);
    try {
      f.store.get('k', 1);
    } catch (err) {
      expect(err).toMatchObject({ code: 'compacted', requestedRevision: 1, compactedRevision: 4 });
    }
    expect(text(f.store.get('k', 4)?.value)).toBe('b');
    expect(f.store.get('gone', 4)).toBeNull();
    expect(f.store.history('k').map((h) => h.modRevision)).toEqual([5, 2]);
    expect(f.store.history('gone').map((h) => [h.modRevision, h.deleted])).toEqual([[4, true]]); // the event of 4
    expect(f.compact(7)).toMatchObject({ compactedRevision: 7 });
    expect(f.store.history('gone')).toEqual([]);
    expect(f.store.history('dead').map((h) => h.modRevision)).toEqual([7]);
    expect(f.store.history('k').map((h) => h.modRevision)).toEqual([5]);
    expect(f.store.get('k', 7)?.modRevision).toBe(5);
    expect(f.store.keyCount()).toBe(1);
  });

  it('drops a record superseded exactly at the new compaction point', () => {
    const f = new Feeder();
    f.put('a', '1'); // 1
    f.put('b', '2'); // 2
    f.compact(2); // keeps a@1: it is a's value at 2
    f.put('a', '3'); // 3
    f.compact(3);
    expect(f.store.history('a').map((h) => h.modRevision)).toEqual([3]);
  });

  it('is idempotent below the compaction point and refuses the future', () => {
    const f = new Feeder();
    f.put('k', 'a');
    f.put('k', 'b');
    f.compact(2);
    expect(f.compact(1)).toEqual({ ok: true, type: 'compact', revision: 2, compactedRevision: 2 });
    expect(f.compact(3)).toMatchObject({ ok: false, code: 'future_revision', requestedRevision: 3 });
    expect(f.store.compactedRevision()).toBe(2);
  });

  it('rollback to a compacted revision fails with compacted', () => {
    const f = new Feeder();
    f.put('k', 'a');
    f.put('k', 'b');
    f.put('k', 'c');
    f.compact(3);
    expect(f.rollback('k', 2)).toMatchObject({ ok: false, code: 'compacted', compactedRevision: 3 });
    expect(f.rollback('k', 3)).toMatchObject({ ok: true, version: 4 });
  });

  it('agrees with a naive reference model on every result and every read at every revision', () => {
    const rng = seededRng(2024);
    const f = new Feeder();
    const model = new Model();
    const keys = Array.from({ length: 12 }, () => randomKey(rng));
    const s = f.store;
    const checkReads = (): void => {
      for (const key of keys) {
        for (let r = 1; r <= s.revision(); r++) {
          if (r < s.compactedRevision()) {
            expect(() => s.get(key, r)).toThrow(CompactedError);
            continue;
          }
          const got = s.get(key, r);
          const want = model.at(key, r);
          // Compared as strings first: the matcher's deep equality is slow on byte arrays.
          const g = got === null ? null : { ...got, key: undefined, value: Buffer.from(got.value).toString('hex') };
          const w = want === null ? null : { ...want, value: Buffer.from(want.value).toString('hex') };
          if (JSON.stringify(g) !== JSON.stringify(w)) expect(g, `${key}@${r}`).toEqual(w);
        }
      }
    };
    // History retains exactly the changes a read at >= compactedRevision can need: the newest
    // change at or below it (unless that is an older tombstone) and all after.
    const checkHistories = (): void => {
      expect(s.compactedRevision()).toBe(model.compacted);
      for (const key of keys) {
        const retained = s.history(key).map((h) => h.modRevision).reverse();
        const changes = model.changes.get(key) ?? [];
        const c = s.compactedRevision();
        const base = changes.filter((x) => x.revision <= c).at(-1);
        const keepFrom = base !== undefined && !(base.kv === null && base.revision < c) ? base.revision : c + 1;
        const want = changes.map((x) => x.revision).filter((r) => r >= keepFrom);
        if (retained.join() !== want.join()) expect(retained, key).toEqual(want);
      }
      expect(s.keyCount()).toBe(model.states[model.revision]?.size);
    };
    const outcomes = new Map<string, number>();
    for (let step = 1; step <= 700; step++) {
      const cmd = randomCommand(rng, s, keys);
      const got = f.run(cmd);
      const want = model.apply(cmd);
      const agrees =
        Object.entries(want).every(([k, v]) => (got as Record<string, unknown>)[k] === v) &&
        got.revision === model.revision;
      if (!agrees) {
        expect(got, `step ${step} ${JSON.stringify({ ...cmd, value: undefined })}`).toMatchObject(want);
        expect(got.revision).toBe(model.revision);
      }
      const label = got.ok ? got.type : got.code;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      if (step % 5 === 0) checkHistories();
      if (step % 100 === 0) checkReads();
    }
    // The workload reached every outcome, so the comparison above covered them all.
    for (const label of ['put', 'delete', 'rollback', 'compact', 'precondition_failed', 'not_found', 'compacted']) {
      expect(outcomes.get(label), label).toBeGreaterThan(0);
    }
    expect(s.compactedRevision()).toBeGreaterThan(0);
  });
});

describe('KvStore: listing (UTF-8 byte order, prefix, paging)', () => {
  function filled(keys: string[]): Feeder {
    const f = new Feeder();
    for (const k of keys) f.put(k, `v:${k}`);
    return f;
  }

  it('orders by UTF-8 bytes, not by UTF-16 code units', () => {
    const keys = ['p/😀', 'p/\uFFFD', 'p/z', 'p/é', 'p/A', 'p/\uE000'];
    const f = filled(keys);
    const listed = f.store.list({ prefix: 'p/', limit: 100 }).items.map((i) => i.key);
    expect(listed).toEqual(['p/A', 'p/z', 'p/é', 'p/\uE000', 'p/\uFFFD', 'p/😀']);
    const bytewise = [...keys].sort((a, b) => Buffer.compare(enc(a), enc(b)));
    expect(listed).toEqual(bytewise);
    expect(listed).not.toEqual([...keys].sort()); // JS order would put the emoji first
  });

  it('filters by prefix, excludes deleted keys, honours keysOnly, limit and more', () => {
    const f = filled(['a', 'a/1', 'a/2', 'a/3', 'ab', 'b/1']);
    f.del('a/2');
    const page = f.store.list({ prefix: 'a/', limit: 10 });
    expect(page.items.map((i) => i.key)).toEqual(['a/1', 'a/3']);
    expect(page.more).toBe(false);
    expect(page.revision).toBe(7);
    expect(text(page.items[0]?.value)).toBe('v:a/1');
    expect(page.items[0]).toMatchObject({ createRevision: 2, modRevision: 2, version: 1, contentType: 'text/plain' });
    const keysOnly = f.store.list({ prefix: 'a', limit: 2, keysOnly: true });
    expect(keysOnly.items.map((i) => i.key)).toEqual(['a', 'a/1']);
    expect(keysOnly.more).toBe(true);
    expect('value' in (keysOnly.items[0] as object)).toBe(false);
    expect(f.store.list({ limit: 100 }).items).toHaveLength(5);
  });

  it('after is exclusive, may lie before, inside or past the prefix range', () => {
    const f = filled(['a/1', 'a/2', 'a/3', 'b/1']);
    const keys = (after?: string): string[] =>
      f.store.list({ prefix: 'a/', after, limit: 10 }).items.map((i) => i.key);
    expect(keys('a/1')).toEqual(['a/2', 'a/3']);
    expect(keys('a/15')).toEqual(['a/2', 'a/3']); // not itself a key
    expect(keys('0')).toEqual(['a/1', 'a/2', 'a/3']); // before the prefix
    expect(keys('a/3')).toEqual([]);
    expect(keys('b')).toEqual([]); // past the prefix
  });

  it('paging returns every key exactly once, in order, for any page size', () => {
    const rng = seededRng(77);
    const f = new Feeder();
    const live = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const k = randomKey(rng, ['app', 'app2', 'ü']);
      if (rng.next() < 0.15 && live.size > 0) {
        const victim = [...live][rng.int(0, live.size)] as string;
        f.del(victim);
        live.delete(victim);
      } else {
        f.put(k, 'v');
        live.add(k);
      }
    }
    for (const prefix of ['', 'app', 'app/', 'ü/']) {
      const expected = [...live].filter((k) => k.startsWith(prefix)).sort(compareKeys);
      for (const limit of [1, 7, 50, 1000]) {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = f.store.list({ prefix, after, limit, keysOnly: true });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          seen.push(...page.items.map((i) => i.key));
          if (!page.more) break;
          after = page.items.at(-1)?.key;
        }
        expect(seen, `${prefix} ${limit}`).toEqual(expected);
      }
    }
  });

  it('refuses a bad limit or prefix', () => {
    const s = new KvStore();
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => s.list({ limit })).toThrow(InvalidArgumentError);
    }
    expect(() => s.list({ prefix: '\uD800', limit: 1 })).toThrow(InvalidArgumentError);
  });
});

describe('KvStore: apply order is a driver contract', () => {
  it('throws ApplyOrderError on a gap or a repeat, before applying anything of the batch', () => {
    const f = new Feeder();
    f.put('k', 'v');
    const data = enc('irrelevant');
    const s = f.store;
    expect(() =>
      s.apply([
        { index: 2, term: 1, kind: 'blank', data },
        { index: 4, term: 1, kind: 'blank', data },
      ]),
    ).toThrow(ApplyOrderError);
    expect(s.appliedIndex()).toBe(1);
    expect(() => s.apply([{ index: 1, term: 1, kind: 'blank', data }])).toThrow(/expected entry index 2, got 1/);
    expect(s.apply([])).toEqual([]);
    expect(s.apply([{ index: 2, term: 1, kind: 'blank', data }])).toEqual([null]);
  });
});
