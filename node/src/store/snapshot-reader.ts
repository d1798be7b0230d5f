// Reads and verifies a snapshot image (format in snapshot-format.ts) into a new MvccState.
import { crc32 } from 'node:zlib';
import { ByteStream } from './byte-stream.js';
import { copyBytes } from './bytes.js';
import { validateContentType } from './commands.js';
import { SnapshotCorruptError, StoreError } from './errors.js';
import { compareKeys, validateKey } from './keys.js';
import { MvccState } from './mvcc.js';
import {
  FLAG_TOMBSTONE,
  FORMAT,
  FRAME_HEADER_BYTES,
  MAGIC,
  TYPE_DATA,
  TYPE_END,
  TYPE_HEADER,
} from './snapshot-format.js';
import type { ChangeRecord } from './types.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);

function corrupt(message: string): SnapshotCorruptError {
  return new SnapshotCorruptError(`snapshot image is corrupt: ${message}`);
}

/**
 * Parses a whole image into a new `MvccState`. Rejects with `SnapshotCorruptError` on anything
 * short of a complete, consistent image whose header matches `expect`; errors of the chunk source
 * itself propagate unchanged.
 */
export async function decodeImage(
  expect: { index: number; term: number },
  chunks: AsyncIterable<Uint8Array>,
): Promise<MvccState> {
  const stream = new ByteStream(chunks);
  try {
    const first = await readFrame(stream);
    if (first === null) throw corrupt('empty stream');
    if (first.type !== TYPE_HEADER) throw corrupt(`first frame has type ${first.type}, not HEADER`);
    const builder = new ImageBuilder(parseHeader(first.payload, expect));
    let dataFrames = 0;
    for (;;) {
      const frame = await readFrame(stream);
      if (frame === null) throw corrupt('truncated: stream ended before the END frame');
      if (frame.type === TYPE_DATA) {
        dataFrames++;
        builder.consume(frame.payload);
      } else if (frame.type === TYPE_END) {
        builder.end(frame.payload, dataFrames);
        break;
      } else {
        throw corrupt(`unexpected frame type ${frame.type}`);
      }
    }
    if (!(await stream.atEnd())) throw corrupt('bytes after the END frame');
    return builder.finish();
  } catch (err) {
    await stream.cancel();
    throw err;
  }
}

interface Frame {
  type: number;
  payload: Uint8Array;
}

async function readFrame(stream: ByteStream): Promise<Frame | null> {
  const head = await stream.read(FRAME_HEADER_BYTES);
  if (head === null) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const type = view.getUint8(0);
  const length = view.getUint32(1);
  const checksum = view.getUint32(5);
  const payload = length === 0 ? EMPTY : await stream.read(length);
  if (payload === null) throw corrupt('truncated inside a frame');
  if (crc32(payload) !== checksum) throw corrupt(`checksum mismatch in a frame of type ${type}`);
  return { type, payload };
}

interface ImageHeader {
  revision: number;
  compactedRevision: number;
  keyCount: number;
  recordCount: number;
}

