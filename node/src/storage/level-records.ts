// The two small records the LevelDB log keeps beside its entries, each a CRC32C followed by JSON:
//
// - 'h' (state): hard state plus a summary of the log (first, last, last term). Rewritten in
//   every batch, so that it always describes the same moment as the entries next to it: LevelDB
//   skips a damaged record of its write-ahead log and keeps going, and a later batch's summary
//   is what reveals that an earlier one went missing.
// - 'm' (snapshot): the purge boundary and the snapshot meta. Rewritten only when they change.
import type { HardState, SnapshotMeta } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { isCount } from './log-meta.js';
import type { IndexTerm } from './log-meta.js';

export const LEVEL_FORMAT = 1;
export const STATE_KEY = Uint8Array.of(0x68); // 'h'
export const SNAPSHOT_KEY = Uint8Array.of(0x6d); // 'm'

export interface StateRecord {
  v: number;
  hardState: HardState;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
}

export interface SnapshotRecord {
  v: number;
  boundary: IndexTerm;
  snapshot: SnapshotMeta | null;
}

export function encodeRecord(record: StateRecord | SnapshotRecord): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(record));
  const value = new Uint8Array(4 + json.byteLength);
  value.set(json, 4);
  new DataView(value.buffer).setUint32(0, crc32c(json));
  return value;
}

/** The parsed record, or a string saying what is wrong with it. */
export function decodeRecord(value: Uint8Array): unknown {
  if (value.byteLength < 4) return `record is ${value.byteLength} bytes`;
  const json = value.subarray(4);
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  if (stored !== crc32c(json)) return 'record checksum mismatch';
  try {
    return JSON.parse(new TextDecoder().decode(json)) as unknown;
  } catch {
    return 'record is not valid JSON';
  }
}

export function isStateRecord(x: unknown): x is StateRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Partial<StateRecord>;
  const hs = r.hardState;
  return (
    typeof r.v === 'number' &&
    typeof hs === 'object' &&
    hs !== null &&
    isCount(hs.term) &&
    isCount(hs.commit) &&
    (hs.vote === null || typeof hs.vote === 'string') &&
    isCount(r.firstIndex) &&
    isCount(r.lastIndex) &&
    isCount(r.lastTerm)
  );
}

export function isSnapshotRecord(x: unknown): x is SnapshotRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Partial<SnapshotRecord>;
  const s = r.snapshot;
  return (
    typeof r.v === 'number' &&
    typeof r.boundary === 'object' &&
    r.boundary !== null &&
    isCount(r.boundary.index) &&
    isCount(r.boundary.term) &&
    (s === null || (typeof s === 'object' && s !== undefined && isCount(s.index) && isCount(s.term) && Array.isArray(s.membership?.members)))
  );
}
