// Wire format of one install_snapshot chunk: u32be headerLength | header JSON | chunk bytes.
// The header carries the envelope (identity, term), the snapshot meta, the byte offset of the
// chunk, whether it is the last one, and the size and checksum of the whole snapshot so that the
// receiver can verify it before installing.
import type { Message } from '../raft/types.js';
import { PeerCodecError, splitFrame } from './peer-codec.js';

export type SnapshotChunkHeader = Extract<Message, { type: 'snapshot' }> & {
  offset: number;
  done: boolean;
  size: number;
  /** CRC32C of the whole snapshot. */
  checksum: number;
};

export function encodeSnapshotChunk(header: SnapshotChunkHeader, data: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(4 + h.length + data.byteLength);
  out.writeUInt32BE(h.length, 0);
  h.copy(out, 4);
  out.set(data, 4 + h.length);
  return out;
}

export function decodeSnapshotChunk(frame: Buffer): { header: SnapshotChunkHeader; data: Uint8Array } {
  const { header, payloadAt } = splitFrame(frame);
  const h = header as Record<string, unknown>;
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (h?.type !== 'snapshot' || !int(h.offset) || !int(h.size) || typeof h.done !== 'boolean' || !int(h.checksum)) {
    throw new PeerCodecError('chunk header fields missing or of the wrong type');
  }
  return { header: h as unknown as SnapshotChunkHeader, data: new Uint8Array(frame.subarray(payloadAt)) };
}
