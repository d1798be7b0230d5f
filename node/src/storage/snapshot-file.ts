// One snapshot is one file: the state machine's bytes, then a trailer that describes them.
//
//   data (sizeBytes) | trailer JSON | u32 JSON length | u32 CRC32C of the JSON | "CFXSNAP1"
//
// The trailer JSON is {formatVersion, meta, sizeBytes, checksum}, checksum being the CRC32C of the
// data. Meta and data live in the same file so that one rename publishes both: there is no moment
// where a snapshot exists without its meta or the other way round. A file cut short loses its
// magic and is refused; a flipped data byte fails the checksum.
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SnapshotMeta } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { CorruptionError, DataDirError } from './errors.js';

export const SNAPSHOT_FORMAT = 1;
const MAGIC = new TextEncoder().encode('CFXSNAP1');
const TRAILER_FIXED_BYTES = 16;
const READ_CHUNK_BYTES = 1 << 20;

export interface SnapshotInfo {
  meta: SnapshotMeta;
  /** Bytes of snapshot data (what the state machine produced), trailer not included. */
  sizeBytes: number;
  /** CRC32C of the data. */
  checksum: number;
  /** Path of the file holding it. */
  file: string;
}

const NAME = /^snapshot-(\d{20})-(\d+)\.snap$/;

export function snapshotFileName(meta: SnapshotMeta): string {
  return `snapshot-${String(meta.index).padStart(20, '0')}-${meta.term}.snap`;
}

/** Index and term encoded in a snapshot file name, or null for any other name. */
export function parseSnapshotFileName(name: string): { index: number; term: number } | null {
  const m = NAME.exec(name);
  return m ? { index: Number(m[1]), term: Number(m[2]) } : null;
}

export const isTempFile = (name: string): boolean => name.endsWith('.tmp');

/** How much a snapshot writer leaves unflushed at most before it fdatasyncs (see append). */
const SYNC_EVERY_BYTES = 512 * 1024;

/**
 * A snapshot being written: data is appended in order, then `seal` adds the trailer and fsyncs.
 * The file is a temp file until the store renames it into place.
 */
export class SnapshotFileWriter {
  private written = 0;
  private syncedUpTo = 0;
  private crc = 0;
  private sealed = false;