/** Synchronous reads over one frame's payload; an item never crosses a frame. */
class PayloadReader {
  private readonly view: DataView;
  pos = 0;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number): void {
    if (this.remaining < n) throw corrupt('an item crosses the end of its frame');
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++] as number;
  }

  u16(): number {
    this.need(2);
    const n = this.view.getUint16(this.pos);
    this.pos += 2;
    return n;
  }

  u32(): number {
    this.need(4);
    const n = this.view.getUint32(this.pos);
    this.pos += 4;
    return n;
  }

  u64(): number {
    this.need(8);
    const high = this.view.getUint32(this.pos);
    const low = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    if (high > 0x1f_ffff) throw corrupt('integer exceeds 2^53-1');
    return high * 0x1_0000_0000 + low;
  }

  bytes_(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function parseHeader(payload: Uint8Array, expect: { index: number; term: number }): ImageHeader {
  const r = new PayloadReader(payload);
  const magic = r.bytes_(4);
  if (MAGIC.some((b, i) => magic[i] !== b)) throw corrupt('bad magic');
  const format = r.u16();
  if (format !== FORMAT) throw corrupt(`unsupported format ${format}`);
  const index = r.u64();
  const term = r.u64();
  if (index !== expect.index || term !== expect.term) {
    throw corrupt(
      `image is of index ${index} term ${term}, the meta says index ${expect.index} term ${expect.term}`,
    );
  }
  const header: ImageHeader = {
    revision: r.u64(),
    compactedRevision: r.u64(),
    keyCount: r.u32(),
    recordCount: r.u64(),
  };
  if (r.remaining !== 0) throw corrupt('header has trailing bytes');
  if (header.compactedRevision > header.revision) {
    throw corrupt('compacted revision is beyond the revision');
  }
  return header;
}

/** Rebuilds an `MvccState` item by item, checking every invariant the store relies on. */
class ImageBuilder {
  private readonly state = new MvccState();
  private readonly base: number;
  private readonly inLog: ChangeRecord[] = [];
  private key: string | null = null;
  private history: ChangeRecord[] = [];
  private recordsLeft = 0;
  private keys = 0;
  private records = 0;

  constructor(private readonly header: ImageHeader) {
    this.state.revision = header.revision;
    this.state.compactedRevision = header.compactedRevision;
    this.base = Math.max(1, header.compactedRevision);
  }

  consume(payload: Uint8Array): void {
    const r = new PayloadReader(payload);
    if (r.remaining === 0) throw corrupt('empty DATA frame');
    while (r.remaining > 0) {
      if (this.recordsLeft === 0) this.readKey(r);
      else this.readRecord(r);
    }
  }

  private readKey(r: PayloadReader): void {
    let key: string;
    try {
      key = utf8Decoder.decode(r.bytes_(r.u16()));
      validateKey(key);
    } catch (err) {
      if (err instanceof SnapshotCorruptError) throw err;
      throw corrupt(`invalid key: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.key !== null && compareKeys(this.key, key) >= 0) {
      throw corrupt('keys are not in strictly increasing byte order');
    }
    const count = r.u32();
    if (count === 0) throw corrupt(`key ${JSON.stringify(key)} has no records`);
    this.keys++;
    this.key = key;
    this.history = [];
    this.recordsLeft = count;
    this.state.histories.set(key, this.history);
    this.state.all.insert(key);
  }

  private readRecord(r: PayloadReader): void {
    const key = this.key as string;
    const flags = r.u8();
    if ((flags & ~FLAG_TOMBSTONE) !== 0) throw corrupt('unknown record flags');
    const modRevision = r.u64();
    let rec: ChangeRecord;
    if (flags & FLAG_TOMBSTONE) {
      rec = { key, modRevision, createRevision: 0, version: 0, contentType: '', value: EMPTY, deleted: true };
    } else {
      const createRevision = r.u64();
      const version = r.u64();
      const ctBytes = r.bytes_(r.u16());
      const contentType = String.fromCharCode(...ctBytes);
      try {
        validateContentType(contentType);
      } catch (err) {
        if (err instanceof StoreError) throw corrupt(err.message);
        throw err;
      }
      // A copy: a value must not pin the whole frame it arrived in.
      const value = copyBytes(r.bytes_(r.u32()));
      rec = { key, modRevision, createRevision, version, contentType, value, deleted: false };
    }
    this.check(rec);
    this.history.push(rec);
    this.records++;
    this.recordsLeft--;
    if (rec.modRevision >= this.base) this.inLog.push(rec);
    if (this.recordsLeft === 0 && !rec.deleted) this.state.live.insert(key);
  }

  /** The record rules of `MvccState` (see its invariants), checked against the previous record. */
  private check(rec: ChangeRecord): void {
    // Built only on failure: this runs for every record of every restore.
    const fail = (why: string): SnapshotCorruptError =>
      corrupt(`key ${JSON.stringify(rec.key)} revision ${rec.modRevision}: ${why}`);
    const compacted = this.header.compactedRevision;
    if (rec.modRevision < 1 || rec.modRevision > this.header.revision) {
      throw fail(`revision outside 1..${this.header.revision}`);
    }
    const prev = this.history[this.history.length - 1];
    const isCreate = rec.version === 1 && rec.createRevision === rec.modRevision;
    if (prev === undefined) {
      if (rec.deleted) {
        if (rec.modRevision !== compacted) throw fail(`history starts with a tombstone`);
      } else if (compacted === 0 || rec.modRevision > compacted) {
        if (!isCreate) throw fail(`history does not start with a create`);
      } else if (rec.version < 1 || rec.createRevision < 1 || rec.createRevision > rec.modRevision) {
        throw fail(`bad version or create revision`);
      }
      return;
    }
    if (rec.modRevision <= prev.modRevision) throw fail(`revisions not increasing`);
    if (rec.modRevision <= compacted) throw fail(`more than one record at or below the compacted revision`);
    if (rec.deleted) {
      if (prev.deleted) throw fail(`two tombstones in a row`);
    } else if (prev.deleted) {
      if (!isCreate) throw fail(`a re-create must start at version 1`);
    } else if (rec.version !== prev.version + 1 || rec.createRevision !== prev.createRevision) {
      throw fail(`version does not follow the previous one`);
    }
  }

  end(payload: Uint8Array, dataFrames: number): void {
    if (this.recordsLeft !== 0) throw corrupt('END frame inside a key\'s records');
    const r = new PayloadReader(payload);
    const keys = r.u32();
    const records = r.u64();
    const frames = r.u32();
    if (r.remaining !== 0) throw corrupt('END frame has trailing bytes');
    if (keys !== this.keys || keys !== this.header.keyCount) throw corrupt('key count mismatch');
    if (records !== this.records || records !== this.header.recordCount) {
      throw corrupt('record count mismatch');
    }
    if (frames !== dataFrames) throw corrupt('DATA frame count mismatch');
  }

  /** Rebuilds the change log: every revision from the base on must appear exactly once. */
  finish(): MvccState {
    const expected = this.header.revision - this.base + 1;
    if (this.inLog.length !== Math.max(0, expected)) {
      throw corrupt(`change log has ${this.inLog.length} records for ${expected} revisions`);
    }
    const changes = new Array<ChangeRecord>(this.inLog.length);
    for (const rec of this.inLog) {
      const i = rec.modRevision - this.base;
      if (changes[i] !== undefined) throw corrupt(`two records claim revision ${rec.modRevision}`);
      changes[i] = rec;
    }
    this.state.setChangeLog(changes, this.base);
    return this.state;
  }
}
