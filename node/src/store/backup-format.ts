// A backup file: what `GET /admin/snapshot` streams and `conflux snapshot save` writes.
//
//   "CONFLUXB" | u32 headerLength | header JSON (UTF-8, BackupHeader)
//   | store image (snapshot-format.ts: CRC-framed, self-delimiting: it ends with its END frame)
//   | "CFXBEND1" | SHA-256 (32 bytes) of every byte before "CFXBEND1"
//
// Self-describing: the header says where it came from (cluster, node, revision, Raft index/term,
// key counts, time), so `conflux snapshot status` answers without a cluster. The image is the
// one a Raft snapshot holds (every key with its retained history), so a restored store has the
// same revisions, histories, rollbacks and watch positions. The trailer comes last because the
// image is streamed as it is encoded: its size is not known when the header is written.
//
// BackupVerifier checks a file as it streams by (push chunks, then end()): magic, header,
// the frame sequence HEADER DATA* END with every frame's CRC, the image header and END counts
// against the backup header, the SHA-256, and nothing after the trailer. It never buffers more
// than one small frame: DATA payloads are checked as they pass. The item-level checks (key order,
// version rules) are the image decoder's (snapshot-reader.ts), which a restore runs too.
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { FORMAT as IMAGE_FORMAT, FRAME_HEADER_BYTES, MAGIC as IMAGE_MAGIC, TYPE_DATA, TYPE_END, TYPE_HEADER } from './snapshot-format.js';

/** The backup format this binary writes, and the newest it reads. */
export const BACKUP_FORMAT = 1;
export const BACKUP_MAGIC = new TextEncoder().encode('CONFLUXB');
export const BACKUP_END_MAGIC = new TextEncoder().encode('CFXBEND1');
export const BACKUP_TRAILER_BYTES = BACKUP_END_MAGIC.length + 32;
/** MIME type of a backup stream. */
export const BACKUP_CONTENT_TYPE = 'application/vnd.conflux.backup';

const HEADER_JSON_BYTES_MAX = 64 * 1024;
// HEADER and END frames are tens of bytes; anything bigger is damage, not data worth buffering.
const SMALL_FRAME_BYTES_MAX = 4096;

export interface BackupHeader {
  format: number;
  /** Cluster the backup was taken from. */
  clusterId: string;
  /** Node that produced the image. */
  nodeId: string;
  /** ISO-8601 time the image was captured. */
  createdAt: string;
  /** linearizable: after a read barrier (every write acknowledged before the request is in it). */
  consistency: 'linearizable' | 'serializable';
  /** Raft index and term of the applied state the image was captured at. */
  index: number;
  term: number;
  /** Store revision of the image (its last change). */
  revision: number;
  compactedRevision: number;
  /** Live keys. */
  keys: number;
  /** Keys with retained history (live or deleted), and their history records. */
  keysWithHistory: number;
  records: number;
}

export interface BackupSummary {
  header: BackupHeader;
  /** Size of the whole file. */
  sizeBytes: number;
  /** Lowercase hex SHA-256 from the trailer (verified). */
  sha256: string;
  /** Where the store image starts in the file, and its length. */
  imageOffset: number;
  imageBytes: number;
}

export type BackupErrorCode =
  | 'backup_bad_magic'
  | 'backup_newer_format'
  | 'backup_truncated'
  | 'backup_corrupt'
  | 'backup_checksum_mismatch';

/** The bytes are not a complete, intact backup this binary can read. `code` is stable. */
export class BackupFormatError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BackupFormatError';
  }
}

/** Counts of a captured store image, as KvStore.image() reports them. */
export interface ImageInfo {
  index: number;
  term: number;
  revision: number;
  compactedRevision: number;
  liveKeys: number;
  keysWithHistory: number;
  records: number;
}

export function backupHeaderOf(
  image: ImageInfo,
  source: { clusterId: string; nodeId: string; createdAt: Date; consistency: BackupHeader['consistency'] },
): BackupHeader {
  return {
    format: BACKUP_FORMAT,
    clusterId: source.clusterId,
    nodeId: source.nodeId,
    createdAt: source.createdAt.toISOString(),
    consistency: source.consistency,
    index: image.index,
    term: image.term,
    revision: image.revision,
    compactedRevision: image.compactedRevision,
    keys: image.liveKeys,
    keysWithHistory: image.keysWithHistory,
    records: image.records,
  };
}

