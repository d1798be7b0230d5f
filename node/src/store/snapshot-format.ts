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
import type { ChangeRecord } from './types.js';

export const MAGIC = [0x43, 0x46, 0x58, 0x53]; // "CFXS"
export const FORMAT = 1;
export const FRAME_HEADER_BYTES = 9;
export const TYPE_HEADER = 1;
export const TYPE_DATA = 2;
export const TYPE_END = 3;
export const FLAG_TOMBSTONE = 1;
/** DATA frames are cut at about this size; an item larger than it gets a frame of its own. */
export const SNAPSHOT_FRAME_BYTES = 64 * 1024;

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
