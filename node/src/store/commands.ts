// The commands that travel in Raft `normal` entries, and their binary form.
//
// Layout (integers big-endian; u64 holds a safe integer, 0 < n < 2^53):
//
//   u8 format (1) | u8 op | u8 flags | op fields
//   put:      u16 keyLen | key | u16 ctLen | contentType | [u64 ifMatch] | value (rest of entry)
//   delete:   u16 keyLen | key | [u64 ifMatch]
//   rollback: u16 keyLen | key | u64 toRevision | [u64 ifMatch]
//   compact:  u64 revision
//
// The value is the raw remainder so that a 1 MiB value costs one copy, not a JSON/base64 pass.
// Every accepted byte string has exactly one decoding and re-encodes to the same bytes: the
// decoder refuses unknown flags, trailing bytes and non-canonical fields, so nodes never disagree
// about what an entry means.
//
// Value size is deliberately not limited here: the limit is a per-node flag, and a state machine
// that consulted it could diverge between nodes. The server checks it before proposing.
import { copyBytes } from './bytes.js';
import { InvalidCommandError, InvalidKeyError } from './errors.js';
import { MAX_KEY_BYTES, validateKey } from './keys.js';

export const COMMAND_FORMAT = 1;
/** Inclusive limit on a content type's length (ASCII, so bytes = characters). */
export const MAX_CONTENT_TYPE_BYTES = 256;

export interface PutCommand {
  type: 'put';
  key: string;
  value: Uint8Array;
  contentType: string;
  /** If-Match: apply only if the key exists with this modRevision. */
  ifMatchModRevision?: number;
  /** If-None-Match: *: apply only if the key does not exist. */
  ifNoneMatch?: boolean;
}

export interface DeleteCommand {
  type: 'delete';
  key: string;
  ifMatchModRevision?: number;
}

/** Write the value and content type the key had at `toRevision` as a new version. */
export interface RollbackCommand {
  type: 'rollback';
  key: string;
  toRevision: number;
  ifMatchModRevision?: number;
}

/** Drop history below `revision` (proposed by the retention policy so all nodes compact alike). */
export interface CompactCommand {
  type: 'compact';
  revision: number;
}

export type Command = PutCommand | DeleteCommand | RollbackCommand | CompactCommand;
export type CommandType = Command['type'];

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_ROLLBACK = 3;
const OP_COMPACT = 4;

const FLAG_IF_MATCH = 0b01;
const FLAG_IF_NONE_MATCH = 0b10;

const MAX_SAFE_HIGH = 0x1f_ffff; // high 32 bits of Number.MAX_SAFE_INTEGER

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD. ignoreBOM: a leading U+FEFF is part of the key.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Content types are HTTP field values: visible ASCII, space and tab; not empty. */
export function validateContentType(contentType: string): void {
  if (contentType.length === 0) throw new InvalidCommandError('content type must not be empty');
  if (contentType.length > MAX_CONTENT_TYPE_BYTES) {
    throw new InvalidCommandError(
      `content type is ${contentType.length} bytes; the limit is ${MAX_CONTENT_TYPE_BYTES}`,
    );
  }
  for (let i = 0; i < contentType.length; i++) {
    if (!isContentTypeByte(contentType.charCodeAt(i))) {
      throw new InvalidCommandError(`content type has a character outside visible ASCII at ${i}`);
    }
  }
}

function isContentTypeByte(c: number): boolean {
  return (c >= 0x20 && c <= 0x7e) || c === 0x09;
}

function validateRevisionField(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidCommandError(`${name} must be a positive safe integer, got ${String(n)}`);
  }
}

/**
 * The bytes of a command for a Raft entry. Throws `InvalidKeyError` for a bad key and
 * `InvalidCommandError` for any other field that could never apply, so that nothing invalid is
 * proposed.
 */