/** The backup file's bytes: prefix, the image chunks as they come, trailer. */
export async function* encodeBackup(header: BackupHeader, image: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const hash = createHash('sha256');
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(BACKUP_MAGIC.length + 4 + json.length);
  prefix.set(BACKUP_MAGIC, 0);
  new DataView(prefix.buffer).setUint32(BACKUP_MAGIC.length, json.length);
  prefix.set(json, BACKUP_MAGIC.length + 4);
  hash.update(prefix);
  yield prefix;
  for await (const chunk of image) {
    hash.update(chunk);
    yield chunk;
  }
  const trailer = new Uint8Array(BACKUP_TRAILER_BYTES);
  trailer.set(BACKUP_END_MAGIC, 0);
  trailer.set(hash.digest(), BACKUP_END_MAGIC.length);
  yield trailer;
}

type State =
  | { kind: 'magic' }
  | { kind: 'header-length' }
  | { kind: 'header'; bytes: number }
  | { kind: 'frame-head' }
  | { kind: 'small-payload'; type: number; bytes: number; crc: number }
  | { kind: 'data-payload'; left: number; crc: number; expected: number }
  | { kind: 'trailer' }
  | { kind: 'done' };

/** Checks a backup as it streams by; see the file comment. Throws BackupFormatError. */
export class BackupVerifier {
  private state: State = { kind: 'magic' };
  private readonly hash: Hash = createHash('sha256');
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private offset = 0;
  private parsed: BackupHeader | null = null;
  private imageOffset = 0;
  private imageEnd = 0;
  private frames = 0;
  private dataFrames = 0;
  private digest = '';

  /** The backup header, once the bytes holding it went by. */
  get header(): BackupHeader | null {
    return this.parsed;
  }

