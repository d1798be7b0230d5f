import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CompactedError, DataDirError, StorageFailedError, UnavailableError } from '../../node/src/storage/errors.js';
import { encodeRecord, LEVEL_FORMAT, STATE_KEY } from '../../node/src/storage/level-records.js';
import { LevelLogStorage } from '../../node/src/storage/level-log-storage.js';
import { entries, entry, runLogStorageSuite, snap } from '../conformance/log-storage.case.js';

runLogStorageSuite({
  name: 'LevelLogStorage',
  create: async () => {
    const root = await mkdtemp(join(tmpdir(), 'conflux-level-'));
    const dir = join(root, 'log');
    let storage = await LevelLogStorage.open(dir);
    return {
      storage,
      reopen: async () => {
        await storage.close();
        storage = await LevelLogStorage.open(dir);
        return storage;
      },
      cleanup: async () => {
        await storage.close().catch(() => undefined);
        await rm(root, { recursive: true, force: true });
      },
    };
  },
});

describe('LevelLogStorage specifics', () => {
  let root: string;
  let storage: LevelLogStorage | null = null;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-level-'));
  });

  afterEach(async () => {
    await storage?.close().catch(() => undefined);
    storage = null;
    await rm(root, { recursive: true, force: true });
  });

  it('group-commits concurrent writes: 200 writes issued together take a handful of fsyncs', async () => {
    storage = await LevelLogStorage.open(join(root, 'log'));
    await Promise.all(Array.from({ length: 200 }, (_, i) => storage!.write({ hardState: null, entries: [entry(i + 1, 1)] })));
    const { flushes, mutations } = storage.stats();
    expect(mutations).toBe(200);
    expect(flushes).toBeLessThanOrEqual(2);
    expect(storage.lastIndex()).toBe(200);
  });

  it('keeps writes issued while a flush is in flight in the next single flush', async () => {
    storage = await LevelLogStorage.open(join(root, 'log'));
    const first = storage.write({ hardState: null, entries: [entry(1, 1)] });
    await new Promise((resolve) => setImmediate(resolve));
    const rest = Array.from({ length: 50 }, (_, i) => storage!.write({ hardState: null, entries: [entry(i + 2, 1)] }));
    await Promise.all([first, ...rest]);
    expect(storage.stats()).toEqual({ flushes: 2, mutations: 51 });
  });

  it('never reports corruption for reads racing truncations and purges', async () => {
    storage = await LevelLogStorage.open(join(root, 'log'));
    const s = storage;
    await s.write({ hardState: null, entries: entries(1, 400, 1) });
    let term = 1;
    const readers = Array.from({ length: 4 }, async () => {
      for (let round = 0; round < 60; round++) {
        const lo = s.firstIndex();
        const hi = s.lastIndex() + 1;
        try {
          const got = await s.entries(lo, hi);
          // Each read is one consistent log: contiguous, terms never decreasing.
          got.forEach((e, i) => {
            expect(e.index).toBe(lo + i);
            if (i > 0) expect(e.term).toBeGreaterThanOrEqual(got[i - 1]!.term);
          });
        } catch (err) {
          // The log moved between reading the bounds and the read: an ordinary outcome.
          expect(err).toSatisfy((e: unknown) => e instanceof CompactedError || e instanceof UnavailableError);
        }
      }
    });
    const writer = (async () => {
      for (let round = 0; round < 30; round++) {
        term++;
        const from = Math.max(s.firstIndex() + 5, s.lastIndex() - 20);
        await s.write({ hardState: { term, vote: null, commit: 0 }, entries: entries(from, from + 10, term) });
        if (round % 5 === 4) await s.purge(s.firstIndex() + 3, snap(s.firstIndex() + 3, await s.term(s.firstIndex() + 3)));
      }
    })();
    await Promise.all([writer, ...readers]);
  });

  it('stops for good after a failed batch: that write, queued ones and later ones all reject', async () => {
    storage = await LevelLogStorage.open(join(root, 'log'));
    await storage.write({ hardState: null, entries: [entry(1, 1)] });
    // Pull the database out from under the storage, as a failing disk would.
    await (storage as unknown as { db: { close(): Promise<void> } }).db.close();
    const failing = storage.write({ hardState: null, entries: [entry(2, 1)] });
    const queued = storage.write({ hardState: null, entries: [entry(3, 1)] });
    await expect(failing).rejects.toBeInstanceOf(StorageFailedError);
    await expect(queued).rejects.toBeInstanceOf(StorageFailedError);
    const later = await storage.write({ hardState: null, entries: [entry(2, 1)] }).catch((e: unknown) => e);
    expect(later).toBeInstanceOf(StorageFailedError);
    expect((later as Error).message).toContain(join(root, 'log'));
    expect(storage.lastIndex()).toBe(1);
    storage = null;
  });

  it('refuses a log written by a newer format', async () => {
    const dir = join(root, 'log');
    storage = await LevelLogStorage.open(dir);
    await storage.write({ hardState: { term: 1, vote: null, commit: 0 }, entries: [entry(1, 1)] });
    await storage.close();
    storage = null;
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.put(STATE_KEY, encodeRecord({ v: LEVEL_FORMAT + 1, hardState: { term: 1, vote: null, commit: 0 }, firstIndex: 1, lastIndex: 1, lastTerm: 1 }));
    await db.close();
    const err = await LevelLogStorage.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirError);
    expect((err as Error).message).toMatch(/newer/);
  });
});
