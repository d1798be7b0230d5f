// The bookkeeping both log storages share: where the log starts and ends, the term of every index
// (as runs, since terms change rarely), the hard state and the snapshot meta. Pure functions that
// validate a mutation and return the next meta, so that the WAL, LevelDB and memory implementations
// accept and refuse exactly the same things.
import type { Entry, EntryKind, HardState, SnapshotMeta } from '../raft/types.js';
import { CompactedError, InvalidWriteError, UnavailableError } from './errors.js';
import type { LogWrite } from './log-storage.js';

export interface IndexTerm {
  index: number;
  term: number;
}

/** Every index from `index` up to the next run's index (or lastIndex) has term `term`. */
export type TermRun = IndexTerm;

export interface LogMeta {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta | null;
  /**
   * The index just before the first stored entry, and its term.
   * Invariant: boundary.index <= snapshot.index when there is a snapshot; {0, 0} when there is none.
   */
  readonly boundary: IndexTerm;
  /** Invariant: lastIndex >= boundary.index; lastIndex >= snapshot.index. */
  readonly lastIndex: number;
  /**
   * Invariant: runs[0].index === boundary.index + 1 when the log is not empty, [] when it is;
   * indexes and terms strictly increase; runs[0].term >= boundary.term.
   */
  readonly runs: readonly TermRun[];
}

export const ENTRY_KINDS: readonly EntryKind[] = ['normal', 'blank', 'config'];

export function initialMeta(): LogMeta {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, boundary: { index: 0, term: 0 }, lastIndex: 0, runs: [] };
}

export function firstIndexOf(meta: LogMeta): number {
  return meta.boundary.index + 1;
}

/** Throws CompactedError / UnavailableError as LogStorage.term documents. */
export function termOf(meta: LogMeta, index: number): number {
  if (!isCount(index)) throw new RangeError(`term(${index}): not a log index`);
  if (index === meta.boundary.index) return meta.boundary.term;
  if (index < meta.boundary.index) throw new CompactedError(index, firstIndexOf(meta));
  if (index > meta.lastIndex) throw new UnavailableError(index, meta.lastIndex);
  const runs = meta.runs;
  let lo = 0;
  let hi = runs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (runs[mid]!.index <= index) lo = mid;
    else hi = mid - 1;
  }
  return runs[lo]!.term;
}

/** Throws CompactedError / UnavailableError as LogStorage.entries documents. */
export function checkRange(meta: LogMeta, lo: number, hiExclusive: number): void {
  if (!isCount(lo) || !isCount(hiExclusive) || hiExclusive < lo) {
    // A malformed range is a bug in the caller, not an outcome it can handle.
    throw new RangeError(`entries(${lo}, ${hiExclusive}): not a range of log indexes`);
  }
  if (lo < firstIndexOf(meta)) throw new CompactedError(lo, firstIndexOf(meta));
  if (hiExclusive > meta.lastIndex + 1) throw new UnavailableError(hiExclusive - 1, meta.lastIndex);
}

export interface MutationPlan {
  meta: LogMeta;
  /** Stored entries in [from, through] to delete before storing the new ones; null when none. */
  remove: { from: number; through: number } | null;
  /** True when entries that were readable change or disappear (not a pure append). */
  destructive: boolean;
}

export function planWrite(meta: LogMeta, write: LogWrite): MutationPlan {
  const hardState = write.hardState === null ? meta.hardState : checkHardState(meta.hardState, write.hardState);
  const entries = write.entries;
  if (entries.length === 0) return { meta: { ...meta, hardState }, remove: null, destructive: false };

  const head = entries[0]!;
  checkEntry(head);
  const first = firstIndexOf(meta);
  if (head.index < first) throw new CompactedError(head.index, first);
  if (head.index > meta.lastIndex + 1) {
    throw new InvalidWriteError(`write at index ${head.index} would leave a hole after last index ${meta.lastIndex}`);
  }
  if (meta.snapshot !== null && head.index <= meta.snapshot.index) {
    throw new InvalidWriteError(`write at index ${head.index} would rewrite entries covered by the snapshot at ${meta.snapshot.index}`);
  }
  const prevTerm = termOf(meta, head.index - 1);
  if (head.term < prevTerm) {
    throw new InvalidWriteError(`entry ${head.index} has term ${head.term}, below the term ${prevTerm} of the entry before it`);
  }

  // Runs strictly before head.index survive; the new entries extend them.
  const runs: TermRun[] = [];
  for (const run of meta.runs) {
    if (run.index >= head.index) break;
    runs.push(run);
  }
  let lastTerm = runs.length > 0 ? runs[runs.length - 1]!.term : -1;
  let expected = head.index;
  for (const entry of entries) {
    if (entry !== head) checkEntry(entry);
    if (entry.index !== expected) {
      throw new InvalidWriteError(`entries are not contiguous: index ${entry.index} where ${expected} was expected`);
    }
    if (entry.term !== lastTerm) {
      if (entry.term < lastTerm) {
        throw new InvalidWriteError(`entry ${entry.index} has term ${entry.term}, below the term ${lastTerm} before it`);
      }
      runs.push({ index: entry.index, term: entry.term });
      lastTerm = entry.term;
    }
    expected++;
  }
  const truncates = head.index <= meta.lastIndex;
  return {
    meta: { ...meta, hardState, lastIndex: expected - 1, runs },
    remove: truncates ? { from: head.index, through: meta.lastIndex } : null,
    destructive: truncates,
  };
}

