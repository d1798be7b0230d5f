// Binary encoding of log entries (the WAL's entry records and the LevelDB log's values) and of
// the LevelDB log's keys. An entry value is a fixed 30-byte
// header and the payload:
//
//   0  u32 CRC32C of bytes 4..end        14  u64 term
//   4  u8  format version (1)            22  u64 term of the entry before it (prevTerm)
//   5  u8  kind                          30  payload
//   6  u64 index
//
// The index inside the value catches a value served under the wrong key; prevTerm chains each
// entry to the one before it, so that a lost write that was meant to replace a suffix cannot go
// unnoticed (the surviving entries would not chain). Integers are big-endian.
import type { Entry, EntryKind } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { CorruptionError } from './errors.js';
import { ENTRY_KINDS, termOf } from './log-meta.js';
import type { LogMeta } from './log-meta.js';

export const ENTRY_HEADER_BYTES = 30;
const ENTRY_FORMAT = 1;

export const KEY_ENTRY_PREFIX = 0x65; // 'e'
const KEY_BYTES = 9;

/** Key of the entry at `index`: 'e' + u64 big-endian, so that LevelDB's byte order is log order. */
export function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(KEY_BYTES);
  key[0] = KEY_ENTRY_PREFIX;
  writeU64(new DataView(key.buffer), 1, index);
  return key;
}

/** The index an entry key names, or null when `key` is not an entry key. */
export function entryKeyIndex(key: Uint8Array): number | null {
  if (key.length !== KEY_BYTES || key[0] !== KEY_ENTRY_PREFIX) return null;
  return readU64(new DataView(key.buffer, key.byteOffset, key.byteLength), 1);
}

export function encodeEntry(entry: Entry, prevTerm: number): Uint8Array {
  const value = new Uint8Array(ENTRY_HEADER_BYTES + entry.data.byteLength);
  const view = new DataView(value.buffer);
  view.setUint8(4, ENTRY_FORMAT);
  view.setUint8(5, ENTRY_KINDS.indexOf(entry.kind));
  writeU64(view, 6, entry.index);
  writeU64(view, 14, entry.term);
  writeU64(view, 22, prevTerm);
  value.set(entry.data, ENTRY_HEADER_BYTES);
  view.setUint32(0, crc32c(value.subarray(4)));
  return value;
}

export type DecodedEntry = { ok: true; entry: Entry; prevTerm: number } | { ok: false; problem: string };

/** Decodes and verifies a stored value; `problem` says what is wrong when it fails. */
export function decodeEntry(value: Uint8Array): DecodedEntry {
  if (value.byteLength < ENTRY_HEADER_BYTES) return { ok: false, problem: `entry record is ${value.byteLength} bytes, shorter than its header` };
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const stored = view.getUint32(0);
  const actual = crc32c(value.subarray(4));
  if (stored !== actual) return { ok: false, problem: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  const format = view.getUint8(4);
  if (format !== ENTRY_FORMAT) return { ok: false, problem: `unknown entry format ${format}` };
  const kind: EntryKind | undefined = ENTRY_KINDS[view.getUint8(5)];
  if (kind === undefined) return { ok: false, problem: `unknown entry kind ${view.getUint8(5)}` };
  return {
    ok: true,
    // A plain Uint8Array copy: the caller owns the bytes, whatever LevelDB does with its buffers.
    entry: { index: readU64(view, 6), term: readU64(view, 14), kind, data: new Uint8Array(value.subarray(ENTRY_HEADER_BYTES)) },
    prevTerm: readU64(view, 22),
  };
}

/**
 * The entry stored for index `expected`, read back from `value`: its checksum, its index and its
 * place in the log (the term `meta` has there, after `prevTerm`) are checked; anything else is a
 * CorruptionError naming `dir` and the index.
 */
export function verifiedEntry(dir: string, meta: LogMeta, value: Uint8Array, expected: number, prevTerm: number): Entry {
  const decoded = decodeEntry(value);
  if (!decoded.ok) throw new CorruptionError({ dir, index: expected }, decoded.problem);
  const { entry } = decoded;
  if (entry.index !== expected) {
    throw new CorruptionError({ dir, index: expected }, `the record stored for this index holds index ${entry.index}`);
  }
  if (decoded.prevTerm !== prevTerm || entry.term !== termOf(meta, expected)) {
    throw new CorruptionError(
      { dir, index: expected },
      `term ${entry.term} after term ${decoded.prevTerm} does not match the log (term ${termOf(meta, expected)} after ${prevTerm})`,
    );
  }
  return entry;
}

export function writeU64(view: DataView, offset: number, n: number): void {
  view.setUint32(offset, Math.floor(n / 0x1_0000_0000));
  view.setUint32(offset + 4, n >>> 0);
}

export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
