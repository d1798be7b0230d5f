// The byte layout of the write-ahead log's segment files (wal-log-storage.ts).
//
// A segment is a sequence of frames, one per flush (group commit), each written with one write()
// and made durable with one fdatasync:
//
//   0  u32 length of the records that follow
//   4  u32 CRC32C of the frame's checked bytes (below)
//   8  records: u8 type, u32 body length, body
//
// Record types:
//   ENTRY    the entry codec's bytes (entry-codec.ts: its own CRC32C over the whole entry)
//   INSTALL  u64 index, u64 term: the log was replaced by a snapshot there (empty after it)
//   STATE    CRC32C + JSON (level-records.ts' encoding) of WalState: the hard state, the purge
//            boundary, the snapshot meta and a summary of the log as this frame leaves it. The
//            last record of every frame, and the only one of the frame that starts a segment.
//
// The frame CRC covers the length field, every record header, every non-entry body and the
// 30-byte header of each entry (whose own CRC covers its payload), so a torn frame is caught
// without checksumming large payloads twice. Integers are big-endian.
import type { HardState, SnapshotMeta } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { ENTRY_HEADER_BYTES, readU64, writeU64 } from './entry-codec.js';
import { isCount } from './log-meta.js';
import type { IndexTerm } from './log-meta.js';

export const WAL_FORMAT = 1;
export const FRAME_HEADER_BYTES = 8;
export const RECORD_HEADER_BYTES = 5;

export const RECORD_ENTRY = 1;
export const RECORD_INSTALL = 2;
export const RECORD_STATE = 3;
export const INSTALL_BODY_BYTES = 16;

/** What a STATE record holds. */
export interface WalState {
  v: number;
  hardState: HardState;
  boundary: IndexTerm;
  snapshot: SnapshotMeta | null;
  lastIndex: number;
  lastTerm: number;
}

export interface WalRecord {
  type: number;
  body: Uint8Array;
}

/** One frame ready to be written: `bytes`, and where each record's body starts inside it. */
export interface EncodedFrame {
  bytes: Uint8Array;
  bodyOffsets: number[];
}

export function encodeFrame(records: readonly WalRecord[]): EncodedFrame {
  let length = 0;
  for (const r of records) length += RECORD_HEADER_BYTES + r.body.byteLength;
  const bytes = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(0, length);
  const bodyOffsets: number[] = [];
  let at = FRAME_HEADER_BYTES;
  for (const r of records) {
    view.setUint8(at, r.type);
    view.setUint32(at + 1, r.body.byteLength);
    bytes.set(r.body, at + RECORD_HEADER_BYTES);
    bodyOffsets.push(at + RECORD_HEADER_BYTES);
    at += RECORD_HEADER_BYTES + r.body.byteLength;
  }
  view.setUint32(4, checkedCrc(bytes, records));
  return { bytes, bodyOffsets };
}

/** A record of a decoded frame; `offset` is where its body starts in the segment. */
export interface FrameRecord extends WalRecord {
  offset: number;
}

export type FrameRead =
  | { ok: true; records: FrameRecord[]; end: number }
  | { ok: false; problem: string; /** Where the next frame would start if the length is right, or null. */ claimedEnd: number | null };

/**
 * The frame at `at` in `segment`. Checks the framing and the frame CRC only; entry bodies are
 * checked by the caller (decodeEntry).
 */
export function readFrame(segment: Uint8Array, at: number): FrameRead {
  if (segment.byteLength - at < FRAME_HEADER_BYTES) return { ok: false, problem: 'truncated frame header', claimedEnd: null };
  const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  const length = view.getUint32(at);
  const end = at + FRAME_HEADER_BYTES + length;
  if (length === 0) return { ok: false, problem: 'empty frame', claimedEnd: null };
  if (end > segment.byteLength) return { ok: false, problem: `frame of ${length} bytes runs past the end of the file`, claimedEnd: null };
  const records: FrameRecord[] = [];
  let p = at + FRAME_HEADER_BYTES;
  while (p < end) {
    if (end - p < RECORD_HEADER_BYTES) return { ok: false, problem: 'truncated record header', claimedEnd: end };
    const type = view.getUint8(p);
    const bodyLength = view.getUint32(p + 1);
    const bodyAt = p + RECORD_HEADER_BYTES;
    if (bodyAt + bodyLength > end) return { ok: false, problem: 'record runs past the end of its frame', claimedEnd: end };
    records.push({ type, body: segment.subarray(bodyAt, bodyAt + bodyLength), offset: bodyAt });
    p = bodyAt + bodyLength;
  }
  const stored = view.getUint32(at + 4);
  const computed = checkedCrc(segment.subarray(at, end), records);
  if (stored !== computed) return { ok: false, problem: 'frame checksum mismatch', claimedEnd: end };
  return { ok: true, records, end };
}

/** CRC32C of a frame's checked bytes; `frame` starts at the frame header. */
function checkedCrc(frame: Uint8Array, records: readonly WalRecord[]): number {
  let crc = crc32c(frame.subarray(0, 4));
  let at = FRAME_HEADER_BYTES;
  for (const r of records) {
    const checked = r.type === RECORD_ENTRY ? Math.min(r.body.byteLength, ENTRY_HEADER_BYTES) : r.body.byteLength;
    crc = crc32c(frame.subarray(at, at + RECORD_HEADER_BYTES + checked), crc);
    at += RECORD_HEADER_BYTES + r.body.byteLength;
  }
  return crc;
}

export function encodeInstall(boundary: IndexTerm): Uint8Array {
  const body = new Uint8Array(INSTALL_BODY_BYTES);
  const view = new DataView(body.buffer);
  writeU64(view, 0, boundary.index);
  writeU64(view, 8, boundary.term);
  return body;
}

export function decodeInstall(body: Uint8Array): IndexTerm | null {
  if (body.byteLength !== INSTALL_BODY_BYTES) return null;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return { index: readU64(view, 0), term: readU64(view, 8) };
}

export function isWalState(x: unknown): x is WalState {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Partial<WalState>;
  const hs = r.hardState;
  const s = r.snapshot;
  return (
    isCount(r.v) &&
    typeof hs === 'object' &&
    hs !== null &&
    isCount(hs.term) &&
    isCount(hs.commit) &&
    (hs.vote === null || typeof hs.vote === 'string') &&
    typeof r.boundary === 'object' &&
    r.boundary !== null &&
    isCount(r.boundary.index) &&
    isCount(r.boundary.term) &&
    (s === null || (typeof s === 'object' && s !== undefined && isCount(s.index) && isCount(s.term) && Array.isArray(s.membership?.members))) &&
    isCount(r.lastIndex) &&
    isCount(r.lastTerm)
  );
}

/** Segment file names: 16 hex digits of a sequence number that grows by one per segment. */
export function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

export function segmentSeq(name: string): number | null {
  return /^[0-9a-f]{16}\.wal$/.test(name) ? Number.parseInt(name.slice(0, 16), 16) : null;
}

