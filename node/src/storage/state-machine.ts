// The boundary between Raft and the configuration store: the driver applies committed entries
// here, and snapshots move through here as streams of chunks.
import type { Entry, SnapshotMeta } from '../raft/types.js';

/** Per-entry outcome of `apply`; `null` for entries that carry no client command (blank, config). */
export type ApplyResult<R> = R | null;

export interface StateMachine<R = unknown> {
  /**
   * Apply committed entries, in log order, exactly once each. Must be deterministic: every node
   * that applies the same entries reaches the same state and returns the same results.
   */
  apply(entries: Entry[]): ApplyResult<R>[];

  /** Index of the last entry applied (0 when nothing was). */
  appliedIndex(): number;

  /**
   * A consistent image of the state as of `appliedIndex()` when called, as chunks. The state may
   * keep changing while the stream is consumed; the stream must not reflect those changes.
   */
  snapshot(meta: SnapshotMeta): AsyncIterable<Uint8Array>;

  /**
   * Replace the whole state by a snapshot stream. Atomic: if the stream fails or is corrupt, the
   * previous state is kept and the promise rejects.
   */
  restore(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
}
