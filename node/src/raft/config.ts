// Configuration and start-up state of a RaftCore. Units are ticks: the driver decides how long a
// tick is (heartbeatIntervalMs), the core only counts them.
import type { Rng } from './rng.js';
import type { Entry, HardState, Membership, NodeId, SnapshotMeta } from './types.js';

export interface RaftConfig {
  id: NodeId;
  incarnation: string;
  /** '' for a node that waits to be added: it adopts the id of the first leader that reaches it. */
  clusterId: string;
  rng: Rng;
  /** Where this node serves clients, sent along with messages (see Envelope.fromClientURL). */
  clientURL?: string;
  /** Election timeout is drawn uniformly from [electionTicksMin, electionTicksMax) (§5.2). */
  electionTicksMin: number;
  electionTicksMax: number;
  heartbeatTicks: number;
  /** Bounded pipeline: AppendEntries in flight per follower in the replicate state. */
  maxInflightAppends: number;
  maxEntriesPerAppend: number;
  maxBytesPerAppend: number;
  /** Ask the driver for a snapshot once this many entries were applied since the last one. */
  snapshotEntries: number;
  /**
   * ...or once the entries applied since the last one hold this many bytes of data, or as many as
   * the last snapshot took if that is more. The in-memory log (and the log files) then stay within
   * about this size whatever the values' size, while a large store is not re-written for every
   * few megabytes of writes: writing snapshots costs at most about as many bytes as the log did.
   */
  snapshotBytes: number;
  /**
   * Entries kept behind a snapshot so that slightly lagging followers avoid a snapshot transfer
   * (and no more than snapshotBytes of data).
   */
  compactionKeepEntries: number;
  /**
   * Leader leases for reads (off by default). Sound only if clocks advance at about the same rate
   * on every node: the lease is electionTicksMin ticks minus a margin, counted from the moment a
   * quorum was last heard from, and a node that was deposed must not still believe it leads.
   */
  leaseReads: boolean;
  /** A learner is "caught up" for promotion when its match index is within this of the leader's last index. */
  promoteLagEntriesMax: number;
}

export const defaultRaftTunables = {
  electionTicksMin: 10,
  electionTicksMax: 20,
  heartbeatTicks: 1,
  maxInflightAppends: 4,
  maxEntriesPerAppend: 1024,
  maxBytesPerAppend: 4 * 1024 * 1024,
  // etcd's default since 3.2; snapshotBytes bounds the memory when values are large.
  snapshotEntries: 100_000,
  snapshotBytes: 64 * 1024 * 1024,
  compactionKeepEntries: 1_000,
  leaseReads: false,
  promoteLagEntriesMax: 100,
} satisfies Partial<RaftConfig>;

/** What the driver loads from storage at start. */
export interface RaftInitialState {
  hardState: HardState;
  /** The latest snapshot, or null if the log starts at index 1. */
  snapshot: SnapshotMeta | null;
  /** Every stored entry after the snapshot, in order, without holes. */
  entries: Entry[];
  /** Index the state machine has applied (>= snapshot index; entries above it are re-applied). */
  applied: number;
}

/**
 * The log of a brand-new cluster whose members are all known up front (`--initial-cluster` or
 * `--bootstrap`): one config entry at index 1, term 1, identical on every node, so that it is safely
 * committed everywhere from the start.
 */
export function bootstrapState(membership: Membership): RaftInitialState {
  const data = new TextEncoder().encode(JSON.stringify(membership));
  return {
    hardState: { term: 1, vote: null, commit: 1 },
    snapshot: null,
    entries: [{ index: 1, term: 1, kind: 'config', data }],
    applied: 0,
  };
}

export function emptyState(): RaftInitialState {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], applied: 0 };
}
