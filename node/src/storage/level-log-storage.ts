// The durable Raft log on LevelDB (classic-level). Layout:
//   'e' + u64 big-endian index -> entry (entry-codec.ts: CRC32C, index, term, prevTerm, payload)
//   'h'                        -> state record: hard state + log summary, rewritten every batch
//   'm'                        -> snapshot record: purge boundary + snapshot meta
//
// Every mutation becomes part of ONE LevelDB batch written with `sync: true` (fsync of LevelDB's
// write-ahead log); mutations that arrive while a batch is being synced are merged into the next
// one (group commit). Mutations are validated and planned against the "tentative" meta (every
// accepted mutation), reads are answered from the "durable" meta (every synced mutation).
//
// At open, every record is read and checked (checksums, keys, contiguity, the prevTerm chain, the
// summary in 'h'): a damaged or missing entry stops the open with a CorruptionError naming the
// directory and index. Reads check again, so a later bit flip is never served either. LevelDB
// itself skips damaged records of its write-ahead log when it replays it; it says so only in its
// info LOG, which is checked after open (see WAL_DAMAGE_MARKER).
//
// Limits: a fsync covers LevelDB's write-ahead log; LevelDB does not fsync the directory when it
// starts a new log file, so a power cut right after a log rotation could lose that file's entry
// (a SIGKILL cannot: the crash tests kill processes, they do not cut power).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Entry, SnapshotMeta } from '../raft/types.js';
import { decodeEntry, encodeEntry, entryKey, entryKeyIndex, KEY_ENTRY_PREFIX, verifiedEntry } from './entry-codec.js';
import { ClosedError, CorruptionError, DataDirError, StorageFailedError } from './errors.js';
import { GroupCommit } from './group-commit.js';
import {
  decodeRecord,
  encodeRecord,
  isSnapshotRecord,
  isStateRecord,
  LEVEL_FORMAT,
  SNAPSHOT_KEY,
  STATE_KEY,
} from './level-records.js';
import type { SnapshotRecord, StateRecord } from './level-records.js';
import { checkRange, firstIndexOf, initialMeta, planInstall, planPurge, planWrite, termOf } from './log-meta.js';
import type { LogMeta, MutationPlan, TermRun } from './log-meta.js';
import { entryBytes } from './log-storage.js';
import type { LogState, LogStorage, LogWrite } from './log-storage.js';
import { mkdirDurable, writeFileDurable } from './durable-fs.js';
import { ReadWriteGate } from './rw-gate.js';

type Db = ClassicLevel<Uint8Array, Uint8Array>;
type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

interface Mutation {
  ops: BatchOp[];
  /** The meta once this mutation is applied. */
  meta: LogMeta;
  snapshotChanged: boolean;
  destructive: boolean;
}

const READ_BATCH = 256;

export class LevelLogStorage implements LogStorage {
  private durable: LogMeta;
  private tentative: LogMeta;
  private closed = false;
  private flushes = 0;
  private mutations = 0;
  private readonly gate = new ReadWriteGate();
  private readonly queue = new GroupCommit<Mutation>((items) => this.flush(items));

  private constructor(
    private readonly db: Db,
    /** The LevelDB directory; named in every error. */
    readonly dir: string,
    meta: LogMeta,
  ) {
    this.durable = meta;
    this.tentative = meta;
  }

