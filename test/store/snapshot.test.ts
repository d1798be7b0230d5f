import { describe, expect, it } from 'vitest';
import type { Entry } from '../../node/src/raft/types.js';
import { encodeCommand } from '../../node/src/store/commands.js';
import { SnapshotCorruptError, SnapshotMetaMismatchError } from '../../node/src/store/errors.js';
import { KvStore } from '../../node/src/store/kv-store.js';
import type { CapturedImage } from '../../node/src/store/snapshot-format.js';
import { encodeImage } from '../../node/src/store/snapshot-writer.js';
import type { ChangeRecord } from '../../node/src/store/types.js';
import {
  Feeder,
  collect,
  concat,
  dec,
  enc,
  meta,
  randomCommand,
  randomKey,
  rechunk,
  seededRng,
  snapshotBytes,
} from './helpers.js';

/** Everything observable through the read API, for equality checks. */
function observe(s: KvStore): unknown {
  const all = s.list({ limit: 1_000_000 });
  const keys = new Set(all.items.map((i) => i.key));
  return {
    revision: s.revision(),
    compacted: s.compactedRevision(),
    applied: s.appliedIndex(),
    keyCount: s.keyCount(),
    items: all.items.map((i) => ({ ...i, value: dec(i.value as Uint8Array) })),
    // Values as base64: deep equality over big typed arrays is slow in the matcher.
    histories: [...keys].map((k) =>
      s.history(k).map((h) => ({ ...h, value: Buffer.from(h.value).toString('base64') })),
    ),
    firstRetained: s.firstRetainedRevision(),
    // Kept up as records come and go; recounted from scratch on restore: the two must agree.
    historyBytes: s.historyBytes(),
    liveBytes: s.liveBytes(),
  };
}

/** Entries of a random workload (with blanks, garbage and compactions), built against `shadow`. */
function workload(seed: number, steps: number): Entry[] {
  const rng = seededRng(seed);
  const shadow = new Feeder();
  const keys = Array.from({ length: 40 }, () => randomKey(rng));
  const entries: Entry[] = [];
  for (let i = 0; i < steps; i++) {
    const index = shadow.store.appliedIndex() + 1;
    const roll = rng.next();
    const entry: Entry =
      roll < 0.03
        ? { index, term: 1, kind: 'blank', data: new Uint8Array(0) }
        : roll < 0.05
          ? { index, term: 1, kind: 'normal', data: Uint8Array.of(9, 9, 9) }
          : { index, term: 1, kind: 'normal', data: encodeCommand(randomCommand(rng, shadow.store, keys)) };
    shadow.store.apply([entry]);
    entries.push(entry);
  }
  return entries;
}

function storeWith(entries: Entry[]): KvStore {
  const s = new KvStore();
  if (entries.length > 0) s.apply(entries);
  return s;
}

async function restoreFails(store: KvStore, bytes: Uint8Array | AsyncIterable<Uint8Array>, index: number): Promise<unknown> {
  const source = bytes instanceof Uint8Array ? rechunk(bytes, 777) : bytes;
  try {
    await store.restore(meta(index), source);
  } catch (err) {
    return err;
  }
  throw new Error('restore accepted a bad image');
}