  /** Bytes pushed so far. */
  get bytesSeen(): number {
    return this.offset + this.pendingBytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.state.kind === 'done') throw new BackupFormatError('backup_corrupt', 'bytes after the trailer');
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drain();
  }

  /** The summary of a complete, valid backup; throws when the bytes ended early. */
  end(): BackupSummary {
    if (this.state.kind !== 'done') {
      const where = this.state.kind === 'magic' && this.bytesSeen === 0 ? 'the file is empty' : `it ends after ${this.bytesSeen} bytes, inside the ${describe(this.state)}`;
      throw new BackupFormatError('backup_truncated', `incomplete backup: ${where}`);
    }
    return {
      header: this.parsed as BackupHeader,
      sizeBytes: this.offset,
      sha256: this.digest,
      imageOffset: this.imageOffset,
      imageBytes: this.imageEnd - this.imageOffset,
    };
  }

  private drain(): void {
    for (;;) {
      const s = this.state;
      switch (s.kind) {
        case 'magic': {
          const b = this.take(BACKUP_MAGIC.length);
          if (b === null) return;
          if (!BACKUP_MAGIC.every((x, i) => b[i] === x)) throw new BackupFormatError('backup_bad_magic', 'not a Conflux backup (bad magic at the start)');
          this.state = { kind: 'header-length' };
          break;
        }
        case 'header-length': {
          const b = this.take(4);
          if (b === null) return;
          const bytes = view(b).getUint32(0);
          if (bytes === 0 || bytes > HEADER_JSON_BYTES_MAX) throw new BackupFormatError('backup_corrupt', `header length ${bytes} is out of range`);
          this.state = { kind: 'header', bytes };
          break;
        }
        case 'header': {
          const b = this.take(s.bytes);
          if (b === null) return;
          this.parsed = parseHeader(b);
          this.imageOffset = this.offset;
          this.state = { kind: 'frame-head' };
          break;
        }
        case 'frame-head': {
          const b = this.take(FRAME_HEADER_BYTES);
          if (b === null) return;
          const v = view(b);
          const type = v.getUint8(0);
          const length = v.getUint32(1);
          const crc = v.getUint32(5);
          const first = this.frames === 0;
          this.frames++;
          if (first !== (type === TYPE_HEADER)) throw new BackupFormatError('backup_corrupt', `image frame ${this.frames} has type ${type}: the image must start with exactly one HEADER frame`);
          if (type === TYPE_DATA) {
            if (length === 0) throw new BackupFormatError('backup_corrupt', 'empty DATA frame');
            this.dataFrames++;
            this.state = { kind: 'data-payload', left: length, crc: 0, expected: crc };
          } else if (type === TYPE_HEADER || type === TYPE_END) {
            if (length > SMALL_FRAME_BYTES_MAX) throw new BackupFormatError('backup_corrupt', `image frame of type ${type} claims ${length} bytes`);
            this.state = { kind: 'small-payload', type, bytes: length, crc };
          } else {
            throw new BackupFormatError('backup_corrupt', `unknown image frame type ${type}`);
          }
          break;
        }
        case 'small-payload': {
          const b = this.take(s.bytes);
          if (b === null) return;
          if (crc32(b) !== s.crc) throw new BackupFormatError('backup_corrupt', `checksum mismatch in the image's ${s.type === TYPE_HEADER ? 'HEADER' : 'END'} frame`);
          if (s.type === TYPE_HEADER) {
            this.checkImageHeader(b);
            this.state = { kind: 'frame-head' };
          } else {
            this.checkImageEnd(b);
            this.imageEnd = this.offset;
            this.digest = this.hash.digest('hex');
            this.state = { kind: 'trailer' };
          }
          break;
        }
        case 'data-payload': {
          const b = this.takeUpTo(s.left);
          if (b === null) return;
          s.crc = crc32(b, s.crc);
          s.left -= b.length;
          if (s.left === 0) {
            if (s.crc !== s.expected) throw new BackupFormatError('backup_corrupt', `checksum mismatch in image DATA frame ${this.dataFrames}`);
            this.state = { kind: 'frame-head' };
          }
          break;
        }
        case 'trailer': {
          const b = this.take(BACKUP_TRAILER_BYTES, false);
          if (b === null) return;
          if (!BACKUP_END_MAGIC.every((x, i) => b[i] === x)) throw new BackupFormatError('backup_corrupt', 'bytes after the image where the trailer should be');
          const stated = Buffer.from(b.subarray(BACKUP_END_MAGIC.length)).toString('hex');
          if (stated !== this.digest) throw new BackupFormatError('backup_checksum_mismatch', `SHA-256 mismatch: the trailer says ${stated}, the content hashes to ${this.digest}`);
          this.state = { kind: 'done' };
          if (this.pendingBytes > 0) throw new BackupFormatError('backup_corrupt', 'bytes after the trailer');
          return;
        }
        case 'done':
          return;
      }
    }
  }

  private checkImageHeader(payload: Uint8Array): void {
    const h = this.parsed as BackupHeader;
    const v = view(payload);
    if (payload.length !== 4 + 2 + 8 * 4 + 4 + 8) throw new BackupFormatError('backup_corrupt', 'image HEADER frame has the wrong size');
    if (IMAGE_MAGIC.some((b, i) => payload[i] !== b)) throw new BackupFormatError('backup_corrupt', 'image has a bad magic');
    const format = v.getUint16(4);
    if (format !== IMAGE_FORMAT) throw new BackupFormatError('backup_newer_format', `the store image has format ${format}; this binary reads ${IMAGE_FORMAT}`);
    const got = { index: u64(v, 6), term: u64(v, 14), revision: u64(v, 22), compactedRevision: u64(v, 30), keysWithHistory: v.getUint32(38), records: u64(v, 42) };
    for (const [k, value] of Object.entries(got)) {
      if (h[k as keyof typeof got] !== value) throw new BackupFormatError('backup_corrupt', `the image's ${k} (${value}) differs from the backup header's (${h[k as keyof typeof got]})`);
    }
  }

  private checkImageEnd(payload: Uint8Array): void {
    const h = this.parsed as BackupHeader;
    if (payload.length !== 16) throw new BackupFormatError('backup_corrupt', 'image END frame has the wrong size');
    const v = view(payload);
    const keys = v.getUint32(0);
    const records = u64(v, 4);
    const frames = v.getUint32(12);
    if (keys !== h.keysWithHistory || records !== h.records || frames !== this.dataFrames) {
      throw new BackupFormatError('backup_corrupt', `image END frame counts (${keys} keys, ${records} records, ${frames} frames) differ from what was read (${h.keysWithHistory}, ${h.records}, ${this.dataFrames})`);
    }
  }

  /** Exactly n bytes (hashed unless told otherwise), or null when fewer are buffered. */
  private take(n: number, hashed = true): Uint8Array | null {
    if (this.pendingBytes < n) return null;
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.pending[0] as Uint8Array;
      const used = Math.min(head.length, n - filled);
      out.set(head.subarray(0, used), filled);
      filled += used;
      this.consumeHead(used);
    }
    if (hashed) this.hash.update(out);
    this.offset += n;
    return out;
  }

  /** Up to n bytes of what is buffered (at least one), hashed; null when nothing is. */
  private takeUpTo(n: number): Uint8Array | null {
    if (this.pendingBytes === 0) return null;
    const head = this.pending[0] as Uint8Array;
    const used = Math.min(head.length, n);
    const out = head.subarray(0, used);
    this.consumeHead(used);
    this.hash.update(out);
    this.offset += used;
    return out;
  }

  private consumeHead(n: number): void {
    const head = this.pending[0] as Uint8Array;
    if (n === head.length) this.pending.shift();
    else this.pending[0] = head.subarray(n);
    this.pendingBytes -= n;
  }
}