  /**
   * Opens (creating if missing) the log in `dir` and verifies every stored record.
   * Rejects with CorruptionError when anything fails a check; the database is closed again then.
   */
  static async open(dir: string): Promise<LevelLogStorage> {
    await mkdirDurable(dir);
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      // Log payloads are short-lived (purged after each snapshot) and often small: compressing
      // them costs CPU on the write path for little disk.
      compression: false,
    });
    try {
      await db.open();
    } catch (err) {
      throw levelError(dir, err, 'cannot open the log database');
    }
    try {
      await checkWalRecovery(dir);
      const meta = await scan(db, dir);
      return new LevelLogStorage(db, dir, meta);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  async load(): Promise<LogState> {
    this.checkUsable();
    return this.gate.shared(async () => {
      const meta = this.durable;
      const from = (meta.snapshot?.index ?? 0) + 1;
      return {
        hardState: { ...meta.hardState },
        snapshot: meta.snapshot === null ? null : structuredClone(meta.snapshot),
        entries: await this.read(meta, from, meta.lastIndex + 1, Infinity),
      };
    });
  }

  firstIndex(): number {
    return firstIndexOf(this.durable);
  }

  lastIndex(): number {
    return this.durable.lastIndex;
  }

  async entries(lo: number, hiExclusive: number, maxBytes = Infinity): Promise<Entry[]> {
    this.checkUsable();
    return this.gate.shared(async () => {
      const meta = this.durable;
      checkRange(meta, lo, hiExclusive);
      return this.read(meta, lo, hiExclusive, maxBytes);
    });
  }

  async term(index: number): Promise<number> {
    this.checkUsable();
    return termOf(this.durable, index);
  }

  async write(batch: LogWrite): Promise<void> {
    this.checkUsable();
    const before = this.tentative;
    const plan = planWrite(before, batch);
    const puts: BatchOp[] = [];
    if (batch.entries.length > 0) {
      let prevTerm = termOf(before, batch.entries[0]!.index - 1);
      for (const entry of batch.entries) {
        puts.push({ type: 'put', key: entryKey(entry.index), value: encodeEntry(entry, prevTerm) });
        prevTerm = entry.term;
      }
    }
    return this.submit(plan, puts, false);
  }

  async purge(throughIndex: number, snapshot: SnapshotMeta): Promise<void> {
    this.checkUsable();
    return this.submit(planPurge(this.tentative, throughIndex, snapshot), [], true);
  }

  async installSnapshot(snapshot: SnapshotMeta): Promise<void> {
    this.checkUsable();
    return this.submit(planInstall(this.tentative, snapshot), [], true);
  }

  /** Counters for metrics: `flushes` is the number of synced batches (fsyncs), `mutations` what they held. */
  stats(): { flushes: number; mutations: number } {
    return { flushes: this.flushes, mutations: this.mutations };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    await this.gate.exclusive(() => this.db.close());
  }

  private submit(plan: MutationPlan, puts: BatchOp[], snapshotChanged: boolean): Promise<void> {
    const ops: BatchOp[] = [];
    if (plan.remove !== null) {
      // Keys that the new entries overwrite need no delete; the others in the range do.
      const keepFrom = firstIndexOf(plan.meta);
      const keepThrough = plan.meta.lastIndex;
      for (let i = plan.remove.from; i <= plan.remove.through; i++) {
        if (i < keepFrom || i > keepThrough) ops.push({ type: 'del', key: entryKey(i) });
      }
    }
    for (const put of puts) ops.push(put);
    this.tentative = plan.meta;
    return this.queue.submit({ ops, meta: plan.meta, snapshotChanged, destructive: plan.destructive });
  }

  private async flush(items: Mutation[]): Promise<void> {
    const meta = items[items.length - 1]!.meta;
    const ops: BatchOp[] = items.length === 1 ? items[0]!.ops : items.flatMap((m) => m.ops);
    ops.push({ type: 'put', key: STATE_KEY, value: encodeRecord(stateRecord(meta)) });
    if (items.some((m) => m.snapshotChanged)) {
      ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeRecord(snapshotRecord(meta)) });
    }
    const commit = async (): Promise<void> => {
      try {
        await writeSynced(this.db, ops);
      } catch (err) {
        throw new StorageFailedError(this.dir, err);
      }
      this.durable = meta;
      this.flushes++;
      this.mutations += items.length;
    };
    if (items.some((m) => m.destructive)) await this.gate.exclusive(commit);
    else await commit();
  }

  /** Entries in [lo, hiExclusive) as `meta` describes them, every one verified. */
  private async read(meta: LogMeta, lo: number, hiExclusive: number, maxBytes: number): Promise<Entry[]> {
    const out: Entry[] = [];
    if (lo >= hiExclusive) return out;
    let expected = lo;
    let prevTerm = termOf(meta, lo - 1);
    let bytes = 0;
    const iterator = this.db.iterator({ gte: entryKey(lo), lt: entryKey(hiExclusive) });
    try {
      for (;;) {
        let page: [Uint8Array, Uint8Array][];
        try {
          page = await iterator.nextv(READ_BATCH);
        } catch (err) {
          throw levelError(this.dir, err, `cannot read log entries from index ${expected}`);
        }
        if (page.length === 0) break;
        for (const [key, value] of page) {
          const entry = this.verify(meta, key, value, expected, prevTerm);
          bytes += entryBytes(entry);
          if (out.length > 0 && bytes > maxBytes) return out;
          out.push(entry);
          prevTerm = entry.term;
          expected++;
        }
      }
    } finally {
      await iterator.close().catch(() => undefined);
    }
    if (expected < hiExclusive) throw new CorruptionError({ dir: this.dir, index: expected }, 'entry is missing');
    return out;
  }

  private verify(meta: LogMeta, key: Uint8Array, value: Uint8Array, expected: number, prevTerm: number): Entry {
    const keyIndex = entryKeyIndex(key);
    if (keyIndex !== expected) {
      throw new CorruptionError({ dir: this.dir, index: expected }, keyIndex === null ? 'unexpected key in the entry range' : 'entry is missing');
    }
    return verifiedEntry(this.dir, meta, value, expected, prevTerm);
  }

  private checkUsable(): void {
    if (this.closed) throw new ClosedError(`log storage ${this.dir}`);
  }
}

