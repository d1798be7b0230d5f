// The durable Raft log: entries, hard state and the meta of the snapshot the log starts from.
// Three implementations (wal-log-storage.ts, what nodes use; level-log-storage.ts, the LevelDB log
// of data format 1; memory-log-storage.ts for the simulator) pass one conformance suite (test/conformance/log-storage.case.ts).
//
// Invariants every implementation keeps (checked by the suite):
// - Entries are contiguous: every index in [firstIndex(), lastIndex()] is stored, nothing else.
// - Terms never decrease along the log, and never go below the snapshot's term.
// - snapshot.index (when there is a snapshot) is in [firstIndex() - 1, lastIndex()]: entries up to
//   it may be kept for followers that lag a little, but the log never has a hole after it.
// - The hard state's term never decreases, and its vote never changes within a term.
// - Mutations (write, purge, installSnapshot) are serialized in call order: each one sees the
//   effect of every earlier call, and its promise resolves only after the earlier ones resolved.
// - A mutation resolves only once it is durable (fsync); a crash keeps every resolved mutation and
//   a prefix of the rest, in order, each one whole or not at all.
// - Reads see every mutation that resolved before the read was called. A mutation still in flight
//   may or may not be visible yet.
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';

export interface LogWrite {
  /** The new hard state, or null to keep the stored one. */
  hardState: HardState | null;
  /**
   * Contiguous entries, possibly none. If entries[0].index <= lastIndex(), the stored suffix from
   * entries[0].index on is deleted first (a conflicting suffix, §5.3), in the same atomic batch.
   */
  entries: Entry[];
}

/** What a storage holds at start: what the driver feeds the Raft core (see RaftInitialState). */
export interface LogState {
  hardState: HardState;
  /** The snapshot the log continues from, or null if the log starts at index 1. */
  snapshot: SnapshotMeta | null;
  /** Every stored entry after the snapshot (index > snapshot.index), in order, without holes. */
  entries: Entry[];
}

export interface LogStorage {
  /**
   * The hard state, snapshot meta and the entries after the snapshot.
   * Rejects with CorruptionError when a stored entry or record fails its checks.
   */
  load(): Promise<LogState>;

  /** Index of the first stored entry; lastIndex() + 1 when the log is empty. 1 for a new log. */
  firstIndex(): number;

  /** Index of the last stored entry; the snapshot index (or 0) when the log is empty. */
  lastIndex(): number;

  /**
   * Entries with lo <= index < hiExclusive, in order. With `maxBytes`, the longest prefix whose
   * summed `entryBytes` stay <= maxBytes, but always at least one entry when lo < hiExclusive
   * (so that a single large entry still makes progress).
   * Rejects with CompactedError when lo < firstIndex(); with UnavailableError when
   * hiExclusive > lastIndex() + 1; with CorruptionError when a stored entry fails its checksum or
   * is missing (never returns damaged data). lo === hiExclusive returns [].
   */
  entries(lo: number, hiExclusive: number, maxBytes?: number): Promise<Entry[]>;

  /**
   * Term of the entry at `index`. Also answers for firstIndex() - 1 (the entry just before the
   * log: the purge boundary, or the snapshot index after installSnapshot) and for index 0 (term 0).
   * Rejects with CompactedError below that, with UnavailableError above lastIndex().
   */
  term(index: number): Promise<number>;

  /**
   * One atomic, durable batch: deletes the conflicting suffix (see LogWrite.entries), stores the
   * entries and the hard state, fsyncs once. Resolves only when all of it is durable. Concurrent
   * calls are group-committed (several writes share one fsync) but stay in call order.
   * Rejects with CompactedError when entries[0].index < firstIndex(); with InvalidWriteError when
   * the write would leave a hole, rewrite entries covered by the snapshot, make terms decrease
   * (along the log or in the hard state) or change the vote within a term.
   */
  write(batch: LogWrite): Promise<void>;

  /**
   * Record `snapshot` as the snapshot the log continues from, and delete every entry with
   * index <= throughIndex (entries between throughIndex and snapshot.index stay readable, for
   * followers that lag a little). Atomic and durable like write(). Purging below firstIndex()
   * deletes nothing (idempotent).
   * Rejects with UnavailableError when throughIndex > lastIndex() (that is installSnapshot's job:
   * the log has no term to record there); with InvalidWriteError when snapshot.index <
   * throughIndex, when snapshot.index > lastIndex(), when the log's term at snapshot.index differs
   * from snapshot.term, or when the snapshot is older than the recorded one.
   */
  purge(throughIndex: number, snapshot: SnapshotMeta): Promise<void>;

  /**
   * Atomically replace the whole log by `snapshot`: every entry is deleted, the snapshot meta is
   * recorded, and the log continues at snapshot.index + 1. The hard state is unchanged.
   * Rejects with InvalidWriteError when the snapshot is older than the recorded one.
   */
  installSnapshot(snapshot: SnapshotMeta): Promise<void>;

  /** Waits for queued mutations, then releases resources. Later calls reject with ClosedError. */
  close(): Promise<void>;
}

/** Size of an entry for the `maxBytes` limits: its payload. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength;
}
