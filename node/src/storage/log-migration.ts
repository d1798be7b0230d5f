// Data format 1 -> 2: the Raft log moves from LevelDB (<dir>/log, level-log-storage.ts) to the
// write-ahead log (<dir>/wal, wal-log-storage.ts). Run by DataDir.open when it meets a format-1
// directory (data-dir.ts, DATA_DIR_MIGRATIONS), before anything else reads the log.
//
// The copy is built in <dir>/wal.migrating and renamed to <dir>/wal once it is whole and durable;
// only then is <dir>/log deleted. A crash at any point leaves either the old log (the copy is
// started again) or the finished copy (the old log's leftovers are deleted), never a half of each.
import { stat, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from './durable-fs.js';
import { LevelLogStorage } from './level-log-storage.js';
import { createWalAfter, WalLogStorage } from './wal-log-storage.js';

/** Entries are copied in slices of about this many bytes, so that memory stays bounded. */
const SLICE_BYTES = 8 * 1024 * 1024;

export async function migrateLevelLogToWal(path: string): Promise<void> {
  const levelDir = join(path, 'log');
  const walDir = join(path, 'wal');
  const temp = join(path, 'wal.migrating');
  if (await exists(walDir)) {
    await rm(levelDir, { recursive: true, force: true });
    return;
  }
  await rm(temp, { recursive: true, force: true });
  if (!(await exists(levelDir))) return;

  const level = await LevelLogStorage.open(levelDir);
  try {
    const first = level.firstIndex();
    const last = level.lastIndex();
    const { hardState, snapshot } = await level.load();
    await createWalAfter(temp, { index: first - 1, term: await level.term(first - 1) });
    const wal = await WalLogStorage.open(temp);
    try {
      for (let lo = first; lo <= last; ) {
        const slice = await level.entries(lo, last + 1, SLICE_BYTES);
        await wal.write({ hardState: null, entries: slice });
        lo += slice.length;
      }
      await wal.write({ hardState, entries: [] });
      if (snapshot !== null) await wal.purge(first - 1, snapshot);
    } finally {
      await wal.close();
    }
  } finally {
    await level.close();
  }
  await rename(temp, walDir);
  await fsyncDir(path);
  await rm(levelDir, { recursive: true, force: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
