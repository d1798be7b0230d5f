// `conflux-node --restore FILE`: initialise an empty data directory from a backup, as a new
// one-voter cluster (a new cluster id, so restored nodes never mix with the cluster the backup came
// from). More nodes are added the ordinary way (members add + promote): they start empty and
// receive the restored state as a Raft snapshot. See docs/runbooks.md, "Restore".
//
// Steps, each durable before the next:
//   1. verify the whole file (SHA-256, frames) and decode the image (every store invariant);
//      nothing is created before this passed
//   2. create the directory's meta (new cluster id, new incarnation) and the marker
//      conflux-restore.json {state: "started"}
//   3. publish the image as the node's snapshot (index and term of the backup; membership: this
//      node as the only voter), record it in the log, hard state {term, commit: index}
//   4. marker {state: "done"}
// A crash before 4 leaves a "started" marker: the next start with --restore wipes the directory
// (everything in it is ours) and starts over; a start without --restore refuses. A start with
// --restore on a directory restored from the same backup resumes normally (a pod restarting with
// the same arguments); any other non-empty directory is refused.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Membership, SnapshotMeta } from '../raft/types.js';
import { BACKUP_END_MAGIC, BACKUP_TRAILER_BYTES, BackupFormatError, type BackupSummary } from '../store/backup-format.js';
import { decodeImage } from '../store/snapshot-reader.js';
import { backupImageChunks, inspectBackupFile } from './backup-file.js';
import { DataDir } from './data-dir.js';
import { writeFileDurable } from './durable-fs.js';
import { DataDirError } from './errors.js';
import { WalLogStorage } from './wal-log-storage.js';
import { SnapshotStore } from './snapshot-store.js';

export const RESTORE_MARKER = 'conflux-restore.json';

export interface RestoreMarker {
  state: 'started' | 'done';
  /** SHA-256 of the backup (its trailer). */
  backupSha256: string;
  clusterId: string;
  /** The cluster the backup was taken from. */
  fromClusterId: string;
  revision: number;
  index: number;
  restoredAt: string;
}

export type RestoreErrorCode = 'restore_target_not_empty' | 'restore_other_backup';

/** The target directory cannot be restored into. (A bad file is a BackupFormatError / BackupFileError.) */
export class RestoreError extends Error {
  constructor(
    readonly code: RestoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RestoreError';
  }
}

export interface RestoreOptions {
  /** The data directory (created if missing; must be empty). */
  path: string;
  backupFile: string;
  self: { id: string; peerURL: string; clientURL: string };
  /** Default: 8 random bytes in hex, like a bootstrap. */
  newClusterId?: () => string;
}

export type RestoreOutcome =
  | { kind: 'restored'; clusterId: string; summary: BackupSummary }
  | { kind: 'already-restored'; clusterId: string; marker: RestoreMarker };

