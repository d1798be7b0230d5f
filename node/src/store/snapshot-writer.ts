// Writes the snapshot image (format in snapshot-format.ts) from a synchronous capture.
import { crc32 } from 'node:zlib';
import type { MvccState } from './mvcc.js';
import {
  FLAG_TOMBSTONE,
  FORMAT,
  FRAME_HEADER_BYTES,
  MAGIC,
  SNAPSHOT_FRAME_BYTES,
  TYPE_DATA,
  TYPE_END,
  TYPE_HEADER,
  type CapturedImage,
} from './snapshot-format.js';
import type { ChangeRecord } from './types.js';

const utf8Encoder = new TextEncoder();

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
