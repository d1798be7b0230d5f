// The workload of the crash tests (test/storage/crash.test.ts), shared by the child process that
// writes and the parent that checks. Everything an operation writes is a function of the
// operation, so the parent can rebuild the exact state after any prefix of the operations the
// child announced, and check that what it finds on disk after SIGKILL is one of them, no older
// than the last one acknowledged.
import type { Entry, EntryKind, HardState, SnapshotMeta } from '../../raft/types.js';
import type { Rng } from '../../raft/rng.js';
import { join } from 'node:path';
import { LevelLogStorage } from '../level-log-storage.js';
import type { LogStorage } from '../log-storage.js';
import { WalLogStorage } from '../wal-log-storage.js';

/** The log storages the crash tests cover: the WAL nodes use, and format 1's LevelDB log. */
export type CrashEngine = 'wal' | 'level';
export const CRASH_ENGINES: readonly CrashEngine[] = ['wal', 'level'];

/**
 * Opens the crash workload's log in data directory `dir`. The WAL gets small segments so that the
 * kills also land while segments are started and deleted.
 */
export function openCrashLog(engine: CrashEngine, dir: string): Promise<LogStorage> {
  return engine === 'wal' ? WalLogStorage.open(join(dir, 'wal'), { segmentBytes: 8192 }) : LevelLogStorage.open(join(dir, 'log'));
}

export type CrashOp =
  | { t: 'w'; hs: HardState | null; from: number; n: number; term: number }
  | { t: 'p'; through: number; snap: [index: number, term: number] }
  | { t: 'i'; snap: [index: number, term: number] };

export interface WorkloadState {
  hardState: HardState;
  snapshot: [index: number, term: number] | null;
  firstIndex: number;
  /** Term of firstIndex - 1. */
  boundaryTerm: number;
  /** terms[i] is the term of the entry at firstIndex + i. */
  terms: number[];
}

export function emptyWorkloadState(): WorkloadState {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, firstIndex: 1, boundaryTerm: 0, terms: [] };
}

export function cloneState(s: WorkloadState): WorkloadState {
  return { ...s, hardState: { ...s.hardState }, snapshot: s.snapshot && [s.snapshot[0], s.snapshot[1]], terms: [...s.terms] };
}

const lastIndexOf = (s: WorkloadState): number => s.firstIndex + s.terms.length - 1;
const termAt = (s: WorkloadState, index: number): number => (index === s.firstIndex - 1 ? s.boundaryTerm : s.terms[index - s.firstIndex]!);

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

/** The entry the workload writes at (index, term): kind, size and bytes all derived from both. */
export function workloadEntry(index: number, term: number): Entry {
  const h = mix(index, term);
  const kind: EntryKind = h % 13 === 0 ? 'blank' : h % 17 === 0 ? 'config' : 'normal';
  if (kind === 'blank') return { index, term, kind, data: new Uint8Array(0) };
  let x = h || 1;
  const data = new Uint8Array(h % 300).map(() => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  });
  return { index, term, kind, data };
}

export function snapshotMetaOf(index: number, term: number): SnapshotMeta {
  return { index, term, membership: { members: [] } };
}

/** Content of the k-th snapshot the child saves. */
export function workloadSnapshotData(k: number): Uint8Array {
  let x = mix(k, 7) || 1;
  return new Uint8Array(1000 + (mix(k, 11) % 150_000)).map(() => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  });
}

export function opEntries(op: CrashOp & { t: 'w' }): Entry[] {
  return Array.from({ length: op.n }, (_, i) => workloadEntry(op.from + i, op.term));
}

export async function performOp(log: LogStorage, op: CrashOp): Promise<void> {
  switch (op.t) {
    case 'w':
      return log.write({ hardState: op.hs, entries: opEntries(op) });
    case 'p':
      return log.purge(op.through, snapshotMetaOf(...op.snap));
    case 'i':
      return log.installSnapshot(snapshotMetaOf(...op.snap));
  }
}

