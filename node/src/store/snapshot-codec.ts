// The store's snapshot image: a deterministic byte stream of framed, checksummed sections.
//
//   frame   = u8 type | u32 payloadLength | u32 crc32(payload) | payload      (big-endian)
//   HEADER  = "CFXS" | u16 format (1) | u64 index | u64 term | u64 revision
//             | u64 compactedRevision | u32 keyCount | u64 recordCount
//   DATA    = items, each whole inside one frame:
//             key    = u16 keyLength | key (UTF-8) | u32 recordCount   (then its records follow,
//                      possibly in later DATA frames)
//             record = u8 flags (bit 0: tombstone) | u64 modRevision
//                      [live only: u64 createRevision | u64 version | u16 ctLength | contentType
//                       | u32 valueLength | value]
//   END     = u32 keyCount | u64 recordCount | u32 dataFrames
//
// Keys come in byte order, records oldest first, so two stores with the same state produce the
// same bytes (nodes can compare snapshot checksums). A stream without its END frame is truncated;
// a bad CRC, a broken invariant or bytes after END is corrupt. The reader does not depend on how
// the transport re-chunks the stream.
import { crc32 } from 'node:zlib';
import { validateContentType } from './commands.js';
import { SnapshotCorruptError, StoreError } from './errors.js';
import { compareKeys, validateKey } from './keys.js';
import { MvccState } from './mvcc.js';
import type { ChangeRecord } from './types.js';

const MAGIC = [0x43, 0x46, 0x58, 0x53]; // "CFXS"
const FORMAT = 1;
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADER = 1;
const TYPE_DATA = 2;
const TYPE_END = 3;
const FLAG_TOMBSTONE = 1;
/** DATA frames are cut at about this size; an item larger than it gets a frame of its own. */
export const SNAPSHOT_FRAME_BYTES = 64 * 1024;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);

/**
 * The state as of one instant, captured synchronously: per key the history array and its length
 * at capture time. Records are immutable and history arrays are only appended to (compaction
 * replaces them), so this prefix stays exactly what it was while apply() goes on. Cost: three
 * references per key; values are shared, not copied.
 */
export interface CapturedImage {
  index: number;
  term: number;
  revision: number;
  compactedRevision: number;
  keys: string[];
  histories: ChangeRecord[][];
  lengths: number[];
  recordCount: number;
}

export function captureImage(state: MvccState, index: number, term: number): CapturedImage {
  const keys: string[] = [];
  const histories: ChangeRecord[][] = [];
  const lengths: number[] = [];
  let recordCount = 0;
  for (const key of state.all) {
    const h = state.histories.get(key) as ChangeRecord[];
    keys.push(key);
    histories.push(h);
    lengths.push(h.length);
    recordCount += h.length;
  }
  return {
    index,
    term,
    revision: state.revision,
    compactedRevision: state.compactedRevision,
    keys,
    histories,
    lengths,
    recordCount,
  };
}

export async function* encodeImage(
  img: CapturedImage,
  frameBytes = SNAPSHOT_FRAME_BYTES,
): AsyncGenerator<Uint8Array, void, undefined> {
  const w = new FrameWriter(frameBytes);
  w.raw(MAGIC);
  w.u16(FORMAT);
  w.u64(img.index);
  w.u64(img.term);
  w.u64(img.revision);
  w.u64(img.compactedRevision);
  w.u32(img.keys.length);
  w.u64(img.recordCount);
  yield w.finish(TYPE_HEADER);

  let dataFrames = 0;
  for (let k = 0; k < img.keys.length; k++) {
    w.key(img.keys[k] as string, img.lengths[k] as number);
    const h = img.histories[k] as ChangeRecord[];
    for (let i = 0; i < (img.lengths[k] as number); i++) {
      if (w.payloadBytes() >= frameBytes) {
        dataFrames++;
        yield w.finish(TYPE_DATA);
      }
      w.record(h[i] as ChangeRecord);
    }
    if (w.payloadBytes() >= frameBytes) {
      dataFrames++;
      yield w.finish(TYPE_DATA);
    }
  }
  if (w.payloadBytes() > 0) {
    dataFrames++;
    yield w.finish(TYPE_DATA);
  }
  w.u32(img.keys.length);
  w.u64(img.recordCount);
  w.u32(dataFrames);
  yield w.finish(TYPE_END);
}

class FrameWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = FRAME_HEADER_BYTES;

  constructor(private readonly frameBytes: number) {
    this.buf = new Uint8Array(frameBytes + 4096);
    this.view = new DataView(this.buf.buffer);
  }

  payloadBytes(): number {
    return this.pos - FRAME_HEADER_BYTES;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  raw(bytes: ArrayLike<number>): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  u8(n: number): void {
    this.ensure(1);
    this.buf[this.pos++] = n;
  }

  u16(n: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, n);
    this.pos += 2;
  }

  u32(n: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, n);
    this.pos += 4;
  }

  u64(n: number): void {
    this.ensure(8);
    this.view.setUint32(this.pos, Math.floor(n / 0x1_0000_0000));
    this.view.setUint32(this.pos + 4, n >>> 0);
    this.pos += 8;
  }

  key(key: string, recordCount: number): void {
    const bytes = utf8Encoder.encode(key);
    this.u16(bytes.length);
    this.raw(bytes);
    this.u32(recordCount);
  }

  record(rec: ChangeRecord): void {
    this.u8(rec.deleted ? FLAG_TOMBSTONE : 0);
    this.u64(rec.modRevision);
    if (rec.deleted) return;
    this.u64(rec.createRevision);
    this.u64(rec.version);
    this.u16(rec.contentType.length);
    this.ensure(rec.contentType.length);
    for (let i = 0; i < rec.contentType.length; i++) {
      this.buf[this.pos++] = rec.contentType.charCodeAt(i);
    }
    this.u32(rec.value.length);
    this.raw(rec.value);
  }

  /** Closes the current frame and hands its bytes over; the writer starts a fresh buffer. */
  finish(type: number): Uint8Array {
    const payloadLength = this.pos - FRAME_HEADER_BYTES;
    this.view.setUint8(0, type);
    this.view.setUint32(1, payloadLength);
    this.view.setUint32(5, crc32(this.buf.subarray(FRAME_HEADER_BYTES, this.pos)));
    const frame = this.buf.subarray(0, this.pos);
    this.buf = new Uint8Array(this.frameBytes + 4096);
    this.view = new DataView(this.buf.buffer);
    this.pos = FRAME_HEADER_BYTES;
    return frame;
  }
}

// ---- reading --------------------------------------------------------------------------------

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

/** Exact-length reads over an async chunk source, whatever the chunk boundaries. */
class ByteStream {
  private readonly it: AsyncIterator<Uint8Array>;
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  private buffered = 0;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<void> {
    const r = await this.it.next();
    if (r.done === true) {
      this.done = true;
      return;
    }
    if (!(r.value instanceof Uint8Array)) throw corrupt('a chunk is not a Uint8Array');
    if (r.value.length > 0) {
      this.chunks.push(r.value);
      this.buffered += r.value.length;
    }
  }

  /** `n` bytes, or null at a clean end of stream; throws when it ends inside the `n` bytes. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.buffered < n) {
      if (this.done) {
        if (this.buffered === 0) return null;
        throw corrupt('truncated: stream ended inside a frame');
      }
      await this.pull();
    }
    const first = this.chunks[0] as Uint8Array;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0] as Uint8Array;
      const take = Math.min(c.length - this.head, n - off);
      out.set(c.subarray(this.head, this.head + take), off);
      off += take;
      this.advance(take);
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.buffered -= n;
    if (this.head === (this.chunks[0] as Uint8Array).length) {
      this.chunks.shift();
      this.head = 0;
    }
  }

  async atEnd(): Promise<boolean> {
    while (this.buffered === 0 && !this.done) await this.pull();
    return this.buffered === 0;
  }

  /** Lets the source release its resources when we stop early. */
  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.it.return?.();
    } catch {
      // The source failing to close does not change why we stopped.
    }
  }
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
      const value = r.bytes_(r.u32()).slice();
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
    const where = `key ${JSON.stringify(rec.key)} revision ${rec.modRevision}`;
    const compacted = this.header.compactedRevision;
    if (rec.modRevision < 1 || rec.modRevision > this.header.revision) {
      throw corrupt(`${where}: revision outside 1..${this.header.revision}`);
    }
    const prev = this.history[this.history.length - 1];
    const isCreate = rec.version === 1 && rec.createRevision === rec.modRevision;
    if (prev === undefined) {
      if (rec.deleted) {
        if (rec.modRevision !== compacted) throw corrupt(`${where}: history starts with a tombstone`);
      } else if (compacted === 0 || rec.modRevision > compacted) {
        if (!isCreate) throw corrupt(`${where}: history does not start with a create`);
      } else if (rec.version < 1 || rec.createRevision < 1 || rec.createRevision > rec.modRevision) {
        throw corrupt(`${where}: bad version or create revision`);
      }
      return;
    }
    if (rec.modRevision <= prev.modRevision) throw corrupt(`${where}: revisions not increasing`);
    if (rec.modRevision <= compacted) throw corrupt(`${where}: more than one record at or below the compacted revision`);
    if (rec.deleted) {
      if (prev.deleted) throw corrupt(`${where}: two tombstones in a row`);
    } else if (prev.deleted) {
      if (!isCreate) throw corrupt(`${where}: a re-create must start at version 1`);
    } else if (rec.version !== prev.version + 1 || rec.createRevision !== prev.createRevision) {
      throw corrupt(`${where}: version does not follow the previous one`);
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
    this.state.changes = changes;
    this.state.changesBase = this.base;
    return this.state;
  }
}