export function encodeCommand(cmd: Command): Uint8Array {
  switch (cmd.type) {
    case 'put': {
      validateKey(cmd.key);
      validateContentType(cmd.contentType);
      if (!(cmd.value instanceof Uint8Array)) {
        throw new InvalidCommandError('put value must be a Uint8Array');
      }
      const ifMatch = optionalRevision('ifMatchModRevision', cmd.ifMatchModRevision);
      const key = utf8Encoder.encode(cmd.key);
      let flags = 0;
      if (ifMatch !== undefined) flags |= FLAG_IF_MATCH;
      if (cmd.ifNoneMatch === true) flags |= FLAG_IF_NONE_MATCH;
      const size =
        3 + 2 + key.length + 2 + cmd.contentType.length + (ifMatch !== undefined ? 8 : 0) + cmd.value.length;
      const w = new Writer(size);
      w.header(OP_PUT, flags);
      w.bytes16(key);
      w.u16(cmd.contentType.length);
      for (let i = 0; i < cmd.contentType.length; i++) w.u8(cmd.contentType.charCodeAt(i));
      if (ifMatch !== undefined) w.u64(ifMatch);
      w.raw(cmd.value);
      return w.done();
    }
    case 'delete': {
      validateKey(cmd.key);
      const ifMatch = optionalRevision('ifMatchModRevision', cmd.ifMatchModRevision);
      const key = utf8Encoder.encode(cmd.key);
      const w = new Writer(3 + 2 + key.length + (ifMatch !== undefined ? 8 : 0));
      w.header(OP_DELETE, ifMatch !== undefined ? FLAG_IF_MATCH : 0);
      w.bytes16(key);
      if (ifMatch !== undefined) w.u64(ifMatch);
      return w.done();
    }
    case 'rollback': {
      validateKey(cmd.key);
      validateRevisionField('toRevision', cmd.toRevision);
      const ifMatch = optionalRevision('ifMatchModRevision', cmd.ifMatchModRevision);
      const key = utf8Encoder.encode(cmd.key);
      const w = new Writer(3 + 2 + key.length + 8 + (ifMatch !== undefined ? 8 : 0));
      w.header(OP_ROLLBACK, ifMatch !== undefined ? FLAG_IF_MATCH : 0);
      w.bytes16(key);
      w.u64(cmd.toRevision);
      if (ifMatch !== undefined) w.u64(ifMatch);
      return w.done();
    }
    case 'compact': {
      validateRevisionField('revision', cmd.revision);
      const w = new Writer(3 + 8);
      w.header(OP_COMPACT, 0);
      w.u64(cmd.revision);
      return w.done();
    }
    default: {
      const unknown: never = cmd;
      throw new InvalidCommandError(`unknown command type ${String((unknown as Command).type)}`);
    }
  }
}

function optionalRevision(name: string, n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  validateRevisionField(name, n);
  return n;
}

/**
 * Parse an entry's bytes. Throws only `InvalidCommandError`, whatever the input. Optional fields
 * are absent (not `undefined`, not `false`) when unset; `value` is a copy that never aliases
 * `data`, so a retained value does not pin the entry's buffer.
 */
export function decodeCommand(data: Uint8Array): Command {
  const r = new Reader(data);
  const format = r.u8('format');
  if (format !== COMMAND_FORMAT) {
    throw new InvalidCommandError(`unsupported command format ${format} (expected ${COMMAND_FORMAT})`);
  }
  const op = r.u8('op');
  const flags = r.u8('flags');
  switch (op) {
    case OP_PUT: {
      r.checkFlags(flags, FLAG_IF_MATCH | FLAG_IF_NONE_MATCH);
      const key = r.key();
      const contentType = r.contentType();
      const cmd: PutCommand = { type: 'put', key, value: new Uint8Array(0), contentType };
      if (flags & FLAG_IF_MATCH) cmd.ifMatchModRevision = r.revision('ifMatchModRevision');
      if (flags & FLAG_IF_NONE_MATCH) cmd.ifNoneMatch = true;
      cmd.value = r.rest();
      return cmd;
    }
    case OP_DELETE: {
      r.checkFlags(flags, FLAG_IF_MATCH);
      const cmd: DeleteCommand = { type: 'delete', key: r.key() };
      if (flags & FLAG_IF_MATCH) cmd.ifMatchModRevision = r.revision('ifMatchModRevision');
      r.end();
      return cmd;
    }
    case OP_ROLLBACK: {
      r.checkFlags(flags, FLAG_IF_MATCH);
      const key = r.key();
      const cmd: RollbackCommand = { type: 'rollback', key, toRevision: r.revision('toRevision') };
      if (flags & FLAG_IF_MATCH) cmd.ifMatchModRevision = r.revision('ifMatchModRevision');
      r.end();
      return cmd;
    }
    case OP_COMPACT: {
      r.checkFlags(flags, 0);
      const cmd: CompactCommand = { type: 'compact', revision: r.revision('revision') };
      r.end();
      return cmd;
    }
    default:
      throw new InvalidCommandError(`unknown command op ${op}`);
  }
}