export async function restoreDataDir(o: RestoreOptions): Promise<RestoreOutcome> {
  const names = await listDir(o.path);
  if (names.includes(RESTORE_MARKER)) {
    const marker = await readMarker(o.path);
    if (marker.state === 'done') {
      const sha = await trailerSha256(o.backupFile);
      // A missing file is fine: the directory holds the restored data already.
      if (sha === null || sha === marker.backupSha256) return { kind: 'already-restored', clusterId: marker.clusterId, marker };
      throw new RestoreError(
        'restore_other_backup',
        `data directory ${o.path} was restored from another backup (sha256 ${marker.backupSha256}, not ${sha}); ` +
          'to restore this one, start with an empty directory',
      );
    }
    // An interrupted restore: everything in the directory was written by it.
    for (const name of names) await rm(join(o.path, name), { recursive: true, force: true });
  } else if (names.length > 0) {
    throw new RestoreError(
      'restore_target_not_empty',
      `data directory ${o.path} is not empty (it holds ${names.slice(0, 5).join(', ')}): --restore only initialises an empty directory; ` +
        'move the old one away first (or start without --restore to keep it)',
    );
  }

  const summary = await inspectBackupFile(o.backupFile);
  const { header } = summary;
  // Every real cluster has applied its first configuration entry: index 0 is a hand-made file.
  if (header.index < 1 || header.term < 1) throw new BackupFormatError('backup_corrupt', `the backup is at Raft index ${header.index}, term ${header.term}: not taken from a running cluster`);
  // Every item and invariant, before anything is created (the image is decoded again at start).
  await decodeImage({ index: header.index, term: header.term }, backupImageChunks(o.backupFile, summary));

  const clusterId = (o.newClusterId ?? (() => randomBytes(8).toString('hex')))();
  const dir = await DataDir.open(o.path, { clusterId });
  const marker: RestoreMarker = {
    state: 'started',
    backupSha256: summary.sha256,
    clusterId,
    fromClusterId: header.clusterId,
    revision: header.revision,
    index: header.index,
    restoredAt: new Date().toISOString(),
  };
  await writeMarker(o.path, marker);

  const membership: Membership = {
    members: [{ id: o.self.id, incarnation: dir.incarnation, role: 'voter', peerURL: o.self.peerURL, clientURL: o.self.clientURL }],
  };
  const meta: SnapshotMeta = { index: header.index, term: header.term, membership };
  const snapshots = await SnapshotStore.open(dir.snapshotDir);
  try {
    await snapshots.save(meta, backupImageChunks(o.backupFile, summary));
  } finally {
    await snapshots.close();
  }
  const log = await WalLogStorage.open(dir.logDir);
  try {
    await log.installSnapshot(meta);
    await log.write({ hardState: { term: header.term, vote: null, commit: header.index }, entries: [] });
  } finally {
    await log.close();
  }
  await writeMarker(o.path, { ...marker, state: 'done' });
  return { kind: 'restored', clusterId, summary };
}

/**
 * Rejects with DataDirError (recovery_unfinished) when a restore into `path` was interrupted: the
 * node must not start on half a restore (it would look like a fresh node waiting to be added).
 */
export async function assertNoUnfinishedRestore(path: string): Promise<void> {
  if (!(await listDir(path)).includes(RESTORE_MARKER)) return;
  if ((await readMarker(path)).state === 'started') {
    throw new DataDirError(path, 'recovery_unfinished', 'a restore into this directory was interrupted; start again with the same --restore FILE (it starts over), or empty the directory');
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function readMarker(path: string): Promise<RestoreMarker> {
  const text = await readFile(join(path, RESTORE_MARKER), 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = null;
  }
  const m = raw as Partial<RestoreMarker> | null;
  if (m === null || (m.state !== 'started' && m.state !== 'done') || typeof m.backupSha256 !== 'string' || typeof m.clusterId !== 'string') {
    throw new DataDirError(path, 'recovery_unfinished', `${RESTORE_MARKER} is damaged; the directory's restore cannot be trusted: empty it and restore again`);
  }
  return m as RestoreMarker;
}

async function writeMarker(path: string, marker: RestoreMarker): Promise<void> {
  await writeFileDurable(join(path, RESTORE_MARKER), new TextEncoder().encode(`${JSON.stringify(marker, null, 2)}\n`));
}

/** The SHA-256 a backup's trailer states (unverified: only to recognise a file), or null if unreadable. */
async function trailerSha256(file: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = (await handle.stat()).size;
    if (size < BACKUP_TRAILER_BYTES) return '(not a backup)';
    const b = Buffer.alloc(BACKUP_TRAILER_BYTES);
    await handle.read(b, 0, BACKUP_TRAILER_BYTES, size - BACKUP_TRAILER_BYTES);
    if (!BACKUP_END_MAGIC.every((x, i) => b[i] === x)) return '(not a backup)';
    return b.subarray(BACKUP_END_MAGIC.length).toString('hex');
  } finally {
    await handle.close();
  }
}
