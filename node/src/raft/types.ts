// The vocabulary of the Raft core: entries, hard state, membership, messages and actions.
// Everything here is plain data so that the driver can persist it and the transport can encode it.

export type NodeId = string;

/** The durable part of a node's Raft state (§5.1, Figure 2 "Persistent state on all servers"). */
export interface HardState {
  term: number;
  /** Candidate voted for in `term`, or null. */
  vote: NodeId | null;
  /** Highest index known committed. Persisted as a hint only: it may lag the true commit index. */
  commit: number;
}

/**
 * - `normal`: a client command (opaque bytes for the state machine).
 * - `blank`: appended by a new leader so that it can commit an entry of its own term (§5.4.2, §8).
 * - `config`: a membership change; `data` is the JSON of the whole new `Membership`.
 */
export type EntryKind = 'normal' | 'blank' | 'config';

export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  data: Uint8Array;
}

export type MemberRole = 'voter' | 'learner';

export interface Member {
  id: NodeId;
  /**
   * The incarnation of the member's data directory. Empty while unknown (static bootstrap); the
   * leader pins it with a config entry once it hears from the member.
   */
  incarnation: string;
  role: MemberRole;
  /** Opaque to the core; carried in the log so that every node learns where its peers are. */
  peerURL: string;
  clientURL: string;
}

/** A complete configuration. Config entries carry whole configurations, never deltas. */
export interface Membership {
  members: Member[];
}

export interface SnapshotMeta {
  /** Last log index covered by the snapshot. */
  index: number;
  term: number;
  /** The configuration as of `index`. */
  membership: Membership;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Fields every peer message carries (design section 2, "Identity"). */
export interface Envelope {
  clusterId: string;
  from: NodeId;
  fromIncarnation: string;
  to: NodeId;
  /** The incarnation the sender believes the target has; '' when it does not know yet. */
  toIncarnation: string;
  term: number;
  /**
   * Where the sender serves clients. Lets the leader of a statically bootstrapped cluster record
   * its peers' client URLs (followers forward client requests there). Optional on the wire.
   */
  fromClientURL?: string;
}

export type Message =
  | (Envelope & {
      type: 'vote';
      /** Pre-vote (§9.6 of the thesis): sent with term+1 without changing the sender's term. */
      preVote: boolean;
      lastLogIndex: number;
      lastLogTerm: number;
      /** Set when the campaign follows TimeoutNow: voters grant even if they heard from a leader. */
      transfer: boolean;
    })
  | (Envelope & { type: 'vote_resp'; preVote: boolean; granted: boolean })
  | (Envelope & {
      type: 'append';
      prevIndex: number;
      prevTerm: number;
      entries: Entry[];
      commit: number;
      /**
       * Set on an empty append whose only news is `commit` (the leader already knows the follower
       * holds prevIndex): the follower takes the commit index and does not answer. Absent on
       * every other append; a node that predates the field answers it like any append.
       */
      commitOnly?: true;
    })
  | (Envelope & {
      type: 'append_resp';
      success: boolean;
      /**
       * On success: the last index the follower now holds that matches the leader.
       * On rejection: the `prevIndex` that was rejected (lets the leader ignore stale rejections).
       */
      matchIndex: number;
      /**
       * On rejection, a hint for fast backtracking (§5.3, "the follower can include the term of
       * the conflicting entry"): the follower's last index <= the probe, and its term there.
       */
      rejectHint: { index: number; term: number } | null;
    })
  | (Envelope & {
      type: 'heartbeat';
      /** min(follower's match, leader's commit): never ahead of what the follower holds. */
      commit: number;
      /** Highest ReadIndex round this heartbeat confirms leadership for (0 = none). */
      readSeq: number;
    })
  | (Envelope & { type: 'heartbeat_resp'; readSeq: number })
  | (Envelope & {
      type: 'snapshot';
      /** The data travels beside the message (chunked by the transport); the core sees the meta. */
      meta: SnapshotMeta;
    })
  | (Envelope & { type: 'timeout_now' });

export type MessageType = Message['type'];

/**
 * What the driver must do. Actions are performed strictly in the order they are returned:
 *
 * - `persist` is a barrier: nothing after it may be performed before it is durable (fsync).
 *   This is what makes votes and append acknowledgements safe (§5.1, Figure 2: "Updated on stable
 *   storage before responding to RPCs").
 * - `send` before a `persist` may go out while the persist is in flight: the core only places a
 *   message there when it does not depend on that persist (a leader's AppendEntries, thesis
 *   §10.2.1: the leader writes its log in parallel with replicating it and counts itself only once
 *   its own write is durable, which the driver reports with `RaftCore.persisted`).
 * - `apply` entries are committed and durable locally; apply them in order, exactly once.
 */
export type Action =
  | {
      kind: 'send';
      msg: Message;
      /**
       * True when the message depends on no persist at all, not even one of an earlier batch still
       * in flight (a leader's AppendEntries / heartbeats): the driver may send it at once.
       * False: send it only after every earlier `persist` (this batch's and earlier ones) is durable.
       */
      early: boolean;
    }
  | {
      kind: 'persist';
      /** New hard state, when it changed. */
      hardState: HardState | null;
      /**
       * Entries to append. If the first entry's index is <= the stored last index, the stored
       * suffix from that index on is deleted first (a conflicting suffix, §5.3).
       */
      entries: Entry[];
    }
  | {
      /**
       * Replace the whole log and state machine by the snapshot received with `meta` (the driver
       * holds the data). Durable before any later action; the log restarts at meta.index + 1.
       */
      kind: 'install-snapshot';
      meta: SnapshotMeta;
    }
  | { kind: 'apply'; entries: Entry[] }
  | {
      /** Stream the latest snapshot (at least `meta`) to `to`; then call `reportSnapshot`. */
      kind: 'send-snapshot';
      to: NodeId;
      toIncarnation: string;
      meta: SnapshotMeta;
    }
  | {
      /**
       * Applied has passed the snapshot threshold: snapshot the state machine as of
       * `index` (everything applied so far, which is at least `index`), then call
       * `RaftCore.snapshotTaken`.
       */
      kind: 'take-snapshot';
      index: number;
    }
  | {
      /** Entries up to and including `index` are covered by a snapshot and may be deleted. */
      kind: 'compact-log';
      index: number;
    }
  | {
      /** A ReadIndex request is ready: serve it once applied >= `index`. */
      kind: 'read-ready';
      id: number;
      index: number;
    }
  | { kind: 'read-failed'; id: number; reason: 'not_leader' | 'lost_leadership' }
  | {
      /** The node learned its cluster id from a leader (a node that waited to be added). Persist it. */
      kind: 'adopt-cluster-id';
      clusterId: string;
    }
  | {
      /** Something worth a log line: role changes, refusals, membership. Not an instruction. */
      kind: 'event';
      event: RaftEvent;
    };

export type RaftEvent =
  | { type: 'role-changed'; role: Role; term: number; leaderId: NodeId | null }
  | { type: 'leader-changed'; term: number; leaderId: NodeId | null }
  | { type: 'membership-changed'; membership: Membership; index: number }
  | { type: 'removed'; index: number }
  | {
      type: 'message-refused';
      from: NodeId;
      reason: 'cluster_mismatch' | 'incarnation_mismatch' | 'malformed' | 'unknown_sender';
      detail: string;
    };