export function planPurge(meta: LogMeta, throughIndex: number, snapshot: SnapshotMeta): MutationPlan {
  checkIndex(throughIndex, 'throughIndex');
  checkSnapshot(meta, snapshot);
  if (throughIndex > meta.lastIndex) throw new UnavailableError(throughIndex, meta.lastIndex);
  if (snapshot.index < throughIndex) {
    throw new InvalidWriteError(`purge through ${throughIndex} is not covered by the snapshot at ${snapshot.index}`);
  }
  if (snapshot.index > meta.lastIndex) {
    throw new InvalidWriteError(`snapshot at ${snapshot.index} is beyond last index ${meta.lastIndex}: use installSnapshot`);
  }
  const termThere = termOf(meta, snapshot.index);
  if (termThere !== snapshot.term) {
    throw new InvalidWriteError(`snapshot at ${snapshot.index} has term ${snapshot.term} but the log has term ${termThere} there`);
  }
  const newBoundary = Math.max(throughIndex, meta.boundary.index);
  const first = firstIndexOf(meta);
  const boundary = { index: newBoundary, term: termOf(meta, newBoundary) };
  const runs: TermRun[] = [];
  for (let i = 0; i < meta.runs.length; i++) {
    const run = meta.runs[i]!;
    const nextStart = i + 1 < meta.runs.length ? meta.runs[i + 1]!.index : meta.lastIndex + 1;
    if (nextStart <= newBoundary + 1) continue;
    runs.push(run.index <= newBoundary ? { index: newBoundary + 1, term: run.term } : run);
  }
  return {
    meta: { ...meta, snapshot: copySnapshot(snapshot), boundary, runs },
    remove: newBoundary >= first ? { from: first, through: newBoundary } : null,
    destructive: newBoundary >= first,
  };
}

export function planInstall(meta: LogMeta, snapshot: SnapshotMeta): MutationPlan {
  checkSnapshot(meta, snapshot);
  const first = firstIndexOf(meta);
  return {
    meta: {
      ...meta,
      snapshot: copySnapshot(snapshot),
      boundary: { index: snapshot.index, term: snapshot.term },
      lastIndex: snapshot.index,
      runs: [],
    },
    remove: meta.lastIndex >= first ? { from: first, through: meta.lastIndex } : null,
    destructive: true,
  };
}

function checkHardState(current: HardState, next: HardState): HardState {
  if (!isCount(next.term) || !isCount(next.commit) || !(next.vote === null || typeof next.vote === 'string')) {
    throw new InvalidWriteError(`malformed hard state ${JSON.stringify(next)}`);
  }
  if (next.term < current.term) {
    throw new InvalidWriteError(`hard state term ${next.term} is below the stored term ${current.term}`);
  }
  if (next.term === current.term && current.vote !== null && next.vote !== current.vote) {
    // Changing a vote within a term is a double vote: two leaders could be elected (§5.2).
    throw new InvalidWriteError(`vote for ${String(next.vote)} in term ${next.term}, which already has a vote for ${current.vote}`);
  }
  return { term: next.term, vote: next.vote, commit: next.commit };
}

function checkEntry(entry: Entry): void {
  if (!isCount(entry.index) || entry.index < 1 || !isCount(entry.term) || entry.term < 1) {
    throw new InvalidWriteError(`malformed entry: index ${entry.index}, term ${entry.term}`);
  }
  if (!ENTRY_KINDS.includes(entry.kind)) throw new InvalidWriteError(`entry ${entry.index} has unknown kind ${String(entry.kind)}`);
  if (!(entry.data instanceof Uint8Array)) throw new InvalidWriteError(`entry ${entry.index} has no byte data`);
}

function checkSnapshot(meta: LogMeta, snapshot: SnapshotMeta): void {
  if (!isCount(snapshot.index) || snapshot.index < 1 || !isCount(snapshot.term) || snapshot.term < 1) {
    throw new InvalidWriteError(`malformed snapshot meta: index ${snapshot.index}, term ${snapshot.term}`);
  }
  if (meta.snapshot !== null && snapshot.index < meta.snapshot.index) {
    throw new InvalidWriteError(`snapshot at ${snapshot.index} is older than the recorded snapshot at ${meta.snapshot.index}`);
  }
}

function checkIndex(index: number, name: string): void {
  if (!isCount(index)) throw new InvalidWriteError(`${name} must be a non-negative integer, got ${index}`);
}

export function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function copySnapshot(snapshot: SnapshotMeta): SnapshotMeta {
  return structuredClone(snapshot);
}
