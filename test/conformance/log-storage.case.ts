// The one suite every LogStorage implementation passes (openraft's testing/log/suite.rs is the
// model). Each implementation's test file calls runLogStorageSuite with a builder; when the
// builder can reopen the same data, the suite also closes and reopens after mutations and checks
// that nothing changed, which is what catches state kept only in memory.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry, EntryKind, HardState, SnapshotMeta } from '../../node/src/raft/types.js';
import { seededRng } from '../../node/src/raft/rng.js';
import { ClosedError, CompactedError, InvalidWriteError, UnavailableError } from '../../node/src/storage/errors.js';
import type { LogStorage } from '../../node/src/storage/log-storage.js';

export interface LogStorageHarness {
  storage: LogStorage;
  /** Close `storage` and open the same data again, as after a restart. */
  reopen?: () => Promise<LogStorage>;
  cleanup: () => Promise<void>;
}

export interface LogStorageSuiteOptions {
  name: string;
  create: () => Promise<LogStorageHarness>;
}

export function entry(index: number, term: number, kind: EntryKind = 'normal', data?: Uint8Array): Entry {
  return { index, term, kind, data: data ?? new TextEncoder().encode(`e${index}t${term}`) };
}

export function entries(from: number, through: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= through; i++) out.push(entry(i, term));
  return out;
}

export function snap(index: number, term: number): SnapshotMeta {
  return { index, term, membership: { members: [{ id: 'n1', incarnation: 'inc-1', role: 'voter', peerURL: 'http://127.0.0.1:7071', clientURL: 'http://127.0.0.1:7070' }] } };
}

const hs = (term: number, vote: string | null, commit: number): HardState => ({ term, vote, commit });

interface Expected {
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  firstIndex: number;
  /** Every stored entry, from firstIndex on. */
  log: Entry[];
  /** Term of firstIndex - 1. */
  boundaryTerm: number;
}

