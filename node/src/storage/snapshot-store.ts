// Snapshot files in a directory (snapshot-file.ts has the format). A snapshot is written to a temp
// file, fsynced, renamed into place and the directory fsynced; only then is it the latest, and
// only then are older snapshots deleted. A temp file left by a crash is deleted at open, so a
// half-written snapshot is never mistaken for one.
//
// Three ways in and out:
// - save(meta, chunks): the local state machine's snapshot.
// - beginReceive(meta, ...) -> writeChunk(offset, data)... -> finish(): a snapshot sent by the
//   leader in chunks; checked against the announced checksum before it is published.
// - openReader(): chunks from any offset, for the transport (resumable) and for restore.
import { open, readdir, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SnapshotMeta } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { fsyncDir, mkdirDurable } from './durable-fs.js';
import {
  ClosedError,
  CorruptionError,
  SnapshotChecksumError,
  SnapshotNotFoundError,
  SnapshotOffsetError,
  StaleSnapshotError,
} from './errors.js';
import { isTempFile, parseSnapshotFileName, readAt, readSnapshotFile, SnapshotFileWriter, snapshotFileName } from './snapshot-file.js';
import type { SnapshotInfo } from './snapshot-file.js';

export type { SnapshotInfo } from './snapshot-file.js';

export const DEFAULT_CHUNK_BYTES = 1 << 20;

export interface SnapshotReader {
  readonly info: SnapshotInfo;
  /**
   * The data from `offsetBytes` on, in chunks of at most `chunkBytesMax` bytes. A read from
   * offset 0 also checks the checksum, and throws CorruptionError instead of yielding the last
   * chunk if it does not match, so a consumer never sees a damaged snapshot end successfully.
   */
  chunks(offsetBytes?: number, chunkBytesMax?: number): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

export interface SnapshotReceiver {
  readonly meta: SnapshotMeta;
  /** Where the next chunk must start: after a lost request, the sender resumes from here. */
  readonly nextOffset: number;
  /**
   * Appends a chunk. Rejects with SnapshotOffsetError (carrying the expected offset) unless
   * offset === nextOffset, and with SnapshotChecksumError when it goes past the announced size.
   */
  writeChunk(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Checks size and checksum, then publishes the snapshot as the latest (durably).
   * Rejects with SnapshotChecksumError (and discards the data) when they differ from what was
   * announced; with StaleSnapshotError if a newer snapshot was published meanwhile.
   */
  finish(): Promise<SnapshotInfo>;
  /** Discards the data received so far. */
  abort(): Promise<void>;
}

export interface ReceiveOptions {
  /** CRC32C of the whole data, as announced by the sender. */
  checksum: number;
  /** Total data size, when the sender announces it: checked on every chunk and at the end. */
  sizeBytes?: number;
}

export class SnapshotStore {
  private latestInfo: SnapshotInfo | null;
  private receiver: Receiver | null = null;
  private publishing: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly dir: string,
    latest: SnapshotInfo | null,
  ) {
    this.latestInfo = latest;
  }

  /**
   * Opens (creating if missing) the store in `dir`: deletes temp files, checks the latest snapshot
   * (its checksum too, unless `verify` is false) and deletes older ones.
   * Rejects with CorruptionError naming the file when the latest snapshot is damaged; nothing is
   * deleted then, so that an operator can look at it.
   */
  static async open(dir: string, options: { verify?: boolean } = {}): Promise<SnapshotStore> {
    await mkdirDurable(dir);
    const names = await readdir(dir);
    const temps = names.filter(isTempFile);
    for (const name of temps) await rm(join(dir, name), { force: true });
    const snapshots = names
      .map((name) => ({ name, parsed: parseSnapshotFileName(name) }))
      .filter((s): s is { name: string; parsed: { index: number; term: number } } => s.parsed !== null)
      .sort((a, b) => b.parsed.index - a.parsed.index || b.parsed.term - a.parsed.term);
    let latest: SnapshotInfo | null = null;
    if (snapshots.length > 0) {
      latest = await readSnapshotFile(dir, join(dir, snapshots[0]!.name), options.verify ?? true);
      for (const older of snapshots.slice(1)) await rm(join(dir, older.name), { force: true });
    }
    if (temps.length > 0 || snapshots.length > 1) await fsyncDir(dir);
    return new SnapshotStore(dir, latest);
  }

