// Opens everything a node keeps on disk, in one call, and finishes what a crash interrupted.
//
// The driver must order snapshot steps like this (each step durable before the next):
//   local snapshot:     snapshots.save(meta, ...)         -> log.purge(through, meta)
//   received snapshot:  receiver.finish()                 -> log.installSnapshot(meta) -> restore
// A crash between the two leaves a snapshot newer than the one the log records. At open, that is
// resolved here: if the log holds the snapshot's last entry with the same term, the snapshot is
// only recorded (a local snapshot; nothing to discard); otherwise the log is replaced by it (an
// interrupted install: the old log may conflict with it). The reverse, a log that continues from a
// snapshot the store does not have, cannot be repaired and is refused.
import type { SnapshotMeta } from '../raft/types.js';
import { DataDir } from './data-dir.js';
import type { DataDirOptions } from './data-dir.js';
import { CorruptionError } from './errors.js';
import { WalLogStorage } from './wal-log-storage.js';
import type { LogState } from './log-storage.js';
import { SnapshotStore } from './snapshot-store.js';

export interface NodeStorage {
  dataDir: DataDir;
  log: WalLogStorage;
  snapshots: SnapshotStore;
  /** What the log holds after reconciliation; its snapshot is snapshots.latest()'s meta, or null. */
  initial: LogState;
  close(): Promise<void>;
}

/**
 * Opens the data directory at `path`, its log and its snapshots, and reconciles them.
 * Rejects with DataDirError / CorruptionError as DataDir.open, WalLogStorage.open and
 * SnapshotStore.open do, and with CorruptionError when the log needs a snapshot that is missing.
 */
export async function openNodeStorage(path: string, options: DataDirOptions = {}): Promise<NodeStorage> {
  const dataDir = await DataDir.open(path, options);
  const log = await WalLogStorage.open(dataDir.logDir);
  let snapshots: SnapshotStore | null = null;
  try {
    snapshots = await SnapshotStore.open(dataDir.snapshotDir);
    let initial = await log.load();
    if (await reconcile(dataDir.path, log, initial.snapshot, snapshots.latest()?.meta ?? null)) initial = await log.load();
    const opened = snapshots;
    return {
      dataDir,
      log,
      snapshots: opened,
      initial,
      close: async () => {
        await opened.close();
        await log.close();
      },
    };
  } catch (err) {
    await snapshots?.close().catch(() => undefined);
    await log.close().catch(() => undefined);
    throw err;
  }
}

/** Returns true when it changed the log. */
async function reconcile(dir: string, log: WalLogStorage, recorded: SnapshotMeta | null, stored: SnapshotMeta | null): Promise<boolean> {
  const recordedIndex = recorded?.index ?? 0;
  const storedIndex = stored?.index ?? 0;
  if (recorded !== null && (stored === null || storedIndex < recordedIndex || (storedIndex === recordedIndex && stored.term !== recorded.term))) {
    throw new CorruptionError(
      { dir },
      `the log continues from a snapshot at index ${recorded.index} (term ${recorded.term}) but the latest stored snapshot is ` +
        (stored === null ? 'none' : `at index ${stored.index} (term ${stored.term})`),
    );
  }
  if (stored === null || storedIndex === recordedIndex) return false;
  const holdsIt = stored.index <= log.lastIndex() && stored.index >= log.firstIndex() - 1 && (await log.term(stored.index)) === stored.term;
  if (holdsIt) await log.purge(log.firstIndex() - 1, stored);
  else await log.installSnapshot(stored);
  return true;
}