export function runLogStorageSuite(options: LogStorageSuiteOptions): void {
  describe(`LogStorage conformance: ${options.name}`, () => {
    let harness: LogStorageHarness;
    let storage: LogStorage;

    beforeEach(async () => {
      harness = await options.create();
      storage = harness.storage;
    });

    afterEach(async () => {
      await storage.close().catch(() => undefined);
      await harness.cleanup();
    });

    /** Checks `expected`, then (when supported) reopens and checks it again. */
    async function check(expected: Expected): Promise<void> {
      await expectState(storage, expected);
      if (harness.reopen) {
        storage = await harness.reopen();
        await expectState(storage, expected);
      }
    }

    describe('a new log', () => {
      it('is empty: zero hard state, no snapshot, first 1, last 0', async () => {
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: [], boundaryTerm: 0 });
        expect(await storage.entries(1, 1)).toEqual([]);
      });

      it('answers term(0) = 0 and UnavailableError above', async () => {
        expect(await storage.term(0)).toBe(0);
        await expect(storage.term(1)).rejects.toBeInstanceOf(UnavailableError);
        await expect(storage.entries(1, 2)).rejects.toBeInstanceOf(UnavailableError);
      });

      it('rejects a first write that does not start at index 1', async () => {
        await expect(storage.write({ hardState: null, entries: [entry(2, 1)] })).rejects.toBeInstanceOf(InvalidWriteError);
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: [], boundaryTerm: 0 });
      });
    });

    describe('hard state', () => {
      it('is stored alone and kept when a later write passes null', async () => {
        await storage.write({ hardState: hs(3, 'n2', 0), entries: [] });
        await check({ hardState: hs(3, 'n2', 0), snapshot: null, firstIndex: 1, log: [], boundaryTerm: 0 });
        await storage.write({ hardState: null, entries: entries(1, 2, 3) });
        await check({ hardState: hs(3, 'n2', 0), snapshot: null, firstIndex: 1, log: entries(1, 2, 3), boundaryTerm: 0 });
      });

      it('is stored with entries in one write', async () => {
        await storage.write({ hardState: hs(1, 'n1', 1), entries: entries(1, 3, 1) });
        await check({ hardState: hs(1, 'n1', 1), snapshot: null, firstIndex: 1, log: entries(1, 3, 1), boundaryTerm: 0 });
      });

      it('accepts a vote in a term without one, the same vote again, a new term, and a commit going either way', async () => {
        await storage.write({ hardState: hs(2, null, 0), entries: [] });
        await storage.write({ hardState: hs(2, 'n3', 0), entries: [] });
        await storage.write({ hardState: hs(2, 'n3', 4), entries: [] });
        await storage.write({ hardState: hs(2, 'n3', 2), entries: [] });
        await storage.write({ hardState: hs(5, null, 2), entries: [] });
        await check({ hardState: hs(5, null, 2), snapshot: null, firstIndex: 1, log: [], boundaryTerm: 0 });
      });

      it('refuses a term going backwards and a second vote in the same term', async () => {
        await storage.write({ hardState: hs(4, 'n1', 0), entries: [] });
        await expect(storage.write({ hardState: hs(3, 'n1', 0), entries: [] })).rejects.toBeInstanceOf(InvalidWriteError);
        await expect(storage.write({ hardState: hs(4, 'n2', 0), entries: [] })).rejects.toBeInstanceOf(InvalidWriteError);
        await expect(storage.write({ hardState: hs(4, null, 0), entries: [] })).rejects.toBeInstanceOf(InvalidWriteError);
        // A refused write changes nothing, entries included.
        await expect(storage.write({ hardState: hs(3, null, 0), entries: entries(1, 2, 3) })).rejects.toBeInstanceOf(
          InvalidWriteError,
        );
        await check({ hardState: hs(4, 'n1', 0), snapshot: null, firstIndex: 1, log: [], boundaryTerm: 0 });
      });
    });

    describe('append', () => {
      it('stores entries across several writes, kinds and bytes intact', async () => {
        const binary = new Uint8Array(256).map((_, i) => i);
        const batch1 = [entry(1, 1, 'config', new TextEncoder().encode('{"members":[]}')), entry(2, 1, 'blank', new Uint8Array(0))];
        const batch2 = [entry(3, 1, 'normal', binary), entry(4, 2, 'blank', new Uint8Array(0)), entry(5, 2)];
        await storage.write({ hardState: null, entries: batch1 });
        await storage.write({ hardState: null, entries: batch2 });
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: [...batch1, ...batch2], boundaryTerm: 0 });
        expect(await storage.term(3)).toBe(1);
        expect(await storage.term(4)).toBe(2);
      });

      it('stores a large batch and a large entry', async () => {
        const big = entry(1, 1, 'normal', new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff));
        const many = entries(2, 3001, 1);
        await storage.write({ hardState: null, entries: [big, ...many] });
        expect(comparable(await storage.entries(1, 2))).toEqual(comparable([big]));
        expect(comparable(await storage.entries(1500, 1510))).toEqual(comparable(entries(1500, 1509, 1)));
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: [big, ...many], boundaryTerm: 0 });
      });

      it('refuses holes, non-contiguous batches and decreasing terms, and stays usable', async () => {
        await storage.write({ hardState: null, entries: entries(1, 3, 2) });
        const refused: Entry[][] = [
          [entry(5, 2)],
          [entry(4, 2), entry(6, 2)],
          [entry(4, 2), entry(4, 2)],
          [entry(4, 1)],
          [entry(4, 3), entry(5, 2)],
          [entry(2, 1)],
          [entry(0, 1)],
          [{ index: 4, term: 2, kind: 'bogus' as EntryKind, data: new Uint8Array(0) }],
        ];
        for (const batch of refused) {
          await expect(storage.write({ hardState: null, entries: batch }), JSON.stringify(batch.map((e) => [e.index, e.term]))).rejects.toBeInstanceOf(
            InvalidWriteError,
          );
        }
        await storage.write({ hardState: null, entries: [entry(4, 2)] });
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: entries(1, 4, 2), boundaryTerm: 0 });
      });

      it('keeps its own copy of entry bytes', async () => {
        const data = new Uint8Array([1, 2, 3]);
        await storage.write({ hardState: null, entries: [entry(1, 1, 'normal', data)] });
        data[0] = 99;
        const [read] = await storage.entries(1, 2);
        expect(read!.data).toEqual(new Uint8Array([1, 2, 3]));
        read!.data[1] = 99;
        expect((await storage.entries(1, 2))[0]!.data).toEqual(new Uint8Array([1, 2, 3]));
      });
    });

    describe('truncating a conflicting suffix (§5.3)', () => {
      it('deletes the suffix from the first new index, in the same write', async () => {
        await storage.write({ hardState: hs(1, 'n1', 0), entries: entries(1, 10, 1) });
        await storage.write({ hardState: hs(2, 'n2', 0), entries: entries(6, 7, 2) });
        await check({ hardState: hs(2, 'n2', 0), snapshot: null, firstIndex: 1, log: [...entries(1, 5, 1), ...entries(6, 7, 2)], boundaryTerm: 0 });
        await expect(storage.term(8)).rejects.toBeInstanceOf(UnavailableError);
        await expect(storage.entries(1, 9)).rejects.toBeInstanceOf(UnavailableError);
      });

      it('replaces the whole log when the write starts at index 1', async () => {
        await storage.write({ hardState: null, entries: entries(1, 4, 1) });
        await storage.write({ hardState: null, entries: entries(1, 2, 3) });
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: entries(1, 2, 3), boundaryTerm: 0 });
      });

      it('replaces the last entry only, and can make the log longer than before', async () => {
        await storage.write({ hardState: null, entries: entries(1, 4, 1) });
        await storage.write({ hardState: null, entries: entries(4, 8, 2) });
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: [...entries(1, 3, 1), ...entries(4, 8, 2)], boundaryTerm: 0 });
      });

      it('refuses a new suffix whose term is below the entry before it', async () => {
        await storage.write({ hardState: null, entries: [...entries(1, 3, 1), ...entries(4, 6, 3)] });
        await expect(storage.write({ hardState: null, entries: entries(5, 5, 2) })).rejects.toBeInstanceOf(InvalidWriteError);
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: [...entries(1, 3, 1), ...entries(4, 6, 3)], boundaryTerm: 0 });
      });
    });

    describe('reading', () => {
      beforeEach(async () => {
        const sized = [10, 20, 30, 40, 50].map((n, i) => entry(i + 1, 1, 'normal', new Uint8Array(n)));
        await storage.write({ hardState: null, entries: sized });
      });

      it('limits bytes to the longest prefix that fits, at least one entry', async () => {
        const idx = async (max: number): Promise<number[]> => (await storage.entries(1, 6, max)).map((e) => e.index);
        expect(await idx(0)).toEqual([1]);
        expect(await idx(9)).toEqual([1]);
        expect(await idx(10)).toEqual([1]);
        expect(await idx(29)).toEqual([1]);
        expect(await idx(30)).toEqual([1, 2]);
        expect(await idx(60)).toEqual([1, 2, 3]);
        expect(await idx(149)).toEqual([1, 2, 3, 4]);
        expect(await idx(150)).toEqual([1, 2, 3, 4, 5]);
        expect(await idx(Number.MAX_SAFE_INTEGER)).toEqual([1, 2, 3, 4, 5]);
        expect((await storage.entries(3, 6, 75)).map((e) => e.index)).toEqual([3, 4]);
      });

      it('returns [] for an empty range and rejects ranges outside the log', async () => {
        expect(await storage.entries(3, 3)).toEqual([]);
        expect(await storage.entries(6, 6)).toEqual([]);
        await expect(storage.entries(1, 7)).rejects.toBeInstanceOf(UnavailableError);
        await expect(storage.entries(7, 7)).rejects.toBeInstanceOf(UnavailableError);
        await expect(storage.entries(0, 2)).rejects.toBeInstanceOf(CompactedError);
        await expect(storage.entries(4, 3)).rejects.toBeInstanceOf(RangeError);
        await expect(storage.entries(1.5, 3)).rejects.toBeInstanceOf(RangeError);
        await expect(storage.term(-1)).rejects.toBeInstanceOf(RangeError);
      });
    });

    describe('purge', () => {
      beforeEach(async () => {
        await storage.write({ hardState: hs(3, 'n1', 10), entries: [...entries(1, 4, 1), ...entries(5, 10, 3)] });
      });

      it('drops the prefix, records the snapshot, keeps term(first - 1)', async () => {
        await storage.purge(4, snap(6, 3));
        await check({ hardState: hs(3, 'n1', 10), snapshot: snap(6, 3), firstIndex: 5, log: entries(5, 10, 3), boundaryTerm: 1 });
        await expect(storage.entries(4, 6)).rejects.toBeInstanceOf(CompactedError);
        await expect(storage.term(3)).rejects.toBeInstanceOf(CompactedError);
        expect(await storage.term(4)).toBe(1);
        expect(await storage.term(6)).toBe(3);
        // load() returns only what follows the snapshot; kept entries stay readable.
        expect((await storage.load()).entries).toEqual(entries(7, 10, 3));
        expect(await storage.entries(5, 7)).toEqual(entries(5, 6, 3));
      });

      it('is idempotent below the first index and can advance the snapshot alone', async () => {
        await storage.purge(4, snap(4, 1));
        await storage.purge(2, snap(4, 1));
        await storage.purge(4, snap(8, 3));
        await check({ hardState: hs(3, 'n1', 10), snapshot: snap(8, 3), firstIndex: 5, log: entries(5, 10, 3), boundaryTerm: 1 });
      });

      it('can purge the whole log; appending continues after it', async () => {
        await storage.purge(10, snap(10, 3));
        await check({ hardState: hs(3, 'n1', 10), snapshot: snap(10, 3), firstIndex: 11, log: [], boundaryTerm: 3 });
        expect(storage.lastIndex()).toBe(10);
        await expect(storage.write({ hardState: null, entries: [entry(11, 2)] })).rejects.toBeInstanceOf(InvalidWriteError);
        await storage.write({ hardState: null, entries: entries(11, 12, 3) });
        await check({ hardState: hs(3, 'n1', 10), snapshot: snap(10, 3), firstIndex: 11, log: entries(11, 12, 3), boundaryTerm: 3 });
      });

      it('beyond the last index rejects with UnavailableError and changes nothing', async () => {
        await expect(storage.purge(11, snap(11, 3))).rejects.toBeInstanceOf(UnavailableError);
        await expect(storage.purge(20, snap(20, 3))).rejects.toBeInstanceOf(UnavailableError);
        await check({ hardState: hs(3, 'n1', 10), snapshot: null, firstIndex: 1, log: [...entries(1, 4, 1), ...entries(5, 10, 3)], boundaryTerm: 0 });
      });

      it('refuses a snapshot that does not cover the purge, disagrees with the log, is past the log or is older', async () => {
        await expect(storage.purge(5, snap(4, 1))).rejects.toBeInstanceOf(InvalidWriteError);
        await expect(storage.purge(5, snap(6, 2))).rejects.toBeInstanceOf(InvalidWriteError);
        await expect(storage.purge(5, snap(11, 3))).rejects.toBeInstanceOf(InvalidWriteError);
        await storage.purge(5, snap(7, 3));
        await expect(storage.purge(5, snap(6, 3))).rejects.toBeInstanceOf(InvalidWriteError);
        await check({ hardState: hs(3, 'n1', 10), snapshot: snap(7, 3), firstIndex: 6, log: entries(6, 10, 3), boundaryTerm: 3 });
      });

      it('makes writes at or below the snapshot index fail (truncation at the snapshot boundary)', async () => {
        await storage.purge(5, snap(7, 3));
        await expect(storage.write({ hardState: null, entries: [entry(5, 4)] })).rejects.toBeInstanceOf(CompactedError);
        await expect(storage.write({ hardState: null, entries: [entry(6, 4)] })).rejects.toBeInstanceOf(InvalidWriteError);
        await expect(storage.write({ hardState: null, entries: [entry(7, 4)] })).rejects.toBeInstanceOf(InvalidWriteError);
        // Right after the snapshot is the lowest place a conflicting suffix can start.
        await storage.write({ hardState: hs(4, null, 10), entries: entries(8, 9, 4) });
        await check({ hardState: hs(4, null, 10), snapshot: snap(7, 3), firstIndex: 6, log: [...entries(6, 7, 3), ...entries(8, 9, 4)], boundaryTerm: 3 });
      });

      it('then a truncation at the first index replaces everything after the purge point', async () => {
        await storage.purge(6, snap(6, 3));
        await storage.write({ hardState: hs(5, null, 6), entries: entries(7, 7, 5) });
        await check({ hardState: hs(5, null, 6), snapshot: snap(6, 3), firstIndex: 7, log: entries(7, 7, 5), boundaryTerm: 3 });
      });
    });

    describe('installSnapshot', () => {
      it('replaces the whole log, ahead of the last index', async () => {
        await storage.write({ hardState: hs(2, 'n1', 3), entries: entries(1, 5, 2) });
        await storage.installSnapshot(snap(20, 4));
        await check({ hardState: hs(2, 'n1', 3), snapshot: snap(20, 4), firstIndex: 21, log: [], boundaryTerm: 4 });
        expect(storage.lastIndex()).toBe(20);
        expect(await storage.term(20)).toBe(4);
        await expect(storage.term(19)).rejects.toBeInstanceOf(CompactedError);
      });

      it('replaces the whole log, behind the last index (a conflicting log is discarded too)', async () => {
        await storage.write({ hardState: null, entries: entries(1, 10, 2) });
        await storage.installSnapshot(snap(5, 3));
        await check({ hardState: hs(0, null, 0), snapshot: snap(5, 3), firstIndex: 6, log: [], boundaryTerm: 3 });
      });

      it('on an empty log; the log then continues at index + 1 and nowhere else', async () => {
        await storage.installSnapshot(snap(7, 2));
        await expect(storage.write({ hardState: null, entries: [entry(7, 2)] })).rejects.toBeInstanceOf(CompactedError);
        await expect(storage.write({ hardState: null, entries: [entry(9, 2)] })).rejects.toBeInstanceOf(InvalidWriteError);
        await expect(storage.write({ hardState: null, entries: [entry(8, 1)] })).rejects.toBeInstanceOf(InvalidWriteError);
        await storage.write({ hardState: null, entries: entries(8, 9, 2) });
        await check({ hardState: hs(0, null, 0), snapshot: snap(7, 2), firstIndex: 8, log: entries(8, 9, 2), boundaryTerm: 2 });
      });

      it('refuses a snapshot older than the recorded one, accepts the same one again', async () => {
        await storage.installSnapshot(snap(7, 2));
        await expect(storage.installSnapshot(snap(6, 2))).rejects.toBeInstanceOf(InvalidWriteError);
        await storage.write({ hardState: null, entries: entries(8, 9, 2) });
        await storage.installSnapshot(snap(7, 2));
        await check({ hardState: hs(0, null, 0), snapshot: snap(7, 2), firstIndex: 8, log: [], boundaryTerm: 2 });
      });
    });

    describe('serialized writes', () => {
      it('resolves concurrent writes in call order, each seeing the previous ones', async () => {
        const order: number[] = [];
        const pending: Promise<void>[] = [];
        for (let i = 1; i <= 60; i++) {
          const write = storage.write({ hardState: i % 10 === 0 ? hs(i, null, i - 1) : null, entries: entries(i, i, Math.ceil(i / 10) * 10) });
          pending.push(write.then(() => void order.push(i)));
        }
        await Promise.all(pending);
        expect(order).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
        const log = Array.from({ length: 60 }, (_, i) => entry(i + 1, Math.ceil((i + 1) / 10) * 10));
        await check({ hardState: hs(60, null, 59), snapshot: null, firstIndex: 1, log, boundaryTerm: 0 });
      });

      it('applies a mix of writes, purges, truncations and installs issued without waiting, in order', async () => {
        const done = await Promise.all([
          storage.write({ hardState: hs(1, 'n1', 0), entries: entries(1, 8, 1) }),
          storage.purge(3, snap(4, 1)),
          storage.write({ hardState: hs(2, null, 4), entries: entries(6, 7, 2) }),
          storage.installSnapshot(snap(12, 2)),
          storage.write({ hardState: null, entries: entries(13, 15, 2) }),
          storage.purge(13, snap(14, 2)),
          storage.write({ hardState: hs(3, 'n3', 14), entries: entries(15, 16, 3) }),
        ]);
        expect(done).toHaveLength(7);
        await check({ hardState: hs(3, 'n3', 14), snapshot: snap(14, 2), firstIndex: 14, log: [entry(14, 2), ...entries(15, 16, 3)], boundaryTerm: 2 });
      });

      it('rejects only the invalid write among concurrent ones', async () => {
        const results = await Promise.allSettled([
          storage.write({ hardState: null, entries: entries(1, 2, 1) }),
          storage.write({ hardState: null, entries: entries(4, 5, 1) }),
          storage.write({ hardState: null, entries: entries(3, 4, 1) }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidWriteError);
        await check({ hardState: hs(0, null, 0), snapshot: null, firstIndex: 1, log: entries(1, 4, 1), boundaryTerm: 0 });
      });
    });

    describe('close', () => {
      it('waits for queued writes, then refuses work with ClosedError', async () => {
        const writes = [1, 2, 3].map((i) => storage.write({ hardState: null, entries: [entry(i, 1)] }));
        await storage.close();
        await Promise.all(writes);
        await expect(storage.write({ hardState: null, entries: [entry(4, 1)] })).rejects.toBeInstanceOf(ClosedError);
        await expect(storage.entries(1, 2)).rejects.toBeInstanceOf(ClosedError);
        await expect(storage.load()).rejects.toBeInstanceOf(ClosedError);
        if (harness.reopen) {
          storage = await harness.reopen();
          expect(await storage.entries(1, 4)).toEqual(entries(1, 3, 1));
        }
      });
    });

    describe('against a reference model', () => {
      it('matches a naive array model over 300 random operations', async () => {
        const seed = Number(process.env.STORAGE_SEED ?? 20240611);
        const rng = seededRng(seed);
        const model = new ModelLog();
        for (let step = 0; step < 300; step++) {
          const op = model.randomOp(rng);
          const label = `seed ${seed} step ${step}: ${JSON.stringify(op)}`;
          switch (op.kind) {
            case 'write':
              await storage.write({ hardState: op.hardState, entries: op.entries });
              break;
            case 'purge':
              await storage.purge(op.through, op.snapshot);
              break;
            case 'install':
              await storage.installSnapshot(op.snapshot);
              break;
          }
          model.apply(op);
          if (step % 50 === 49 && harness.reopen) storage = await harness.reopen();
          await expectState(storage, model.expected(), label);
        }
      });
    });
  });
}