  /** The latest published snapshot, or null. */
  latest(): SnapshotInfo | null {
    return this.latestInfo === null ? null : { ...this.latestInfo, meta: structuredClone(this.latestInfo.meta) };
  }

  /**
   * Writes a snapshot from `chunks` and publishes it as the latest, durably, before resolving.
   * Rejects with StaleSnapshotError when it is older than the latest one; if `chunks` throws, the
   * partial file is deleted and the error passed on.
   */
  async save(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<SnapshotInfo> {
    this.checkOpen();
    this.checkNotStale(meta);
    const writer = await SnapshotFileWriter.create(this.dir, meta);
    try {
      for await (const chunk of chunks) await writer.append(chunk);
      await writer.seal();
    } catch (err) {
      await writer.discard();
      throw err;
    }
    return this.publish(writer);
  }

  /**
   * Starts receiving a snapshot; a receive already in progress is aborted (a newer offer replaces
   * it). Rejects with StaleSnapshotError when `meta` is older than the latest snapshot.
   */
  async beginReceive(meta: SnapshotMeta, options: ReceiveOptions): Promise<SnapshotReceiver> {
    this.checkOpen();
    this.checkNotStale(meta);
    await this.receiver?.abort();
    const receiver: Receiver = new Receiver(await SnapshotFileWriter.create(this.dir, meta), options, {
      publish: (writer) => this.publish(writer),
      release: () => {
        if (this.receiver === receiver) this.receiver = null;
      },
    });
    this.receiver = receiver;
    return receiver;
  }

  /**
   * A reader of `info` (default: the latest). The file stays readable until the reader is closed,
   * even if a newer snapshot replaces it meanwhile.
   * Rejects with SnapshotNotFoundError when there is no such snapshot (any more).
   */
  async openReader(info: SnapshotInfo | null = this.latestInfo): Promise<SnapshotReader> {
    this.checkOpen();
    if (info === null) throw new SnapshotNotFoundError(`no snapshot in ${this.dir}`);
    let handle: FileHandle;
    try {
      handle = await open(info.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SnapshotNotFoundError(`snapshot at index ${info.meta.index} is gone from ${this.dir} (a newer one replaced it)`);
      }
      throw err;
    }
    return new Reader(this.dir, info, handle);
  }

  /** Aborts a receive in progress. Readers already open stay usable until closed. */
  async close(): Promise<void> {
    this.closed = true;
    await this.receiver?.abort();
    await this.publishing.catch(() => undefined);
  }

  /** Renames a sealed writer into place and deletes what it supersedes; one at a time. */
  private publish(writer: SnapshotFileWriter): Promise<SnapshotInfo> {
    const run = async (): Promise<SnapshotInfo> => {
      try {
        this.checkNotStale(writer.meta);
      } catch (err) {
        await writer.discard();
        throw err;
      }
      const file = join(this.dir, snapshotFileName(writer.meta));
      await rename(writer.tempPath, file);
      await fsyncDir(this.dir);
      const previous = this.latestInfo;
      this.latestInfo = { meta: structuredClone(writer.meta), sizeBytes: writer.sizeBytes, checksum: writer.checksum, file };
      if (previous !== null && previous.file !== file) {
        await rm(previous.file, { force: true });
        await fsyncDir(this.dir);
      }
      return this.latest()!;
    };
    const result = this.publishing.then(run, run);
    this.publishing = result.catch(() => undefined);
    return result;
  }

  private checkNotStale(meta: SnapshotMeta): void {
    const latest = this.latestInfo;
    if (latest !== null && meta.index < latest.meta.index) throw new StaleSnapshotError(meta.index, latest.meta.index);
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`snapshot store ${this.dir}`);
  }
}

interface ReceiverHooks {
  publish: (writer: SnapshotFileWriter) => Promise<SnapshotInfo>;
  /** The receiver is finished or aborted: the store no longer needs to abort it at close. */
  release: () => void;
}

class Receiver implements SnapshotReceiver {
  private next = 0;
  private writes: Promise<void> = Promise.resolve();
  private done = false;

