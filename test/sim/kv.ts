// The simulator's state machine: a tiny key/value map with put and compare-and-set, encoded as
// JSON in entry data. It also remembers which client operation each write came from, so the
// checkers can tell a lost or twice-applied write from a merely slow one.
import type { Entry } from '../../node/src/raft/types.js';

export type KvCommand =
  | { op: 'put'; id: number; key: string; value: string }
  | { op: 'cas'; id: number; key: string; expected: string | null; value: string };

export interface KvResult {
  /** For a put always true; for a CAS whether it matched. */
  ok: boolean;
  opId: number;
}

/** An immutable image of the state, as a snapshot carries it. */
export interface KvImage {
  readonly index: number;
  readonly entries: ReadonlyArray<readonly [string, string]>;
  /** Client operation id -> the log index that applied it. */
  readonly ops: ReadonlyArray<readonly [number, number]>;
  /** Rolling digest of every entry applied up to `index` (see `chain`). */
  readonly chain: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// Entries travel by reference between simulated nodes; decode each payload once.
const textCache = new WeakMap<Uint8Array, string>();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function entryText(data: Uint8Array): string {
  let text = textCache.get(data);
  if (text === undefined) {
    text = decoder.decode(data);
    textCache.set(data, text);
  }
  return text;
}

export function decodeCommand(data: Uint8Array): KvCommand | null {
  try {
    const v = JSON.parse(entryText(data)) as Partial<KvCommand>;
    if ((v.op === 'put' || v.op === 'cas') && typeof v.id === 'number' && typeof v.key === 'string') {
      return v as KvCommand;
    }
  } catch {
    // not a command: the state machine ignores it (and the checkers compare bytes anyway)
  }
  return null;
}

/** What makes two entries "the same entry" for the safety checkers. */
export function fingerprint(entry: Entry): string {
  return `${entry.term}/${entry.kind}/${entryText(entry.data)}`;
}

/** FNV-1a over the previous chain value and the entry fingerprint. */
export function chain(previous: number, entryFingerprint: string): number {
  let h = (0x811c9dc5 ^ previous) >>> 0;
  for (let i = 0; i < entryFingerprint.length; i++) h = Math.imul(h ^ entryFingerprint.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Kv {
  private data = new Map<string, string>();
  private ops = new Map<number, number>();
  private appliedIndex = 0;
  private chainValue = 0;

  static restore(image: KvImage): Kv {
    const kv = new Kv();
    kv.data = new Map(image.entries);
    kv.ops = new Map(image.ops);
    kv.appliedIndex = image.index;
    kv.chainValue = image.chain;
    return kv;
  }

  index(): number {
    return this.appliedIndex;
  }

  chain(): number {
    return this.chainValue;
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /** Log index at which client operation `opId` was applied, if it was. */
  appliedAt(opId: number): number | undefined {
    return this.ops.get(opId);
  }

  /**
   * Applies one committed entry. Throws if the index is not the next one, or if a client operation
   * is applied a second time: either means the driver contract or the log is broken.
   */
  apply(entry: Entry): KvResult | null {
    if (entry.index !== this.appliedIndex + 1) {
      throw new Error(`apply out of order: index ${entry.index} after ${this.appliedIndex}`);
    }
    this.appliedIndex = entry.index;
    this.chainValue = chain(this.chainValue, fingerprint(entry));
    if (entry.kind !== 'normal') return null;
    const cmd = decodeCommand(entry.data);
    if (cmd === null) return null;
    const before = this.ops.get(cmd.id);
    if (before !== undefined) {
      throw new Error(`client operation ${cmd.id} applied twice (indexes ${before} and ${entry.index})`);
    }
    this.ops.set(cmd.id, entry.index);
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value);
      return { ok: true, opId: cmd.id };
    }
    const current = this.data.get(cmd.key) ?? null;
    if (current !== cmd.expected) return { ok: false, opId: cmd.id };
    this.data.set(cmd.key, cmd.value);
    return { ok: true, opId: cmd.id };
  }

  image(): KvImage {
    return Object.freeze({
      index: this.appliedIndex,
      entries: Object.freeze([...this.data.entries()]),
      ops: Object.freeze([...this.ops.entries()]),
      chain: this.chainValue,
    });
  }
}