/**
 * One atomic, synced LevelDB batch. A chained batch rather than `db.batch(ops, { sync: true })`:
 * abstract-level copies the options into every operation of an array batch, which turns each op
 * into a dictionary-mode object (about 1.5 KB of garbage per entry, measured) on every write.
 */
async function writeSynced(db: Db, ops: readonly BatchOp[]): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (err) {
    await batch.close();
    throw err;
  }
  await batch.write({ sync: true });
}

function stateRecord(meta: LogMeta): StateRecord {
  return {
    v: LEVEL_FORMAT,
    hardState: meta.hardState,
    firstIndex: firstIndexOf(meta),
    lastIndex: meta.lastIndex,
    lastTerm: termOf(meta, meta.lastIndex),
  };
}

function snapshotRecord(meta: LogMeta): SnapshotRecord {
  return { v: LEVEL_FORMAT, boundary: meta.boundary, snapshot: meta.snapshot };
}

/**
 * Reads and checks everything stored; returns the meta it describes. Every entry is decoded (so
 * its checksum is verified) but not kept.
 */
async function scan(db: Db, dir: string): Promise<LogMeta> {
  const corrupt = (detail: string, index?: number): CorruptionError =>
    new CorruptionError(index === undefined ? { dir } : { dir, index }, detail);
  const state = await getRecord(db, dir, STATE_KEY, 'state');
  const snap = await getRecord(db, dir, SNAPSHOT_KEY, 'snapshot');
  if (state !== undefined && !isStateRecord(state)) throw corrupt('the state record is malformed');
  if (snap !== undefined && !isSnapshotRecord(snap)) throw corrupt('the snapshot record is malformed');
  for (const record of [state, snap]) {
    if (record !== undefined && record.v > LEVEL_FORMAT) {
      throw new DataDirError(dir, 'newer_format', `log format ${record.v} is newer than this binary's (${LEVEL_FORMAT}); run a newer Conflux`);
    }
  }
  const initial = initialMeta();
  const boundary = snap?.boundary ?? initial.boundary;
  const snapshot = snap?.snapshot ?? null;

  const runs: TermRun[] = [];
  let expected = boundary.index + 1;
  let prevTerm = boundary.term;
  const iterator = db.iterator();
  try {
    for (;;) {
      let page: [Uint8Array, Uint8Array][];
      try {
        page = await iterator.nextv(READ_BATCH);
      } catch (err) {
        throw levelError(dir, err, `cannot read the log from index ${expected}`);
      }
      if (page.length === 0) break;
      for (const [key, value] of page) {
        if (key[0] !== KEY_ENTRY_PREFIX) {
          if (key.length === 1 && (key[0] === STATE_KEY[0] || key[0] === SNAPSHOT_KEY[0])) continue;
          throw corrupt(`unknown key ${Buffer.from(key).toString('hex')}`);
        }
        const index = entryKeyIndex(key);
        if (index === null) throw corrupt(`malformed entry key ${Buffer.from(key).toString('hex')}`);
        if (index !== expected) {
          throw index < expected ? corrupt('entry below the first index survived a purge', index) : corrupt('entry is missing', expected);
        }
        const decoded = decodeEntry(value);
        if (!decoded.ok) throw corrupt(decoded.problem, index);
        const { entry } = decoded;
        if (entry.index !== index) throw corrupt(`the record stored under this index holds index ${entry.index}`, index);
        if (decoded.prevTerm !== prevTerm || entry.term < prevTerm) {
          throw corrupt(`term ${entry.term} after term ${decoded.prevTerm} does not follow the entry before it (term ${prevTerm})`, index);
        }
        if (runs.length === 0 || runs[runs.length - 1]!.term !== entry.term) runs.push({ index, term: entry.term });
        prevTerm = entry.term;
        expected++;
      }
    }
  } finally {
    await iterator.close().catch(() => undefined);
  }
  const lastIndex = expected - 1;
  const meta: LogMeta = { hardState: state?.hardState ?? initial.hardState, snapshot, boundary, lastIndex, runs };

  if (state === undefined) {
    if (lastIndex > boundary.index || snap !== undefined) throw corrupt('the state record is missing');
    return meta;
  }
  if (state.firstIndex !== boundary.index + 1) {
    throw corrupt(`the state record says the log starts at ${state.firstIndex}, the snapshot record at ${boundary.index + 1}`);
  }
  if (state.lastIndex !== lastIndex) {
    throw state.lastIndex > lastIndex
      ? corrupt(`entry is missing (the state record says the log ends at ${state.lastIndex})`, lastIndex + 1)
      : corrupt(`entries beyond the recorded last index ${state.lastIndex}`, state.lastIndex + 1);
  }
  if (state.lastTerm !== prevTerm) throw corrupt(`the last entry has term ${prevTerm}, the state record says ${state.lastTerm}`, lastIndex);
  if (snapshot !== null && (snapshot.index < boundary.index || snapshot.index > lastIndex || termOf(meta, snapshot.index) !== snapshot.term)) {
    throw corrupt(`the snapshot meta (index ${snapshot.index}, term ${snapshot.term}) does not fit the log`);
  }
  return meta;
}

