import { readdir, readFile, rm, truncate, writeFile, appendFile, mkdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CompactedError, CorruptionError, DataDirError, StorageFailedError, UnavailableError } from '../../node/src/storage/errors.js';
import { encodeRecord } from '../../node/src/storage/level-records.js';
import { encodeFrame, RECORD_STATE, segmentName, WAL_FORMAT } from '../../node/src/storage/wal-format.js';
import { WalLogStorage } from '../../node/src/storage/wal-log-storage.js';
import type { WalOptions } from '../../node/src/storage/wal-log-storage.js';
import { comparable, entries, entry, runLogStorageSuite, snap } from '../conformance/log-storage.case.js';

function walSuite(name: string, options: WalOptions): void {
  runLogStorageSuite({
    name,
    create: async () => {
      const root = await mkdtemp(join(tmpdir(), 'conflux-wal-'));
      const dir = join(root, 'wal');
      let storage = await WalLogStorage.open(dir, options);
      return {
        storage,
        reopen: async () => {
          await storage.close();
          storage = await WalLogStorage.open(dir, options);
          return storage;
        },
        cleanup: async () => {
          await storage.close().catch(() => undefined);
          await rm(root, { recursive: true, force: true });
        },
      };
    },
  });
}

walSuite('WalLogStorage', {});
// Segments of a few hundred bytes: nearly every flush starts a segment and every purge drops some,
// so the whole suite also runs across segment boundaries.
walSuite('WalLogStorage, tiny segments', { segmentBytes: 300 });

const segmentsIn = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();

