// Wire format of peer messages: a small JSON header plus the entries' payloads as raw bytes, so
// that values are never base64-encoded or copied into JSON strings.
//
//   frame  = u32be headerLength | header (UTF-8 JSON) | payloads
//   header = { v: 1, messages: [...] } where each entry is [index, term, kind, byteLength] and its
//            payload follows in `payloads`, in order.
//
// Decoding checks lengths and shapes; semantic checks are the core's (validate.ts).
import type { Entry, EntryKind, Message } from '../raft/types.js';

export const PEER_CODEC_VERSION = 1;
const kinds: EntryKind[] = ['normal', 'blank', 'config'];

export class PeerCodecError extends Error {
  readonly code = 'bad_frame';
}

type WireEntry = [number, number, number, number];

export function encodeMessages(messages: readonly Message[]): Buffer {
  return encode(messages, 0);
}

/**
 * A frame for a peer stream (`POST /raft/stream`): `u32be frameLength | frame`, the frame being
 * what encodeMessages gives. One allocation, no copy of the frame.
 */
export function encodeStreamFrame(messages: readonly Message[]): Buffer {
  const out = encode(messages, 4);
  out.writeUInt32BE(out.length - 4, 0);
  return out;
}

function encode(messages: readonly Message[], prefixBytes: number): Buffer {
  const payloads: Uint8Array[] = [];
  let payloadBytes = 0;
  const wire = messages.map((m) => {
    if (m.type !== 'append') return m;
    const entries: WireEntry[] = m.entries.map((e) => {
      payloads.push(e.data);
      payloadBytes += e.data.byteLength;
      return [e.index, e.term, kinds.indexOf(e.kind), e.data.byteLength];
    });
    return { ...m, entries };
  });
  const header = Buffer.from(JSON.stringify({ v: PEER_CODEC_VERSION, messages: wire }), 'utf8');
  const out = Buffer.allocUnsafe(prefixBytes + 4 + header.length + payloadBytes);
  out.writeUInt32BE(header.length, prefixBytes);
  header.copy(out, prefixBytes + 4);
  let at = prefixBytes + 4 + header.length;
  for (const p of payloads) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Cuts a peer stream (`u32be frameLength | frame`, repeated) into frames as its chunks arrive.
 * Memory is bounded by the largest frame accepted.
 */
export class StreamFrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** The frames completed by `chunk`; throws PeerCodecError for a frame over the limit. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    while (this.buffered >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : this.take(4, false);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) throw new PeerCodecError(`stream frame of ${length} bytes is over the limit of ${this.maxFrameBytes}`);
      if (this.buffered < 4 + length) break;
      frames.push(this.take(4 + length, true).subarray(4));
    }
    return frames;
  }

  /** The first `n` buffered bytes as one buffer; consumed when `consume`. */
  private take(n: number, consume: boolean): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (consume) {
        if (first.length === n) this.chunks.shift();
        else this.chunks[0] = first.subarray(n);
      }
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      out = all.subarray(0, n);
      if (consume) this.chunks = all.length > n ? [all.subarray(n)] : [];
      else this.chunks = [all];
    }
    if (consume) this.buffered -= n;
    return out;
  }
}

/** Splits `u32be length | JSON header | payload` (the shape of every peer frame). */
export function splitFrame(frame: Buffer): { header: unknown; payloadAt: number } {
  if (frame.length < 4) throw new PeerCodecError('frame shorter than its length prefix');
  const headerLength = frame.readUInt32BE(0);
  if (4 + headerLength > frame.length) throw new PeerCodecError('header length beyond the frame');
  try {
    return { header: JSON.parse(frame.subarray(4, 4 + headerLength).toString('utf8')), payloadAt: 4 + headerLength };
  } catch {
    throw new PeerCodecError('header is not JSON');
  }
}

export function decodeMessages(frame: Buffer): Message[] {
  const { header, payloadAt } = splitFrame(frame);
  const h = header as { v?: unknown; messages?: unknown };
  if (h?.v !== PEER_CODEC_VERSION) throw new PeerCodecError(`unsupported frame version ${String(h?.v)}`);
  if (!Array.isArray(h.messages)) throw new PeerCodecError('messages missing');
  let at = payloadAt;
  const out: Message[] = [];
  for (const raw of h.messages as unknown[]) {
    if (typeof raw !== 'object' || raw === null) throw new PeerCodecError('message is not an object');
    const m = raw as Record<string, unknown>;
    if (m.type === 'append') {
      if (!Array.isArray(m.entries)) throw new PeerCodecError('append without entries');
      const entries: Entry[] = (m.entries as unknown[]).map((w) => {
        if (!Array.isArray(w) || w.length !== 4 || !w.every((x) => Number.isSafeInteger(x) && x >= 0)) {
          throw new PeerCodecError('malformed entry');
        }
        const [index, term, kind, len] = w as WireEntry;
        if (kind >= kinds.length) throw new PeerCodecError('unknown entry kind');
        if (at + len > frame.length) throw new PeerCodecError('entry payload beyond the frame');
        // Copy out of the request buffer: entries live on in the log long after the request.
        const data = new Uint8Array(frame.subarray(at, at + len));
        at += len;
        return { index, term, kind: kinds[kind]!, data };
      });
      out.push({ ...m, entries } as unknown as Message);
    } else {
      out.push(m as unknown as Message);
    }
  }
  if (at !== frame.length) throw new PeerCodecError('trailing bytes after the payloads');
  return out;
}