/**
 * Written when LevelDB reports, while replaying its write-ahead log at open, that it skipped
 * damaged records. LevelDB then carries on without them and deletes that log file, so the loss
 * would be silent (and invisible at the next open): a synced, acknowledged batch may be gone. The
 * file keeps the node from starting until an operator decides.
 */
export const WAL_DAMAGE_MARKER = 'CONFLUX-WAL-DAMAGED';

async function checkWalRecovery(dir: string): Promise<void> {
  const marker = join(dir, WAL_DAMAGE_MARKER);
  let info = '';
  try {
    info = await readFile(join(dir, 'LOG'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const drops = info.split('\n').filter((line) => line.includes(': dropping '));
  if (drops.length > 0) await writeFileDurable(marker, new TextEncoder().encode(`${drops.join('\n')}\n`));
  let report: string;
  try {
    report = await readFile(marker, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  throw new CorruptionError(
    { dir, file: WAL_DAMAGE_MARKER },
    `LevelDB skipped damaged records of its write-ahead log while recovering (${report.trim().split('\n')[0]}); ` +
      `acknowledged entries may be lost. Rebuild this node from its peers (remove it and add it back with an empty data ` +
      `directory), or delete ${marker} to accept the loss and start with what is left.`,
  );
}

async function getRecord(db: Db, dir: string, key: Uint8Array, name: string): Promise<unknown> {
  let value: Uint8Array | undefined;
  try {
    value = await db.get(key);
  } catch (err) {
    throw levelError(dir, err, `cannot read the ${name} record`);
  }
  if (value === undefined) return undefined;
  const decoded = decodeRecord(value);
  if (typeof decoded === 'string') throw new CorruptionError({ dir }, `${name} record: ${decoded}`);
  return decoded;
}

/** LevelDB's own corruption reports become CorruptionError; other errors keep their identity. */
function levelError(dir: string, err: unknown, what: string): Error {
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown } }).cause;
  if (code === 'LEVEL_CORRUPTION' || cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(String((err as Error).message))) {
    return new CorruptionError({ dir }, `${what}: ${(err as Error).message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}