describe('snapshot / restore', () => {
  const entries = workload(31, 900);

  it('round-trips: the restored store reads the same, snapshots the same bytes and keeps applying alike', async () => {
    const original = storeWith(entries.slice(0, 800));
    const bytes = await snapshotBytes(original);
    const restored = new KvStore();
    await restored.restore(meta(original.appliedIndex()), rechunk(bytes, 4096));
    expect(observe(restored)).toEqual(observe(original));
    expect(await snapshotBytes(restored)).toEqual(bytes);
    // Both go on identically, including results and watch-relevant change log.
    const rest = entries.slice(800);
    expect(restored.apply(rest)).toEqual(original.apply(rest));
    expect(observe(restored)).toEqual(observe(original));
    expect(await snapshotBytes(restored)).toEqual(await snapshotBytes(original));
    for (let r = restored.firstRetainedRevision(); r <= restored.revision(); r++) {
      expect(restored.changeAt(r)).toEqual(original.changeAt(r));
    }
  });

  it('determinism: two stores fed the same entries produce identical bytes, whatever the batching', async () => {
    const a = storeWith(entries);
    const b = new KvStore();
    for (let i = 0; i < entries.length; i += 7) b.apply(entries.slice(i, i + 7));
    expect(await snapshotBytes(b)).toEqual(await snapshotBytes(a));
    // Restored midway then fed the rest: still the same bytes (canonical key order).
    const mid = storeWith(entries.slice(0, 450));
    const c = new KvStore();
    await c.restore(meta(450), mid.snapshot(meta(450)));
    c.apply(entries.slice(450));
    expect(await snapshotBytes(c)).toEqual(await snapshotBytes(a));
  });

  it('does not depend on how the stream is chunked (1 byte, random sizes)', async () => {
    const s = storeWith(entries.slice(0, 200));
    const bytes = await snapshotBytes(s);
    for (const chunking of [1, seededRng(8)]) {
      const r = new KvStore();
      await r.restore(meta(200), rechunk(bytes, chunking));
      expect(observe(r)).toEqual(observe(s));
    }
  });

  it('accepts Node Buffer chunks and copies values out of them', async () => {
    const f = new Feeder();
    f.put('k', 'value-bytes');
    const bytes = await snapshotBytes(f.store);
    const buffers = [Buffer.from(bytes.subarray(0, 20)), Buffer.from(bytes.subarray(20))];
    const r = new KvStore();
    await r.restore(meta(1), (async function* () {
      yield* buffers;
    })());
    for (const b of buffers) b.fill(0);
    const value = r.get('k')?.value as Uint8Array;
    expect(Buffer.isBuffer(value)).toBe(false);
    expect(dec(value)).toBe('value-bytes');
  });

  it('is consistent as of the call while apply() goes on during the stream (copy-on-snapshot)', async () => {
    const live = storeWith(entries.slice(0, 500));
    const frozen = storeWith(entries.slice(0, 500));
    const stream = live.snapshot(meta(500)); // captured here, before any chunk is read
    live.apply(entries.slice(500, 600));
    const parts: Uint8Array[] = [];
    for await (const chunk of stream) {
      parts.push(chunk);
      // Keep mutating between chunks, including compaction at the head and deletes.
      const next = live.appliedIndex() + 1;
      live.apply([{ index: next, term: 1, kind: 'normal', data: encodeCommand({ type: 'compact', revision: live.revision() }) }]);
      const f = new Feeder(live);
      for (const item of live.list({ limit: 5 }).items) f.del(item.key);
      f.put('new/key', 'x');
    }
    const r = new KvStore();
    await r.restore(meta(500), rechunk(concat(parts), 999));
    expect(observe(r)).toEqual(observe(frozen));
    expect(concat(parts)).toEqual(await snapshotBytes(frozen));
  });

  it('spans many frames with big values and long histories', async () => {
    const f = new Feeder();
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    f.put('big', big);
    for (let i = 0; i < 3000; i++) f.put('hot', `v${i}`);
    for (let i = 0; i < 500; i++) f.put(`k/${i}`, 'x'.repeat(100));
    const bytes = await snapshotBytes(f.store);
    let chunks = 0;
    for await (const _ of f.store.snapshot(meta(f.store.appliedIndex()))) chunks++;
    expect(chunks).toBeGreaterThan(5);
    const r = new KvStore();
    await r.restore(meta(f.store.appliedIndex()), rechunk(bytes, 65_000));
    expect(observe(r)).toEqual(observe(f.store));
    expect(Buffer.compare(r.get('big')?.value as Uint8Array, big)).toBe(0);
    expect(r.history('hot')).toHaveLength(3000);
  });

  it('round-trips an empty store', async () => {
    const s = new KvStore();
    const r = new KvStore();
    await r.restore(meta(0), s.snapshot(meta(0)));
    expect(observe(r)).toEqual(observe(s));
  });

  it('restore sets the applied index; the next entry must follow it', async () => {
    const s = storeWith(entries.slice(0, 100));
    const r = new KvStore();
    await r.restore(meta(100), s.snapshot(meta(100)));
    expect(r.appliedIndex()).toBe(100);
    expect(() => r.apply(entries.slice(0, 1))).toThrow(/expected entry index 101/);
    expect(r.apply(entries.slice(100, 101))).toEqual(s.apply(entries.slice(100, 101)));
  });

  it('snapshot() refuses a meta that does not describe the applied state', () => {
    const s = storeWith(entries.slice(0, 10));
    expect(() => s.snapshot(meta(9))).toThrow(SnapshotMetaMismatchError);
  });
});