/** Applies `op` to `s` in place, as the storage contract says it should. */
export function applyOp(s: WorkloadState, op: CrashOp): void {
  switch (op.t) {
    case 'w':
      if (op.hs) s.hardState = { ...op.hs };
      if (op.n > 0) {
        s.terms.length = op.from - s.firstIndex;
        for (let i = 0; i < op.n; i++) s.terms.push(op.term);
      }
      return;
    case 'p':
      s.snapshot = [op.snap[0], op.snap[1]];
      if (op.through >= s.firstIndex) {
        s.boundaryTerm = termAt(s, op.through);
        s.terms = s.terms.slice(op.through - s.firstIndex + 1);
        s.firstIndex = op.through + 1;
      }
      return;
    case 'i':
      s.snapshot = [op.snap[0], op.snap[1]];
      s.terms = [];
      s.firstIndex = op.snap[0] + 1;
      s.boundaryTerm = op.snap[1];
      return;
  }
}

/** A valid next operation for a log in state `s`. */
export function nextOp(s: WorkloadState, rng: Rng): CrashOp {
  const last = lastIndexOf(s);
  const lastTerm = termAt(s, last);
  const hs = s.hardState;
  const snapIndex = s.snapshot?.[0] ?? 0;
  const roll = rng.next();
  if (roll < 0.04 && last >= 1) {
    const low = Math.max(snapIndex, s.firstIndex - 1, 1);
    if (low <= last) {
      const at = rng.int(low, last + 1);
      return { t: 'p', through: rng.int(s.firstIndex - 1, at + 1), snap: [at, termAt(s, at)] };
    }
  }
  if (roll < 0.05) {
    const at = rng.int(Math.max(snapIndex, 1), last + 20);
    return { t: 'i', snap: [at, Math.max(hs.term, lastTerm, 1)] };
  }
  if (roll < 0.15 || hs.term === 0) {
    // A new term (an election), sometimes replacing a suffix of the log (§5.3).
    const term = Math.max(hs.term, lastTerm) + 1;
    const votes = ['n1', 'n2', 'n3', null] as const;
    const newHs = { term, vote: votes[rng.int(0, 4)]!, commit: hs.commit };
    const from = rng.int(Math.max(s.firstIndex, snapIndex + 1), last + 2);
    return { t: 'w', hs: newHs, from, n: rng.int(0, 9), term };
  }
  if (roll < 0.3) {
    return { t: 'w', hs: { ...hs, commit: rng.int(Math.min(hs.commit, last), last + 1) }, from: last + 1, n: rng.int(0, 4), term: Math.max(hs.term, lastTerm) };
  }
  return { t: 'w', hs: null, from: last + 1, n: rng.int(1, 17), term: Math.max(hs.term, lastTerm) };
}

/** One string that differs whenever two states differ. */
export function fingerprint(s: WorkloadState): string {
  const runs: string[] = [];
  for (let i = 0; i < s.terms.length; ) {
    let j = i;
    while (j < s.terms.length && s.terms[j] === s.terms[i]) j++;
    runs.push(`${s.terms[i]}x${j - i}`);
    i = j;
  }
  const hs = s.hardState;
  return `hs=${hs.term}/${hs.vote}/${hs.commit} snap=${s.snapshot?.join('/') ?? '-'} first=${s.firstIndex} boundary=${s.boundaryTerm} log=${runs.join(',')}`;
}

/**
 * The state a storage holds, checking every entry's bytes against what the workload writes.
 * Throws when an entry differs: wrong data is worse than missing data.
 */
export async function readWorkloadState(log: LogStorage): Promise<WorkloadState> {
  const loaded = await log.load();
  const first = log.firstIndex();
  const last = log.lastIndex();
  const stored = await log.entries(first, last + 1);
  for (const e of stored) {
    const want = workloadEntry(e.index, e.term);
    if (e.kind !== want.kind || Buffer.compare(e.data, want.data) !== 0) {
      throw new Error(`entry ${e.index} (term ${e.term}) does not hold what the workload wrote there`);
    }
  }
  const after = loaded.snapshot?.index ?? 0;
  const fromLoad = loaded.entries.map((e) => `${e.index}/${e.term}`).join();
  const fromRead = stored.filter((e) => e.index > after).map((e) => `${e.index}/${e.term}`).join();
  if (fromLoad !== fromRead) throw new Error('load() and entries() disagree');
  return {
    hardState: loaded.hardState,
    snapshot: loaded.snapshot && [loaded.snapshot.index, loaded.snapshot.term],
    firstIndex: first,
    boundaryTerm: await log.term(first - 1),
    terms: stored.map((e) => e.term),
  };
}