describe('WalLogStorage specifics', () => {
  let root: string;
  let dir: string;
  let storage: WalLogStorage | null = null;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-wal-'));
    dir = join(root, 'wal');
  });

  afterEach(async () => {
    await storage?.close().catch(() => undefined);
    storage = null;
    await rm(root, { recursive: true, force: true });
  });

  async function reopen(options: WalOptions = {}): Promise<WalLogStorage> {
    await storage?.close();
    storage = await WalLogStorage.open(dir, options);
    return storage;
  }

  it('group-commits concurrent writes: 200 writes issued together take a handful of fsyncs', async () => {
    const s = await reopen();
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.write({ hardState: null, entries: [entry(i + 1, 1)] })));
    expect(s.stats().mutations).toBe(200);
    expect(s.stats().flushes).toBeLessThanOrEqual(2);
    expect(s.lastIndex()).toBe(200);
  });

  it('starts new segments as they fill and deletes the old ones once a purge covers them', async () => {
    const s = await reopen({ segmentBytes: 2048 });
    for (let i = 1; i <= 300; i += 10) await s.write({ hardState: null, entries: entries(i, i + 9, 1) });
    const before = await segmentsIn(dir);
    expect(before.length).toBeGreaterThan(5);
    await s.purge(250, snap(250, 1));
    const after = await segmentsIn(dir);
    expect(after.length).toBeLessThan(before.length);
    // The oldest kept segment still holds entry 251 or starts after it: nothing live was deleted.
    const r = await reopen({ segmentBytes: 2048 });
    expect(r.firstIndex()).toBe(251);
    expect(comparable(await r.entries(251, 301))).toEqual(comparable(entries(251, 300, 1)));
    expect(await r.term(250)).toBe(1);
    await expect(r.entries(250, 251)).rejects.toBeInstanceOf(CompactedError);
  });

  it('drops every older segment after installSnapshot, and continues after it', async () => {
    const s = await reopen({ segmentBytes: 512 });
    for (let i = 1; i <= 100; i += 10) await s.write({ hardState: null, entries: entries(i, i + 9, 1) });
    await s.installSnapshot(snap(500, 3));
    await s.write({ hardState: { term: 3, vote: null, commit: 500 }, entries: entries(501, 510, 3) });
    expect((await segmentsIn(dir)).length).toBeLessThanOrEqual(2);
    const r = await reopen({ segmentBytes: 512 });
    const loaded = await r.load();
    expect(loaded.snapshot?.index).toBe(500);
    expect(comparable(loaded.entries)).toEqual(comparable(entries(501, 510, 3)));
  });

  it('keeps a truncated suffix out after reopening, across segments', async () => {
    const s = await reopen({ segmentBytes: 256 });
    await s.write({ hardState: null, entries: entries(1, 20, 1) });
    await s.write({ hardState: null, entries: entries(21, 40, 1) });
    await s.write({ hardState: { term: 2, vote: 'n2', commit: 0 }, entries: entries(15, 18, 2) });
    const r = await reopen({ segmentBytes: 256 });
    expect(r.lastIndex()).toBe(18);
    expect(comparable(await r.entries(1, 19))).toEqual(comparable([...entries(1, 14, 1), ...entries(15, 18, 2)]));
    await expect(r.entries(19, 20)).rejects.toBeInstanceOf(UnavailableError);
  });

  it('cuts a torn last frame (a write that never returned) and keeps everything before it', async () => {
    const s = await reopen();
    await s.write({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 5, 1) });
    await s.write({ hardState: null, entries: entries(6, 8, 1) });
    await s.close();
    storage = null;
    const [name] = await segmentsIn(dir);
    const path = join(dir, name!);
    const size = (await stat(path)).size;
    await truncate(path, size - 7); // the last frame loses its tail
    const r = await reopen();
    expect(r.lastIndex()).toBe(5);
    expect((await stat(path)).size).toBeLessThan(size - 7);
    // The log goes on from there, and survives another reopen.
    await r.write({ hardState: null, entries: entries(6, 7, 1) });
    const again = await reopen();
    expect(comparable((await again.load()).entries)).toEqual(comparable(entries(1, 7, 1)));
    expect((await again.load()).hardState).toEqual({ term: 1, vote: 'n1', commit: 0 });
  });

  it('cuts a last frame whose payload is damaged: a torn write can lose any of its sectors', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: entries(1, 3, 1) });
    await s.write({ hardState: null, entries: [entry(4, 1, 'normal', new TextEncoder().encode('last-frame-payload'))] });
    await s.close();
    storage = null;
    const [name] = await segmentsIn(dir);
    const path = join(dir, name!);
    const bytes = await readFile(path);
    bytes[bytes.indexOf('last-frame-payload')] ^= 0x01;
    await writeFile(path, bytes);
    const r = await reopen();
    expect(r.lastIndex()).toBe(3);
  });

  it('treats garbage after the last frame as a torn write', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: entries(1, 3, 1) });
    await s.close();
    storage = null;
    const [name] = await segmentsIn(dir);
    await appendFile(join(dir, name!), Buffer.from([0, 0, 1, 0, 9, 9, 9]));
    const r = await reopen();
    expect(r.lastIndex()).toBe(3);
  });

  it('refuses to open when an acknowledged frame in the middle is damaged', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: [entry(1, 1, 'normal', new TextEncoder().encode('first-entry-payload'))] });
    await s.write({ hardState: null, entries: entries(2, 4, 1) });
    await s.close();
    storage = null;
    const [name] = await segmentsIn(dir);
    const path = join(dir, name!);
    const bytes = await readFile(path);
    const at = bytes.indexOf('first-entry-payload');
    bytes[at] ^= 0xff;
    await writeFile(path, bytes);
    const err = await WalLogStorage.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toMatch(/checksum/);
  });

  it('refuses a damaged frame that a good frame follows, even in the newest segment', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: entries(1, 2, 1) });
    await s.write({ hardState: null, entries: entries(3, 4, 1) });
    await s.close();
    storage = null;
    const [name] = await segmentsIn(dir);
    const path = join(dir, name!);
    const bytes = await readFile(path);
    const at = bytes.indexOf('e1t1');
    // Break the frame checksum's coverage (the entry header's term field) of the first data frame.
    bytes[at - 10] ^= 0x01;
    await writeFile(path, bytes);
    await expect(WalLogStorage.open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('refuses a log whose middle segment is gone', async () => {
    const s = await reopen({ segmentBytes: 256 });
    for (let i = 1; i <= 60; i += 5) await s.write({ hardState: null, entries: entries(i, i + 4, 1) });
    await s.close();
    storage = null;
    const names = await segmentsIn(dir);
    expect(names.length).toBeGreaterThan(3);
    await rm(join(dir, names[1]!));
    await expect(WalLogStorage.open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('refuses an empty segment file (segments are only ever created whole)', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: entries(1, 2, 1) });
    await s.close();
    storage = null;
    await writeFile(join(dir, segmentName(2)), new Uint8Array(0));
    const err = await WalLogStorage.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toMatch(/empty/);
  });

  it('refuses a log written by a newer format', async () => {
    const state = { v: WAL_FORMAT + 1, hardState: { term: 0, vote: null, commit: 0 }, boundary: { index: 0, term: 0 }, snapshot: null, lastIndex: 0, lastTerm: 0 };
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, segmentName(1)), encodeFrame([{ type: RECORD_STATE, body: encodeRecord(state as never) }]).bytes);
    const err = await WalLogStorage.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirError);
    expect((err as Error).message).toMatch(/newer/);
  });

  it('removes a segment left half-created by a crash (its temp file)', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: entries(1, 2, 1) });
    await s.close();
    storage = null;
    await writeFile(join(dir, `${segmentName(2)}.tmp`), Buffer.from('partial'));
    const r = await reopen();
    expect(r.lastIndex()).toBe(2);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('stops for good after a failed flush: that write, queued ones and later ones all reject', async () => {
    const s = await reopen();
    await s.write({ hardState: null, entries: [entry(1, 1)] });
    // Pull the file out from under the storage, as a failing disk would.
    const segments = (s as unknown as { segments: { handle: { close(): Promise<void> } }[] }).segments;
    await segments[0]!.handle.close();
    const failing = s.write({ hardState: null, entries: [entry(2, 1)] });
    const queued = s.write({ hardState: null, entries: [entry(3, 1)] });
    await expect(failing).rejects.toBeInstanceOf(StorageFailedError);
    await expect(queued).rejects.toBeInstanceOf(StorageFailedError);
    const later = await s.write({ hardState: null, entries: [entry(2, 1)] }).catch((e: unknown) => e);
    expect(later).toBeInstanceOf(StorageFailedError);
    expect((later as Error).message).toContain(dir);
    expect(s.lastIndex()).toBe(1);
    storage = null;
  });
});
