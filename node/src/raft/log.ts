// The in-memory view of the Raft log that the core reasons about: the entries after the last
// compaction point, the latest snapshot, and the commit / persistence / apply watermarks.
// The driver keeps the durable copy; the core tells it what to write through actions.
import { assert } from './assert.js';
import type { Entry, SnapshotMeta } from './types.js';

export class RaftLog {
  /** Entries with index offset+1 .. offset+entries.length. */
  private entries: Entry[];
  /** Index and term of the entry just before `entries` (the compaction point). */
  private offset: number;
  private offsetTerm: number;
  /** The latest snapshot the node holds (what it would send to a follower that is too far behind). */
  snapshot: SnapshotMeta | null;
  /**
   * Invariant: commit <= lastIndex(); entries <= commit are never truncated (§5.4).
   */
  commit: number;
  /** Last index handed to the driver in a `persist` action (or loaded from storage). */
  persistEmitted: number;
  /** Last index the driver confirmed durable. Invariant: stable <= persistEmitted. */
  stable: number;
  /** Last index handed to the driver in an `apply` action. Invariant: applied <= commit. */
  applied: number;
  /**
   * Data bytes of every entry handed out to apply since this log was built (plus those applied
   * before that, after the snapshot). Only ever grows: the core measures spans by difference.
   */
  appliedBytes = 0;

  constructor(snapshot: SnapshotMeta | null, entries: Entry[], commit: number, applied: number) {
    this.snapshot = snapshot;
    this.offset = snapshot?.index ?? 0;
    this.offsetTerm = snapshot?.term ?? 0;
    this.entries = entries.filter((e) => e.index > this.offset);
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === this.offset + 1 + i, 'log has a hole at start');
    }
    this.persistEmitted = this.lastIndex();
    this.stable = this.lastIndex();
    this.commit = Math.min(Math.max(commit, this.offset), this.lastIndex());
    this.applied = Math.min(Math.max(applied, this.offset), this.commit);
    for (let i = this.offset + 1; i <= this.applied; i++) this.appliedBytes += this.entry(i)!.data.length;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** Term at `index`, or null when it is compacted away or beyond the end. */
  term(index: number): number | null {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return null;
    return this.entries[index - this.offset - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    return this.entries[index - this.offset - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries from `lo` (inclusive), at most `maxEntries` and about `maxBytes` (always at least one). */
  slice(lo: number, maxEntries: number, maxBytes: number): Entry[] {
    assert(lo > this.offset, `slice below the compaction point (${lo} <= ${this.offset})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= this.lastIndex() && out.length < maxEntries; i++) {
      const e = this.entry(i)!;
      bytes += e.data.length + 24;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Entries in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): Entry[] {
    if (hi < lo) return [];
    assert(lo > this.offset && hi <= this.lastIndex(), `range ${lo}..${hi} outside the log`);
    return this.entries.slice(lo - this.offset - 1, hi - this.offset);
  }

  /** Leader side: add a new entry at the end. */
  push(entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, 'append leaves a hole');
    this.entries.push(entry);
  }

  /**
   * Follower side (§5.3): skip entries we already hold, truncate at the first conflict, append the
   * rest. Returns the index of the first truncated entry, or null when nothing was truncated.
   */
  mergeFrom(incoming: Entry[]): number | null {
    let truncatedAt: number | null = null;
    for (let k = 0; k < incoming.length; k++) {
      const e = incoming[k]!;
      if (e.index <= this.offset) continue;
      const existing = this.term(e.index);
      if (existing === e.term) continue;
      if (existing !== null) {
        assert(e.index > this.commit, `conflict at committed index ${e.index} (commit ${this.commit})`);
        this.entries.length = e.index - this.offset - 1;
        truncatedAt = e.index;
        this.persistEmitted = Math.min(this.persistEmitted, e.index - 1);
        this.stable = Math.min(this.stable, e.index - 1);
      }
      assert(e.index === this.lastIndex() + 1, 'merge leaves a hole');
      for (let j = k; j < incoming.length; j++) this.entries.push(incoming[j]!);
      return truncatedAt;
    }
    return truncatedAt;
  }

  /**
   * Fast backtracking (§5.3 "optimization"): the largest index <= `index` whose term is <= `term`,
   * so one round trip skips a whole term of conflicting entries.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.offset) {
      const t = this.term(i)!;
      if (t <= term) break;
      i--;
    }
    return i;
  }

  /** Entries not yet handed to the driver for persistence. */
  takeUnpersisted(): Entry[] {
    const out = this.range(this.persistEmitted + 1, this.lastIndex());
    this.persistEmitted = this.lastIndex();
    return out;
  }

  /**
   * Entries that are committed, already durable here (`stable`), and not yet applied: they may be
   * applied before a persist that is still to come or in flight, since they do not depend on it.
   */
  takeDurableApplicable(): Entry[] {
    return this.takeApplied(Math.min(this.commit, this.stable));
  }

  /** Entries that are committed, handed over for persistence, and not yet applied. */
  takeApplicable(): Entry[] {
    return this.takeApplied(Math.min(this.commit, this.persistEmitted));
  }

  private takeApplied(hi: number): Entry[] {
    if (hi <= this.applied) return [];
    const out = this.range(this.applied + 1, hi);
    for (const e of out) this.appliedBytes += e.data.length;
    this.applied = hi;
    return out;
  }

  /**
   * The compaction point that keeps at most `maxEntries` entries up to `index`, and no more than
   * `maxBytes` of their data: the catch-up tail behind a snapshot, bounded for large values too.
   */
  compactionPoint(index: number, maxEntries: number, maxBytes: number): number {
    let keptFrom = Math.max(index - maxEntries, this.offset);
    let bytes = 0;
    for (let i = index; i > keptFrom; i--) {
      bytes += this.entry(i)!.data.length;
      if (bytes > maxBytes) keptFrom = i;
    }
    return keptFrom;
  }

  /** Drop entries up to `index` (covered by a snapshot). */
  compact(index: number): void {
    if (index <= this.offset) return;
    assert(index <= this.applied, 'compaction beyond applied');
    const t = this.term(index)!;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = t;
  }

  /** Replace everything by a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.entries = [];
    this.offset = meta.index;
    this.offsetTerm = meta.term;
    this.snapshot = meta;
    this.commit = meta.index;
    this.applied = meta.index;
    this.persistEmitted = meta.index;
    this.stable = meta.index;
  }

  /** The newest `count` config entries still in the log, newest first. */
  lastConfigEntries(count: number): Entry[] {
    const out: Entry[] = [];
    for (let i = this.lastIndex(); i > this.offset && out.length < count; i--) {
      const e = this.entry(i)!;
      if (e.kind === 'config') out.push(e);
    }
    return out;
  }
}