function describe(s: State): string {
  switch (s.kind) {
    case 'magic':
    case 'header-length':
    case 'header':
      return 'header';
    case 'frame-head':
    case 'small-payload':
    case 'data-payload':
      return 'store image';
    case 'trailer':
      return 'checksum trailer';
    case 'done':
      return 'end';
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number): number {
  const high = v.getUint32(at);
  if (high > 0x1f_ffff) throw new BackupFormatError('backup_corrupt', 'an integer exceeds 2^53-1');
  return high * 0x1_0000_0000 + v.getUint32(at + 4);
}

const COUNT_FIELDS = ['index', 'term', 'revision', 'compactedRevision', 'keys', 'keysWithHistory', 'records'] as const;

function parseHeader(bytes: Uint8Array): BackupHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BackupFormatError('backup_corrupt', 'the header is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw new BackupFormatError('backup_corrupt', 'the header is not a JSON object');
  const r = raw as Record<string, unknown>;
  // The format comes first: a newer format may have changed every other field.
  if (typeof r.format !== 'number' || !Number.isInteger(r.format) || r.format < 1) throw new BackupFormatError('backup_corrupt', 'the header has no format version');
  if (r.format > BACKUP_FORMAT) {
    throw new BackupFormatError('backup_newer_format', `backup format ${r.format} was written by a newer Conflux; this binary reads format ${BACKUP_FORMAT}: use the newer version`);
  }
  for (const f of COUNT_FIELDS) {
    const v = r[f];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BackupFormatError('backup_corrupt', `the header's ${f} is not a count`);
  }
  for (const f of ['clusterId', 'nodeId', 'createdAt'] as const) {
    if (typeof r[f] !== 'string') throw new BackupFormatError('backup_corrupt', `the header's ${f} is not a string`);
  }
  if (r.consistency !== 'linearizable' && r.consistency !== 'serializable') throw new BackupFormatError('backup_corrupt', "the header's consistency is unknown");
  return {
    format: r.format,
    clusterId: r.clusterId as string,
    nodeId: r.nodeId as string,
    createdAt: r.createdAt as string,
    consistency: r.consistency,
    index: r.index as number,
    term: r.term as number,
    revision: r.revision as number,
    compactedRevision: r.compactedRevision as number,
    keys: r.keys as number,
    keysWithHistory: r.keysWithHistory as number,
    records: r.records as number,
  };
}
