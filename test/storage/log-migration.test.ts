// Data format 1 -> 2: a format-1 directory (LevelDB log in <dir>/log) is opened by this binary,
// its log copied into the WAL (<dir>/wal) exactly, and the old log removed; a crash at each step
// of the copy leaves something the next open finishes.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDir, DATA_DIR_FORMAT, META_FILE } from '../../node/src/storage/data-dir.js';
import { crc32c } from '../../node/src/storage/crc32c.js';
import { LevelLogStorage } from '../../node/src/storage/level-log-storage.js';
import { migrateLevelLogToWal } from '../../node/src/storage/log-migration.js';
import { openNodeStorage } from '../../node/src/storage/node-storage.js';
import { SnapshotStore } from '../../node/src/storage/snapshot-store.js';
import { WalLogStorage } from '../../node/src/storage/wal-log-storage.js';
import type { LogStorage } from '../../node/src/storage/log-storage.js';
import { comparable, entries, snap } from '../conformance/log-storage.case.js';
import { chunked, snapshotBytes, snapshotMeta } from './fixtures.js';

interface Observed {
  first: number;
  last: number;
  boundaryTerm: number;
  state: unknown;
  all: unknown;
}

async function observe(log: LogStorage): Promise<Observed> {
  const first = log.firstIndex();
  const last = log.lastIndex();
  const state = await log.load();
  return {
    first,
    last,
    boundaryTerm: await log.term(first - 1),
    state: { ...state, entries: comparable(state.entries) },
    all: comparable(await log.entries(first, last + 1)),
  };
}

async function observeWal(dir: string): Promise<Observed> {
  const wal = await WalLogStorage.open(dir);
  try {
    return await observe(wal);
  } finally {
    await wal.close();
  }
}

/** A format-1 data directory as Conflux 1.x left it: meta file and a LevelDB log. */
async function formatOneDir(dir: string): Promise<Observed> {
  await mkdir(dir, { recursive: true });
  const meta = { formatVersion: 1, clusterId: 'c-1', incarnation: '0b7a4bde-4a43-4c1e-9d35-0d3f1f0d7e11' };
  const checksum = crc32c(new TextEncoder().encode(JSON.stringify([meta.formatVersion, meta.clusterId, meta.incarnation])));
  await writeFile(join(dir, META_FILE), JSON.stringify({ ...meta, checksum }));
  const level = await LevelLogStorage.open(join(dir, 'log'));
  await level.write({ hardState: { term: 2, vote: 'n1', commit: 30 }, entries: entries(1, 20, 1) });
  await level.write({ hardState: null, entries: entries(21, 40, 2) });
  // Entries 26..30 stay below the snapshot at 30, for followers that lag a little.
  await level.purge(25, snap(30, 2));
  const before = await observe(level);
  await level.close();
  return before;
}

describe('data format 1 -> 2: the LevelDB log becomes the WAL', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'conflux-migrate-'));
    dir = join(root, 'data');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('copies hard state, boundary, snapshot meta and every entry, then removes the old log', async () => {
    const before = await formatOneDir(dir);
    const opened = await DataDir.open(dir, { clusterId: 'c-1' });
    expect(opened.formatVersion).toBe(DATA_DIR_FORMAT);
    expect(DATA_DIR_FORMAT).toBe(2);
    expect((await readdir(dir)).sort()).toEqual([META_FILE, 'wal']);
    expect(JSON.parse(await readFile(join(dir, META_FILE), 'utf8'))).toMatchObject({ formatVersion: 2, clusterId: 'c-1' });
    const wal = await WalLogStorage.open(opened.logDir);
    try {
      expect(await observe(wal)).toEqual(before);
      expect(before.first).toBe(26);
      // The copy is a working log: it goes on where the old one stopped.
      await wal.write({ hardState: null, entries: entries(41, 42, 2) });
      expect(wal.lastIndex()).toBe(42);
    } finally {
      await wal.close();
    }
  });

  it('a node opening a format-1 directory starts from the same log', async () => {
    const before = await formatOneDir(dir);
    const snapshots = await SnapshotStore.open(join(dir, 'snapshots'));
    await snapshots.save(snapshotMeta(30, 2), chunked(snapshotBytes(100, 1), [50]));
    await snapshots.close();
    const storage = await openNodeStorage(dir, { clusterId: 'c-1' });
    try {
      expect(storage.dataDir.formatVersion).toBe(2);
      expect({ ...storage.initial, entries: comparable(storage.initial.entries) }).toEqual(before.state);
      expect(storage.log.firstIndex()).toBe(before.first);
    } finally {
      await storage.close();
    }
  });

  it('starts the copy again when a crash left a half-built one', async () => {
    const before = await formatOneDir(dir);
    await mkdir(join(dir, 'wal.migrating'));
    await writeFile(join(dir, 'wal.migrating', 'garbage'), 'half a copy');
    await migrateLevelLogToWal(dir);
    expect((await readdir(dir)).sort()).toEqual([META_FILE, 'wal']);
    expect(await observeWal(join(dir, 'wal'))).toEqual(before);
  });

  it('only removes the old log when a crash came after the copy was published', async () => {
    const before = await formatOneDir(dir);
    await migrateLevelLogToWal(dir);
    // As if the crash came between the rename and the removal: put an old log back.
    const stale = await LevelLogStorage.open(join(dir, 'log'));
    await stale.write({ hardState: { term: 9, vote: null, commit: 0 }, entries: entries(1, 3, 9) });
    await stale.close();
    await migrateLevelLogToWal(dir);
    expect((await readdir(dir)).sort()).toEqual([META_FILE, 'wal']);
    expect(await observeWal(join(dir, 'wal'))).toEqual(before);
  });

  it('leaves a format-1 directory without a log with no log (a node that never wrote)', async () => {
    await mkdir(dir, { recursive: true });
    await migrateLevelLogToWal(dir);
    expect(await readdir(dir)).toEqual([]);
  });
});