describe('restore rejects bad images and keeps the old state', () => {
  const entries = workload(47, 300);

  async function setup(): Promise<{ source: KvStore; bytes: Uint8Array; target: KvStore; before: unknown }> {
    const source = storeWith(entries);
    const bytes = await snapshotBytes(source);
    const target = new Feeder();
    target.put('old/state', 'must survive');
    target.put('old/state', 'still here');
    return { source, bytes, target: target.store, before: observe(target.store) };
  }

  it('every truncation is detected', async () => {
    const { bytes, target, before } = await setup();
    const rng = seededRng(1);
    const cuts = [0, 1, 8, 9, 10, bytes.length - 1, ...Array.from({ length: 60 }, () => rng.int(0, bytes.length))];
    for (const cut of cuts) {
      const err = await restoreFails(target, bytes.subarray(0, cut), 300);
      expect(err, `cut at ${cut}`).toBeInstanceOf(SnapshotCorruptError);
      expect((err as SnapshotCorruptError).code).toBe('snapshot_corrupt');
    }
    expect(observe(target)).toEqual(before);
  });

  it('flipped bits anywhere, and trailing bytes, are detected', async () => {
    const { bytes, target, before } = await setup();
    const rng = seededRng(2);
    for (let i = 0; i < 150; i++) {
      const bad = bytes.slice();
      bad[rng.int(0, bad.length)] ^= 1 << rng.int(0, 8);
      expect(await restoreFails(target, bad, 300)).toBeInstanceOf(SnapshotCorruptError);
    }
    expect(await restoreFails(target, Uint8Array.of(...bytes, 0), 300)).toBeInstanceOf(SnapshotCorruptError);
    expect(await restoreFails(target, concat([bytes, bytes]), 300)).toBeInstanceOf(SnapshotCorruptError);
    expect(observe(target)).toEqual(before);
  });

  it('an image for another index or term is refused', async () => {
    const { bytes, target, before } = await setup();
    expect(await restoreFails(target, bytes, 299)).toBeInstanceOf(SnapshotCorruptError);
    const wrongTerm = await (async () => {
      try {
        await target.restore({ ...meta(300), term: 2 }, rechunk(bytes, 100));
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(wrongTerm).toBeInstanceOf(SnapshotCorruptError);
    expect(observe(target)).toEqual(before);
  });

  it('a failing source rejects with its own error, and is closed', async () => {
    const { bytes, target, before } = await setup();
    let closed = false;
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        let sent = false;
        return {
          async next() {
            if (!sent) {
              sent = true;
              return { done: false, value: bytes.subarray(0, 100) };
            }
            throw new Error('connection reset');
          },
          async return() {
            closed = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    expect(await restoreFails(target, source, 300)).toMatchObject({ message: 'connection reset' });
    expect(observe(target)).toEqual(before);
    // Stopping early on a bad image releases the source too.
    closed = false;
    const garbage: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        return {
          async next() {
            return { done: false, value: new Uint8Array(64) };
          },
          async return() {
            closed = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    expect(await restoreFails(target, garbage, 300)).toBeInstanceOf(SnapshotCorruptError);
    expect(closed).toBe(true);
  });

  describe('images with valid checksums but broken invariants', () => {
    const rec = (key: string, modRevision: number, version: number, createRevision: number, deleted = false): ChangeRecord => ({
      key, modRevision, version, createRevision, deleted,
      contentType: deleted ? '' : 'text/plain',
      value: deleted ? new Uint8Array(0) : enc(`v${modRevision}`),
    });
    function image(revision: number, compactedRevision: number, histories: Record<string, ChangeRecord[]>, keyOrder?: string[]): CapturedImage {
      const keys = keyOrder ?? Object.keys(histories).sort();
      const hs = keys.map((k) => histories[k] as ChangeRecord[]);
      return {
        index: 5, term: 1, revision, compactedRevision, keys, histories: hs,
        lengths: hs.map((h) => h.length), recordCount: hs.reduce((n, h) => n + h.length, 0),
      };
    }
    async function verdict(img: CapturedImage): Promise<string> {
      const s = new KvStore();
      try {
        await s.restore(meta(5), encodeImage(img));
        return 'ok';
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotCorruptError);
        return (err as Error).message;
      }
    }

    it('accepts a consistent hand-built image (the checks are not just rejecting everything)', async () => {
      expect(
        await verdict(image(4, 2, { a: [rec('a', 2, 2, 1), rec('a', 3, 0, 0, true), rec('a', 4, 1, 4)], b: [rec('b', 1, 1, 1)] })),
      ).toBe('ok');
    });

    it('refuses each broken invariant', async () => {
      const cases: Array<[CapturedImage, RegExp]> = [
        [image(2, 0, { a: [rec('a', 1, 1, 1)], b: [rec('b', 2, 1, 2)] }, ['b', 'a']), /byte order/],
        [image(2, 0, { a: [rec('a', 1, 1, 1), rec('a', 1, 2, 1)] }), /not increasing/],
        [image(2, 0, { a: [rec('a', 1, 1, 1), rec('a', 2, 3, 1)] }), /version does not follow/],
        [image(1, 0, { a: [rec('a', 1, 2, 1)] }), /start with a create/],
        [image(3, 0, { a: [rec('a', 1, 1, 1), rec('a', 2, 0, 0, true), rec('a', 3, 2, 1)] }), /re-create/],
        [image(2, 0, { a: [rec('a', 1, 1, 1)] }), /change log has 1 records for 2 revisions/],
        [image(2, 0, { a: [rec('a', 1, 1, 1)], b: [rec('b', 1, 1, 1)] }), /(two records claim revision 1|change log)/],
        [image(1, 0, { a: [rec('a', 2, 1, 2)] }), /outside 1\.\.1/],
        [image(3, 2, { a: [rec('a', 1, 1, 1), rec('a', 2, 2, 1), rec('a', 3, 3, 1)] }), /more than one record at or below/],
        [image(3, 2, { a: [rec('a', 1, 0, 0, true)], b: [rec('b', 2, 1, 2), rec('b', 3, 2, 2)] }), /starts with a tombstone/],
        [image(1, 2, { a: [rec('a', 1, 1, 1)] }), /compacted revision is beyond/],
        [image(1, 0, { 'a//b': [rec('a//b', 1, 1, 1)] }), /invalid key/],
      ];
      for (const [img, message] of cases) {
        expect(await verdict(img), JSON.stringify(img.keys)).toMatch(message);
      }
    });
  });
});

describe('snapshot stream can be read more than once (e.g. sent to two followers)', () => {
  it('yields the same bytes on every iteration', async () => {
    const f = new Feeder();
    f.put('a', '1');
    const stream = f.store.snapshot(meta(1));
    f.put('a', '2');
    expect(await collect(stream)).toEqual(await collect(stream));
  });
});