class Writer {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  header(op: number, flags: number): void {
    this.u8(COMMAND_FORMAT);
    this.u8(op);
    this.u8(flags);
  }

  u8(n: number): void {
    this.buf[this.pos++] = n;
  }

  u16(n: number): void {
    this.view.setUint16(this.pos, n);
    this.pos += 2;
  }

  u64(n: number): void {
    this.view.setUint32(this.pos, Math.floor(n / 0x1_0000_0000));
    this.view.setUint32(this.pos + 4, n >>> 0);
    this.pos += 8;
  }

  bytes16(b: Uint8Array): void {
    this.u16(b.length);
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  done(): Uint8Array {
    if (this.pos !== this.buf.length) {
      throw new Error(`command writer size mismatch: wrote ${this.pos} of ${this.buf.length}`);
    }
    return this.buf;
  }
}

class Reader {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number, what: string): void {
    if (this.data.length - this.pos < n) {
      throw new InvalidCommandError(`command truncated: ${what} needs ${n} bytes at offset ${this.pos}`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.data[this.pos++] as number;
  }

  u16(what: string): number {
    this.need(2, what);
    const n = this.view.getUint16(this.pos);
    this.pos += 2;
    return n;
  }

  checkFlags(flags: number, allowed: number): void {
    if ((flags & ~allowed) !== 0) {
      throw new InvalidCommandError(`command has unknown flags 0x${flags.toString(16)}`);
    }
  }

  revision(what: string): number {
    this.need(8, what);
    const high = this.view.getUint32(this.pos);
    const low = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    if (high > MAX_SAFE_HIGH) throw new InvalidCommandError(`${what} exceeds 2^53-1`);
    const n = high * 0x1_0000_0000 + low;
    if (n < 1) throw new InvalidCommandError(`${what} must be positive`);
    return n;
  }

  key(): string {
    const length = this.u16('key length');
    if (length === 0 || length > MAX_KEY_BYTES) {
      throw new InvalidCommandError(`key length ${length} is outside 1..${MAX_KEY_BYTES}`);
    }
    this.need(length, 'key');
    let key: string;
    try {
      key = utf8Decoder.decode(this.data.subarray(this.pos, this.pos + length));
    } catch (err) {
      throw new InvalidCommandError('key is not valid UTF-8', { cause: err });
    }
    this.pos += length;
    try {
      validateKey(key);
    } catch (err) {
      if (err instanceof InvalidKeyError) {
        throw new InvalidCommandError(`invalid key: ${err.message}`, { cause: err });
      }
      throw err;
    }
    return key;
  }

  contentType(): string {
    const length = this.u16('content type length');
    if (length === 0 || length > MAX_CONTENT_TYPE_BYTES) {
      throw new InvalidCommandError(
        `content type length ${length} is outside 1..${MAX_CONTENT_TYPE_BYTES}`,
      );
    }
    this.need(length, 'content type');
    let s = '';
    for (let i = 0; i < length; i++) {
      const c = this.data[this.pos + i] as number;
      if (!isContentTypeByte(c)) {
        throw new InvalidCommandError(`content type has a byte outside visible ASCII at ${i}`);
      }
      s += String.fromCharCode(c);
    }
    this.pos += length;
    return s;
  }

  rest(): Uint8Array {
    const value = copyBytes(this.data.subarray(this.pos));
    this.pos = this.data.length;
    return value;
  }

  end(): void {
    if (this.pos !== this.data.length) {
      throw new InvalidCommandError(`command has ${this.data.length - this.pos} trailing bytes`);
    }
  }
}
