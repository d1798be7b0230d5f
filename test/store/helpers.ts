// Shared test fixtures for the store: a tiny "driver" that turns commands into Raft entries.
import type { Entry, SnapshotMeta } from '../../node/src/raft/types.js';
import { seededRng, type Rng } from '../../node/src/raft/rng.js';
import { encodeCommand, type Command } from '../../node/src/store/commands.js';
import { KvStore } from '../../node/src/store/kv-store.js';
import type { CommandResult } from '../../node/src/store/types.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export function meta(index: number, term = 1): SnapshotMeta {
  return { index, term, membership: { members: [] } };
}

/** Feeds a store entries with consecutive indexes, the way the driver would. */
export class Feeder {
  constructor(readonly store: KvStore = new KvStore()) {}

  private nextIndex(): number {
    return this.store.appliedIndex() + 1;
  }

  entry(kind: Entry['kind'], data: Uint8Array): Entry {
    return { index: this.nextIndex(), term: 1, kind, data };
  }

  run(cmd: Command): CommandResult {
    return this.raw(encodeCommand(cmd));
  }

  raw(data: Uint8Array): CommandResult {
    const [result] = this.store.apply([this.entry('normal', data)]);
    if (result === null || result === undefined) throw new Error('normal entry gave no result');
    return result;
  }

  /** Applies several commands as one batch (one notification to watchers). */
  batch(cmds: Command[]): CommandResult[] {
    const first = this.nextIndex();
    const entries = cmds.map((c, i) => ({
      index: first + i,
      term: 1,
      kind: 'normal' as const,
      data: encodeCommand(c),
    }));
    return this.store.apply(entries) as CommandResult[];
  }

  put(
    key: string,
    value: string | Uint8Array,
    opts: { contentType?: string; ifMatch?: number; ifNoneMatch?: boolean } = {},
  ): CommandResult {
    const cmd: Command = {
      type: 'put',
      key,
      value: typeof value === 'string' ? enc(value) : value,
      contentType: opts.contentType ?? 'text/plain',
    };
    if (opts.ifMatch !== undefined) cmd.ifMatchModRevision = opts.ifMatch;
    if (opts.ifNoneMatch === true) cmd.ifNoneMatch = true;
    return this.run(cmd);
  }

  del(key: string, ifMatch?: number): CommandResult {
    return this.run(
      ifMatch === undefined ? { type: 'delete', key } : { type: 'delete', key, ifMatchModRevision: ifMatch },
    );
  }

  rollback(key: string, toRevision: number, ifMatch?: number): CommandResult {
    return this.run(
      ifMatch === undefined
        ? { type: 'rollback', key, toRevision }
        : { type: 'rollback', key, toRevision, ifMatchModRevision: ifMatch },
    );
  }

  compact(revision: number): CommandResult {
    return this.run({ type: 'compact', revision });
  }

  blank(): null {
    const [result] = this.store.apply([this.entry('blank', new Uint8Array(0))]);
    return result as null;
  }
}

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The bytes re-chunked the way a transport might (fixed size, or random sizes from `rng`). */
export async function* rechunk(
  bytes: Uint8Array,
  size: number | Rng,
): AsyncGenerator<Uint8Array, void, undefined> {
  let off = 0;
  while (off < bytes.length) {
    const n = typeof size === 'number' ? size : size.int(1, 5000);
    // Copies, so a test cannot pass because the reader aliased the writer's buffer.
    yield bytes.slice(off, off + n);
    off += n;
  }
}

export function snapshotBytes(store: KvStore): Promise<Uint8Array> {
  return collect(store.snapshot(meta(store.appliedIndex())));
}

/** Keys over a small alphabet that exercises byte order: ASCII, BMP above the surrogates, astral. */
const KEY_PIECES = ['a', 'b', 'z', 'é', '\uE000', '\uFFFD', '😀', '𝄞', 'key', '7'];

export function randomKey(rng: Rng, prefixes: string[] = ['app', 'cfg', 'ü']): string {
  const segments = 1 + rng.int(0, 3);
  const parts = [prefixes[rng.int(0, prefixes.length)] as string];
  for (let s = 0; s < segments; s++) {
    let seg = '';
    const n = 1 + rng.int(0, 3);
    for (let i = 0; i < n; i++) seg += KEY_PIECES[rng.int(0, KEY_PIECES.length)];
    parts.push(seg);
  }
  return parts.join('/');
}

export function randomBytes(rng: Rng, maxLength: number): Uint8Array {
  const b = new Uint8Array(rng.int(0, maxLength + 1));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 256);
  return b;
}

export { seededRng, type Rng };

/**
 * A random workload of puts, deletes, rollbacks, conditional writes and compactions over a
 * small key space (so that keys get long histories and are deleted and re-created).
 */
export function randomCommand(rng: Rng, store: KvStore, keys: string[]): Command {
  const key = keys[rng.int(0, keys.length)] as string;
  const roll = rng.next();
  const rev = store.revision();
  if (roll < 0.55) {
    const cmd: Command = {
      type: 'put',
      key,
      value: randomBytes(rng, 40),
      contentType: ['text/plain', 'application/json', 'application/octet-stream'][rng.int(0, 3)] as string,
    };
    const cur = store.get(key);
    if (rng.next() < 0.1) cmd.ifNoneMatch = true;
    if (rng.next() < 0.15) cmd.ifMatchModRevision = cur !== null && rng.next() < 0.7 ? cur.modRevision : 1 + rng.int(0, rev + 2);
    return cmd;
  }
  if (roll < 0.8) return { type: 'delete', key };
  if (roll < 0.95 && rev > 0) {
    return { type: 'rollback', key, toRevision: 1 + rng.int(0, rev) };
  }
  if (rev > 0) {
    const floor = Math.max(1, store.compactedRevision());
    // Compacting right at the head is the edge where the newest change supersedes old records.
    const revision = rng.next() < 0.3 ? rev : floor + rng.int(0, rev - floor + 1);
    return { type: 'compact', revision };
  }
  return { type: 'delete', key };
}
