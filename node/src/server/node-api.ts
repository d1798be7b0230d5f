// What the HTTP layer (client, admin, health, metrics) needs from a running node. The driver
// implements it; HTTP tests use a fake. Keeping this small is what lets the express apps be tested
// without Raft, and the driver without HTTP.
import type { Membership, NodeId, Role } from '../raft/types.js';
import type { BackupHeader } from '../store/backup-format.js';
import type { Command, CommandResult, KvStore, WatchHub } from '../store/index.js';

/** `GET /admin/status` (design section 3). */
export interface NodeStatus {
  id: NodeId;
  incarnation: string;
  clusterId: string;
  /** 'joining' while the node waits to be added; 'learner' when it is a non-voting member. */
  role: 'leader' | 'follower' | 'candidate' | 'learner' | 'joining';
  term: number;
  leaderId: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
  /** The raw Raft role, for diagnostics (pre-candidate shows as candidate above). */
  raftRole: Role;
}

/** `GET /admin/members` (from the leader's view). */
export interface MembersView {
  leaderId: NodeId | null;
  members: {
    id: NodeId;
    incarnation: string;
    peerURL: string;
    clientURL: string;
    role: 'voter' | 'learner';
    matchIndex: number;
    lag: number;
    healthy: boolean;
  }[];
}

export interface NewMember {
  id: NodeId;
  peerURL: string;
  clientURL: string;
  incarnation?: string;
}

export interface ProposeOptions {
  /** Give up waiting (504 outcome_unknown once proposed, 503 no_leader before) after this long. */
  timeoutMs?: number;
}

/**
 * Errors thrown by these methods are the classes in ../errors.ts. Write and read methods throw
 * NotLeaderError on a follower (the HTTP layer forwards to `leaderClientURL`), NoLeaderError when
 * no leader is known within the bound, OutcomeUnknownError / ProposalDroppedError as documented.
 */
export interface ConfluxNodeApi {
  readonly id: NodeId;
  /** The store, for serializable reads, listing, history and watches (local copy). */
  readonly store: KvStore;
  readonly watches: WatchHub;

  status(): NodeStatus;
  /** Committed configuration. On a follower, the view lacks match/lag (zeros) and health is best effort. */
  members(): MembersView;
  membership(): Membership;
  /** Where the leader serves clients, or null when unknown (or this node is the leader). */
  leaderClientURL(): string | null;
  isLeader(): boolean;

  /** Replicate a command; resolves with its result once committed and applied here. Leader only. */
  propose(command: Command, options?: ProposeOptions): Promise<CommandResult>;
  /**
   * Linearizable read barrier (ReadIndex): resolves once this node's store reflects every write
   * acknowledged before the call. Leader only (followers forward).
   */
  readBarrier(options?: ProposeOptions): Promise<void>;
  /** Wait until a leader is known (bounded), for requests that arrive during an election. */
  waitForLeader(timeoutMs: number): Promise<NodeId | null>;

  // Admin (leader only unless stated; NotLeaderError makes the HTTP layer forward).
  /** On a fresh node only: become a one-voter cluster. ConflictError if it has state. Any node. */
  bootstrap(): Promise<{ clusterId: string }>;
  addLearner(member: NewMember): Promise<void>;
  promote(id: NodeId): Promise<void>;
  removeMember(id: NodeId): Promise<void>;
  transferLeadership(to?: NodeId): Promise<{ leaderId: NodeId }>;
  /** Take a snapshot now and compact the log. Any node (acts locally). */
  snapshotNow(): Promise<{ index: number; term: number }>;

  /**
   * A backup of this node's store as of now (`GET /admin/snapshot`): the header and the file's
   * bytes, captured synchronously (later applies do not show). Call after a read barrier for a
   * linearizable backup. Optional: test doubles without a store leave it out (501).
   */
  /**
   * Resolves once this node has applied `index`; NotReadyError after `timeoutMs`. With a read
   * index from the leader, this makes a follower's local read linearizable (backups).
   */
  waitApplied?(index: number, timeoutMs: number): Promise<void>;
  openBackup?(consistency: BackupHeader['consistency']): { header: BackupHeader; chunks: AsyncIterable<Uint8Array> };

  /** `/healthz`: the process and its storage work. */
  healthy(): boolean;
  /** `/readyz`: a member that knows a leader and has applied what it learned when it joined. */
  ready(): { ready: boolean; reason?: string };
}