  constructor(
    private readonly writer: SnapshotFileWriter,
    private readonly expected: ReceiveOptions,
    private readonly hooks: ReceiverHooks,
  ) {}

  get meta(): SnapshotMeta {
    return this.writer.meta;
  }

  get nextOffset(): number {
    return this.next;
  }

  writeChunk(offset: number, data: Uint8Array): Promise<void> {
    if (this.done) return Promise.reject(new ClosedError('snapshot receiver'));
    if (offset !== this.next) return Promise.reject(new SnapshotOffsetError(offset, this.next));
    const size = this.expected.sizeBytes;
    if (size !== undefined && offset + data.byteLength > size) {
      return Promise.reject(new SnapshotChecksumError(`snapshot chunk ends at ${offset + data.byteLength}, past the announced size ${size}`));
    }
    // Advance now, so that a concurrent call is checked against this chunk's end.
    this.next += data.byteLength;
    const copy = data.slice();
    const write = this.writes.then(() => this.writer.append(copy));
    this.writes = write.catch(() => undefined);
    return write;
  }

  async finish(): Promise<SnapshotInfo> {
    if (this.done) throw new ClosedError('snapshot receiver');
    this.done = true;
    this.hooks.release();
    try {
      await this.writes;
      const { sizeBytes, checksum } = this.expected;
      if (this.writer.sizeBytes !== this.next) throw new Error(`snapshot write failed: ${this.writer.sizeBytes} of ${this.next} bytes written`);
      if (sizeBytes !== undefined && this.writer.sizeBytes !== sizeBytes) {
        throw new SnapshotChecksumError(`snapshot has ${this.writer.sizeBytes} bytes, the sender announced ${sizeBytes}`);
      }
      if (this.writer.checksum !== checksum >>> 0) {
        throw new SnapshotChecksumError(
          `snapshot checksum ${this.writer.checksum.toString(16)} differs from the announced ${(checksum >>> 0).toString(16)}`,
        );
      }
      await this.writer.seal();
    } catch (err) {
      await this.writer.discard();
      throw err;
    }
    return this.hooks.publish(this.writer);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.hooks.release();
    await this.writes;
    await this.writer.discard();
  }
}

class Reader implements SnapshotReader {
  constructor(
    private readonly dir: string,
    readonly info: SnapshotInfo,
    private readonly handle: FileHandle,
  ) {}

  async *chunks(offsetBytes = 0, chunkBytesMax = DEFAULT_CHUNK_BYTES): AsyncIterable<Uint8Array> {
    const size = this.info.sizeBytes;
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes > size) {
      throw new RangeError(`snapshot offset ${offsetBytes} is outside 0..${size}`);
    }
    if (!Number.isSafeInteger(chunkBytesMax) || chunkBytesMax < 1) throw new RangeError(`chunk size ${chunkBytesMax} must be >= 1`);
    const verifying = offsetBytes === 0;
    let crc = 0;
    for (let offset = offsetBytes; offset < size; ) {
      const chunk = await readAt(this.handle, offset, Math.min(chunkBytesMax, size - offset));
      offset += chunk.byteLength;
      if (verifying) {
        crc = crc32c(chunk, crc);
        if (offset === size && crc !== this.info.checksum) {
          throw new CorruptionError({ dir: this.dir, file: basename(this.info.file) }, 'snapshot data checksum mismatch while reading');
        }
      }
      yield chunk;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
