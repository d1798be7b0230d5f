// Backup files on disk (format in ../store/backup-format.ts): written from a stream the way a
// snapshot is (a temp file `FILE.part`, fsync, rename, fsync of the directory, so FILE exists only
// complete and verified), checked by streaming them through the verifier, and read back as the
// store image a restore installs.
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { BackupVerifier, type BackupHeader, type BackupSummary } from '../store/backup-format.js';
import { fsyncDir } from './durable-fs.js';

export type BackupFileErrorCode = 'backup_unreadable' | 'backup_exists' | 'backup_write_failed';

/** The file could not be read or written (as opposed to BackupFormatError: bad content). */
export class BackupFileError extends Error {
  constructor(
    readonly code: BackupFileErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackupFileError';
  }
}

const READ_CHUNK_BYTES = 1 << 20;

/**
 * Reads the whole file through the verifier. Rejects with BackupFormatError when the content is
 * not a complete, intact backup, with BackupFileError when the file cannot be read.
 */
export async function inspectBackupFile(path: string): Promise<BackupSummary> {
  const verifier = new BackupVerifier();
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) verifier.push(chunk as Buffer);
  } catch (err) {
    if (isErrno(err)) throw new BackupFileError('backup_unreadable', `cannot read ${path}: ${err.code}`, { cause: err });
    throw err;
  }
  return verifier.end();
}

/** The store image of a verified backup (a byte range of the file). */
export async function* backupImageChunks(path: string, summary: BackupSummary): AsyncGenerator<Uint8Array, void, undefined> {
  if (summary.imageBytes === 0) return;
  const stream = createReadStream(path, { start: summary.imageOffset, end: summary.imageOffset + summary.imageBytes - 1, highWaterMark: READ_CHUNK_BYTES });
  for await (const chunk of stream) yield new Uint8Array((chunk as Buffer).buffer, (chunk as Buffer).byteOffset, (chunk as Buffer).byteLength);
}

export interface WriteBackupOptions {
  /** Called once, as soon as the header went by (before the rest is written). */
  onHeader?: (header: BackupHeader) => void;
  /**
   * false: refuse (backup_exists) when FILE exists. Default true: FILE is replaced, but only by a
   * complete, verified backup (the rename is the last step).
   */
  overwrite?: boolean;
}

/**
 * Writes a backup stream to `path` through `path.part`: every chunk is verified as it arrives, the
 * file is fsynced and renamed only when the stream was complete and intact. On any failure the
 * part file is removed and nothing is left at `path` (an existing file there is untouched).
 * Rejects with BackupFormatError (bad or incomplete stream), BackupFileError, or the stream's error.
 */
export async function writeBackupFile(path: string, chunks: AsyncIterable<Uint8Array>, options: WriteBackupOptions = {}): Promise<BackupSummary> {
  const target = resolve(path);
  if (options.overwrite === false && (await exists(target))) {
    throw new BackupFileError('backup_exists', `${path} exists; remove it first or choose another name`);
  }
  const part = `${target}.part`;
  let handle;
  try {
    handle = await open(part, 'w');
  } catch (err) {
    throw new BackupFileError('backup_write_failed', `cannot create ${part}: ${isErrno(err) ? err.code : String(err)}`, { cause: err });
  }
  const verifier = new BackupVerifier();
  let announced = false;
  try {
    let position = 0;
    for await (const chunk of chunks) {
      verifier.push(chunk);
      if (!announced && verifier.header !== null) {
        announced = true;
        options.onHeader?.(verifier.header);
      }
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      }
      position += chunk.length;
    }
    const summary = verifier.end();
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(part, target);
    await fsyncDir(dirname(target));
    return summary;
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(part, { force: true });
    if (isErrno(err)) throw new BackupFileError('backup_write_failed', `writing ${path} failed: ${err.code}`, { cause: err });
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err) && err.code === 'ENOENT') return false;
    throw err;
  }
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined;
}