async function expectState(storage: LogStorage, expected: Expected, label = ''): Promise<void> {
  const lastIndex = expected.firstIndex + expected.log.length - 1;
  expect(storage.firstIndex(), `${label} firstIndex`).toBe(expected.firstIndex);
  expect(storage.lastIndex(), `${label} lastIndex`).toBe(lastIndex);
  const loaded = await storage.load();
  const after = expected.snapshot?.index ?? 0;
  expect({ ...loaded, entries: comparable(loaded.entries) }, label).toEqual({
    hardState: expected.hardState,
    snapshot: expected.snapshot,
    entries: comparable(expected.log.filter((e) => e.index > after)),
  });
  for (const e of loaded.entries) expect(e.data, label).toBeInstanceOf(Uint8Array);
  expect(comparable(await storage.entries(expected.firstIndex, lastIndex + 1)), label).toEqual(comparable(expected.log));
  expect(await storage.term(expected.firstIndex - 1), `${label} boundary term`).toBe(expected.boundaryTerm);
  for (const e of expected.log) expect(await storage.term(e.index), `${label} term(${e.index})`).toBe(e.term);
  if (expected.snapshot) expect(await storage.term(expected.snapshot.index)).toBe(expected.snapshot.term);
  await expect(storage.term(lastIndex + 1)).rejects.toBeInstanceOf(UnavailableError);
  if (expected.firstIndex > 1) await expect(storage.term(expected.firstIndex - 2)).rejects.toBeInstanceOf(CompactedError);
}