  private constructor(
    readonly meta: SnapshotMeta,
    readonly tempPath: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(dir: string, meta: SnapshotMeta): Promise<SnapshotFileWriter> {
    const tempPath = join(dir, `${snapshotFileName(meta)}.${randomBytes(6).toString('hex')}.tmp`);
    return new SnapshotFileWriter(meta, tempPath, await open(tempPath, 'wx'));
  }

  get sizeBytes(): number {
    return this.written;
  }

  get checksum(): number {
    return this.crc;
  }

  async append(data: Uint8Array): Promise<void> {
    await writeAll(this.handle, data, this.written);
    this.written += data.byteLength;
    this.crc = crc32c(data, this.crc);
    // Flush as we go (RocksDB's bytes_per_sync): one fsync of the whole file at the end makes the
    // disk write megabytes at once, and the log's fsyncs, which every write waits for, queue
    // behind it. (Here the throughput dip around a 3 MB snapshot did not measurably change with
    // it: it is mostly the encoding's CPU. It bounds the disk queue on slower disks.)
    if (this.written - this.syncedUpTo >= SYNC_EVERY_BYTES) {
      await this.handle.datasync();
      this.syncedUpTo = this.written;
    }
  }

  /** Writes the trailer, fsyncs and closes. The caller renames tempPath into place afterwards. */
  async seal(): Promise<Omit<SnapshotInfo, 'file'>> {
    const info = { meta: this.meta, sizeBytes: this.written, checksum: this.crc };
    const json = new TextEncoder().encode(JSON.stringify({ formatVersion: SNAPSHOT_FORMAT, ...info }));
    const trailer = new Uint8Array(json.byteLength + TRAILER_FIXED_BYTES);
    trailer.set(json, 0);
    const view = new DataView(trailer.buffer);
    view.setUint32(json.byteLength, json.byteLength);
    view.setUint32(json.byteLength + 4, crc32c(json));
    trailer.set(MAGIC, json.byteLength + 8);
    await writeAll(this.handle, trailer, this.written);
    await this.handle.sync();
    await this.handle.close();
    this.sealed = true;
    return info;
  }

  async discard(): Promise<void> {
    if (!this.sealed) await this.handle.close().catch(() => undefined);
    this.sealed = true;
    await rm(this.tempPath, { force: true });
  }
}

/**
 * Reads and checks the trailer of `file` (and, with `verify`, the data's checksum: a full read).
 * Rejects with CorruptionError naming the file when anything is off.
 */
export async function readSnapshotFile(dir: string, file: string, verify: boolean): Promise<SnapshotInfo> {
  const name = basename(file);
  const damaged = (detail: string): CorruptionError => new CorruptionError({ dir, file: name }, `snapshot ${detail}`);
  const handle = await open(file, 'r');
  try {
    const fileBytes = (await handle.stat()).size;
    if (fileBytes < TRAILER_FIXED_BYTES) throw damaged(`is ${fileBytes} bytes, too short for its trailer (truncated?)`);
    const fixed = await readAt(handle, fileBytes - TRAILER_FIXED_BYTES, TRAILER_FIXED_BYTES);
    if (!MAGIC.every((b, i) => fixed[8 + i] === b)) throw damaged('has no trailer (truncated, or not a snapshot file)');
    const view = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
    const jsonBytes = view.getUint32(0);
    if (jsonBytes > fileBytes - TRAILER_FIXED_BYTES) throw damaged('trailer length is larger than the file');
    const json = await readAt(handle, fileBytes - TRAILER_FIXED_BYTES - jsonBytes, jsonBytes);
    if (crc32c(json) !== view.getUint32(4)) throw damaged('trailer checksum mismatch');
    const info = parseTrailer(json, dir, damaged);
    if (info.sizeBytes !== fileBytes - TRAILER_FIXED_BYTES - jsonBytes) throw damaged('data size does not match the trailer');
    const named = parseSnapshotFileName(name);
    if (named === null || named.index !== info.meta.index || named.term !== info.meta.term) {
      throw damaged(`trailer meta (index ${info.meta.index}, term ${info.meta.term}) does not match the file name`);
    }
    if (verify) {
      let crc = 0;
      for (let offset = 0; offset < info.sizeBytes; offset += READ_CHUNK_BYTES) {
        crc = crc32c(await readAt(handle, offset, Math.min(READ_CHUNK_BYTES, info.sizeBytes - offset)), crc);
      }
      if (crc !== info.checksum) throw damaged('data checksum mismatch');
    }
    return { ...info, file };
  } finally {
    await handle.close();
  }
}

function parseTrailer(json: Uint8Array, dir: string, damaged: (d: string) => CorruptionError): Omit<SnapshotInfo, 'file'> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder().decode(json)) as Record<string, unknown>;
  } catch {
    throw damaged('trailer is not valid JSON');
  }
  if (typeof raw.formatVersion === 'number' && raw.formatVersion > SNAPSHOT_FORMAT) {
    throw new DataDirError(dir, 'newer_format', `snapshot format ${raw.formatVersion} is newer than this binary's (${SNAPSHOT_FORMAT})`);
  }
  const meta = raw.meta as SnapshotMeta | undefined;
  if (
    raw.formatVersion !== SNAPSHOT_FORMAT ||
    typeof raw.sizeBytes !== 'number' ||
    typeof raw.checksum !== 'number' ||
    typeof meta !== 'object' ||
    meta === null ||
    typeof meta.index !== 'number' ||
    typeof meta.term !== 'number' ||
    !Array.isArray(meta.membership?.members)
  ) {
    throw damaged('trailer is malformed');
  }
  return { meta, sizeBytes: raw.sizeBytes, checksum: raw.checksum };
}

export async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
  return buffer;
}

async function writeAll(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}