/** Entries with their bytes as base64: deep equality on large Uint8Arrays is very slow in Vitest. */
export function comparable(list: Entry[]): { index: number; term: number; kind: EntryKind; data: string }[] {
  return list.map((e) => ({ index: e.index, term: e.term, kind: e.kind, data: Buffer.from(e.data).toString('base64') }));
}

type ModelOp =
  | { kind: 'write'; hardState: HardState | null; entries: Entry[] }
  | { kind: 'purge'; through: number; snapshot: SnapshotMeta }
  | { kind: 'install'; snapshot: SnapshotMeta };

/** The obvious implementation: an array of entries and a few fields. Generates only valid ops. */
class ModelLog {
  hardState = hs(0, null, 0);
  snapshot: SnapshotMeta | null = null;
  firstIndex = 1;
  boundaryTerm = 0;
  log: Entry[] = [];

  get lastIndex(): number {
    return this.firstIndex + this.log.length - 1;
  }

  termAt(index: number): number {
    return index === this.firstIndex - 1 ? this.boundaryTerm : this.log[index - this.firstIndex]!.term;
  }

  randomOp(rng: ReturnType<typeof seededRng>): ModelOp {
    const roll = rng.next();
    const term = Math.max(1, this.hardState.term);
    if (roll < 0.5) {
      const n = rng.int(0, 6);
      const hardState = rng.next() < 0.3 ? hs(term, this.hardState.vote, rng.int(0, this.lastIndex + 1)) : null;
      return { kind: 'write', hardState, entries: this.makeEntries(this.lastIndex + 1, n, Math.max(term, this.termAt(this.lastIndex))) };
    }
    if (roll < 0.7) {
      // New term, maybe truncating: only after the snapshot, with a term above everything.
      const newTerm = Math.max(this.hardState.term, this.termAt(this.lastIndex)) + 1;
      const low = Math.max(this.firstIndex, (this.snapshot?.index ?? 0) + 1);
      const from = rng.int(low, this.lastIndex + 2);
      const vote = rng.next() < 0.5 ? `n${rng.int(1, 4)}` : null;
      return { kind: 'write', hardState: hs(newTerm, vote, this.hardState.commit), entries: this.makeEntries(from, rng.int(0, 5), newTerm) };
    }
    if (roll < 0.9 && this.lastIndex >= 1) {
      const snapLow = Math.max(this.snapshot?.index ?? 0, this.firstIndex - 1, 1);
      if (snapLow <= this.lastIndex) {
        const at = rng.int(snapLow, this.lastIndex + 1);
        const through = rng.int(Math.max(0, this.firstIndex - 3), at + 1);
        return { kind: 'purge', through, snapshot: snap(at, this.termAt(at)) };
      }
    }
    const at = rng.int(Math.max(this.snapshot?.index ?? 0, 1), this.lastIndex + 8);
    return { kind: 'install', snapshot: snap(at, Math.max(term, this.termAt(Math.min(at, this.lastIndex)))) };
  }

  private makeEntries(from: number, n: number, term: number): Entry[] {
    return Array.from({ length: n }, (_, i) => entry(from + i, term, i % 3 === 2 ? 'blank' : 'normal'));
  }

  apply(op: ModelOp): void {
    switch (op.kind) {
      case 'write':
        if (op.hardState) this.hardState = op.hardState;
        if (op.entries.length > 0) {
          this.log = this.log.slice(0, op.entries[0]!.index - this.firstIndex);
          this.log.push(...op.entries);
        }
        return;
      case 'purge': {
        this.snapshot = op.snapshot;
        if (op.through >= this.firstIndex) {
          this.boundaryTerm = this.termAt(op.through);
          this.log = this.log.slice(op.through - this.firstIndex + 1);
          this.firstIndex = op.through + 1;
        }
        return;
      }
      case 'install':
        this.snapshot = op.snapshot;
        this.log = [];
        this.firstIndex = op.snapshot.index + 1;
        this.boundaryTerm = op.snapshot.term;
        return;
    }
  }

  expected(): Expected {
    return { hardState: this.hardState, snapshot: this.snapshot, firstIndex: this.firstIndex, log: this.log, boundaryTerm: this.boundaryTerm };
  }
}
