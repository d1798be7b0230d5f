// RaftCore: the Raft protocol as a deterministic state machine (etcd-raft's RawNode idea).
//
// Inputs: tick(), step(message), propose(data), changeMembership(), readIndex(), transferLeadership(),
// and the driver's reports (persisted, snapshotTaken, reportSnapshot, reportUnreachable).
// Output: takeActions(), an ordered list whose ordering rules are written on `Action` (types.ts).
// No clocks, sockets, disk or global randomness in here: the driver does all of that.
import type { RaftConfig, RaftInitialState } from './config.js';
import { RaftLog } from './log.js';
import {
  applyChange,
  decodeMembership,
  emptyMembership,
  encodeMembership,
  findMember,
  isVoter,
  voters,
  type MembershipChange,
} from './membership.js';
import { Progress, type ProgressState } from './progress.js';
import { isMajority, quorumIndex, voteOutcome } from './quorum.js';
import type { Action, Entry, HardState, Membership, Message, NodeId, RaftEvent, Role, SnapshotMeta } from './types.js';
import { messageProblem } from './validate.js';

export type RefusalCode =
  | 'not_leader'
  | 'transfer_in_progress'
  | 'change_in_progress'
  | 'unknown_member'
  | 'invalid'
  | 'not_caught_up';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; code: RefusalCode; leaderId: NodeId | null; message: string; lag?: number; internal?: boolean };

export interface StepRefusal {
  reason: Extract<RaftEvent, { type: 'message-refused' }>['reason'];
  detail: string;
}

export type TransferResult = { ok: true; to: NodeId } | { ok: false; code: RefusalCode; leaderId: NodeId | null; message: string };

export interface PeerStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
}

export interface RaftStatus {
  id: NodeId;
  clusterId: string;
  role: Role;
  term: number;
  vote: NodeId | null;
  leaderId: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  membership: Membership;
  /** Only on the leader: its view of every other member. */
  progress: Record<NodeId, PeerStatus>;
  transferring: NodeId | null;
}

type MessageBody = DistributiveOmit<Message, 'clusterId' | 'from' | 'fromIncarnation' | 'to' | 'toIncarnation' | 'term'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface PendingRead {
  id: number;
  index: number;
  /** The heartbeat round that must be acknowledged by a quorum before the read is safe. */
  seq: number;
}

export class RaftCore {
  private readonly cfg: RaftConfig;
  private readonly id: NodeId;
  private clusterId: string;

  // Persistent state (Figure 2). Invariant: changes to term/vote reach disk before any message
  // that depends on them leaves (termVoteDirty routes messages behind the persist barrier).
  private term: number;
  private vote: NodeId | null;
  private termVoteDirty = false;

  private role: Role = 'follower';
  private leaderId: NodeId | null = null;
  private readonly log: RaftLog;
  private membership: Membership;
  /**
   * The configuration before `membership`; it matters only while `membership` is not known
   * committed (configIndex > commit): see electionVoters().
   */
  private prevMembership: Membership | null = null;
  /** Index of the config entry that produced `membership` (snapshot index if it came from one). */
  private configIndex: number;

  private now = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  private votes = new Map<NodeId, boolean>();
  /** The voters of the election in progress (see electionVoters). */
  private campaignVoters: NodeId[] = [];
  private progress = new Map<NodeId, Progress>();

  // Leader-only bookkeeping.
  private pendingConfIndex = 0;
  /** The change in flight is the leader's own (identity pinning), not a user's. */
  private pendingConfInternal = false;
  private leadTransferee: NodeId | null = null;
  private transferElapsed = 0;
  private broadcastPending = false;
  private readSeq = 0;
  private readBroadcastPending = false;
  private pendingReads: PendingRead[] = [];
  private readsAwaitingCommit: number[] = [];

  /** Identities heard from members whose configuration entry lacks them (static bootstrap). */
  private heardIdentities = new Map<NodeId, { incarnation: string; clientURL: string }>();

  private snapshotInProgress = false;
  private snapshotRequested = false;
  /** log.appliedBytes when the latest snapshot was asked for or installed. */
  private snapshotAppliedBytes = 0;
  /** Size of the latest snapshot this node wrote (0 until it wrote one): see RaftConfig.snapshotBytes. */
  private lastSnapshotBytes = 0;

  // Output, assembled in order by takeActions().
  private early: Action[] = [];
  private install: SnapshotMeta | null = null;
  private late: Action[] = [];
  private post: Action[] = [];

  constructor(config: RaftConfig, initial: RaftInitialState) {
    this.cfg = config;
    this.id = config.id;
    this.clusterId = config.clusterId;
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.log = new RaftLog(initial.snapshot, initial.entries, initial.hardState.commit, initial.applied);
    this.membership = emptyMembership;
    this.configIndex = 0;
    this.membershipFromLog();
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------- inputs

  /** One logical clock tick. The driver calls it every heartbeat interval / heartbeatTicks. */
  tick(): void {
    this.now++;
    if (this.role === 'leader') {
      this.electionElapsed++;
      this.heartbeatElapsed++;
      if (this.leadTransferee !== null && ++this.transferElapsed >= this.cfg.electionTicksMin) {
        this.leadTransferee = null; // the target did not take over in time: accept proposals again
      }
      if (this.electionElapsed >= this.cfg.electionTicksMin) {
        this.electionElapsed = 0;
        if (!this.checkQuorum()) return;
      }
      if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
      return;
    }
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTicks && this.isPromotable()) {
      this.campaign('pre-vote');
    }
  }

  /**
   * A message from a peer. Bad or foreign messages are refused with an event (and the refusal is
   * returned, so that the transport can answer 4xx), never thrown.
   */
  step(raw: Message): StepRefusal | null {
    const problem = messageProblem(raw);
    if (problem !== null) {
      const from = typeof (raw as { from?: unknown })?.from === 'string' ? (raw as { from: string }).from : '?';
      return this.refuse(from, 'malformed', problem);
    }
    const m = raw;
    if (m.to !== this.id) {
      return this.refuse(m.from, 'malformed', `addressed to ${m.to}, this is ${this.id}`);
    }
    if (m.toIncarnation !== '' && m.toIncarnation !== this.cfg.incarnation) {
      return this.refuse(m.from, 'incarnation_mismatch', `addressed to incarnation ${m.toIncarnation}, this data directory is ${this.cfg.incarnation}`);
    }
    if (m.clusterId !== this.clusterId) {
      const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
      // A vote request addressed to this exact incarnation also proves the cluster added us: a
      // learner promoted before it heard from the leader must be able to help elect one.
      const addressedToUs = m.toIncarnation === this.cfg.incarnation && m.type === 'vote';
      if (this.clusterId === '' && (fromLeader || addressedToUs)) {
        // A node that waited to be added learns its cluster from the first leader that adds it
        // (the incarnation check above already passed: addressed to us, or to whoever has our id).
        this.clusterId = m.clusterId;
        this.early.push({ kind: 'adopt-cluster-id', clusterId: m.clusterId });
      } else {
        return this.refuse(m.from, 'cluster_mismatch', `message for cluster ${m.clusterId || '(none)'}, this node is in ${this.clusterId || '(none)'}`);
      }
    }
    const sender = findMember(this.membership, m.from);
    // Answers are checked against the sender's recorded incarnation too: a vote or an
    // acknowledgement from a wiped node must never count. Requests are not: a node replaying an
    // old log holds stale incarnations for its peers and must still accept the current leader.
    const isAnswer = m.type === 'vote_resp' || m.type === 'append_resp' || m.type === 'heartbeat_resp';
    if (isAnswer && sender && sender.incarnation !== '' && m.fromIncarnation !== sender.incarnation) {
      return this.refuse(m.from, 'incarnation_mismatch', `sender is incarnation ${m.fromIncarnation}, the member is ${sender.incarnation}`);
    }

    if (m.term > this.term) {
      if (m.type === 'vote' && !m.transfer && this.inLeaderLease()) {
        // §4.2.3 (thesis): a server that heard from a leader recently ignores vote requests, so
        // a removed or partitioned node cannot force an election.
        return null;
      }
      const keepsTerm = (m.type === 'vote' && m.preVote) || (m.type === 'vote_resp' && m.preVote && m.granted);
      if (!keepsTerm) {
        const leader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' ? m.from : null;
        this.becomeFollower(m.term, leader);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // A stale leader (e.g. back from a partition): our answer carries our term and deposes it.
        // Without this, pre-vote would keep our higher term from ever reaching it.
        this.reply(m, { type: 'append_resp', success: false, matchIndex: m.type === 'append' ? m.prevIndex : 0, rejectHint: null });
      } else if (m.type === 'vote' && m.preVote) {
        this.reply(m, { type: 'vote_resp', preVote: true, granted: false });
      }
      return null;
    }

    if (this.role === 'leader' && sender && (sender.incarnation === '' || (sender.clientURL === '' && m.fromClientURL)) && m.fromIncarnation !== '') {
      this.heardIdentities.set(m.from, { incarnation: m.fromIncarnation, clientURL: m.fromClientURL ?? '' });
      this.pinIdentities();
    }

    switch (m.type) {
      case 'vote':
        this.handleVote(m);
        return null;
      case 'vote_resp':
        this.handleVoteResponse(m);
        return null;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        if (this.role === 'leader') return null; // same term, two leaders: impossible (§5.2); ignore
        if (this.role !== 'follower' || this.leaderId !== m.from) this.becomeFollower(this.term, m.from);
        this.electionElapsed = 0;
        if (m.type === 'append') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        return null;
      case 'append_resp':
        this.handleAppendResponse(m);
        return null;
      case 'heartbeat_resp':
        this.handleHeartbeatResponse(m);
        return null;
      case 'timeout_now':
        // Thesis §3.10: the leader asks us to start an election now, skipping pre-vote.
        if (this.isPromotable()) this.campaign('transfer');
        return null;
    }
  }

  /** Append a client command. Only the leader accepts; the driver forwards otherwise. */
  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseUnlessLeader();
    if (refused) return refused;
    return this.appendEntry('normal', data);
  }

  /**
   * One single-server membership change (thesis §4.1), only when the previous one is committed and
   * the leader has committed an entry of its own term (the fix for the single-server bug, Ongaro
   * 2015 raft-dev post "bug in single-server membership changes").
   */
  changeMembership(change: MembershipChange): ProposeResult {
    const refused = this.refuseUnlessLeader();
    if (refused) return refused;
    if (this.pendingConfIndex > this.log.commit || this.log.term(this.log.commit) !== this.term) {
      // `internal` tells the caller the change in flight is our own bookkeeping and will commit
      // within a round trip: worth a short wait rather than a 409.
      const internal = this.pendingConfInternal || this.log.term(this.log.commit) !== this.term;
      return { ...this.refusal('change_in_progress', 'a membership change is still in flight'), internal } as ProposeResult;
    }
    if (change.type === 'promote') {
      const pr = this.progress.get(change.id);
      const member = findMember(this.membership, change.id);
      // A voter that has never answered (match 0) could cost the quorum it joins: it must have
      // replicated, and be within the lag bound of our log.
      if (member?.role === 'learner' && pr && (pr.match === 0 || pr.match + this.cfg.promoteLagEntriesMax < this.log.lastIndex())) {
        const lag = this.log.lastIndex() - pr.match;
        return { ...this.refusal('not_caught_up', `learner ${change.id} is ${lag} entries behind`), lag } as ProposeResult;
      }
    }
    const outcome = applyChange(this.membership, change);
    if (!outcome.ok) return this.refusal(outcome.code, outcome.message);
    if (outcome.noop) return { ok: true, index: this.configIndex, term: this.log.term(this.configIndex) ?? this.term };
    const result = this.appendEntry('config', encodeMembership(outcome.next));
    if (result.ok) {
      this.pendingConfIndex = result.index;
      this.pendingConfInternal = change.type === 'pin-identity';
      this.adoptMembership(outcome.next, result.index);
    }
    return result;
  }

  /**
   * ReadIndex (thesis §6.4): remember the commit index, confirm leadership with a heartbeat round
   * acknowledged by a quorum, then the read may be served once applied reaches that index.
   * The answer comes later as a `read-ready` or `read-failed` action carrying `id`.
   */
  readIndex(id: number): { ok: true } | { ok: false; code: 'not_leader'; leaderId: NodeId | null } {
    if (this.role !== 'leader') return { ok: false, code: 'not_leader', leaderId: this.leaderId };
    if (this.log.term(this.log.commit) !== this.term) {
      // Until the leader commits its blank entry it does not know the true commit index (§6.4 step 1).
      this.readsAwaitingCommit.push(id);
      return { ok: true };
    }
    this.registerRead(id);
    return { ok: true };
  }

  /** Hand leadership to `to`, or to the most caught-up voter (thesis §3.10). */
  transferLeadership(to?: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, code: 'not_leader', leaderId: this.leaderId, message: 'not the leader' };
    const target = to ?? this.mostCaughtUpVoter();
    if (target === null) return { ok: false, code: 'invalid', leaderId: this.id, message: 'no other voter to transfer to' };
    if (target === this.id) return { ok: true, to: this.id };
    if (!isVoter(this.membership, target)) {
      return { ok: false, code: 'invalid', leaderId: this.id, message: `${target} is not a voter` };
    }
    this.leadTransferee = target;
    this.transferElapsed = 0;
    const pr = this.progress.get(target)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.replicateTo(target, false);
    return { ok: true, to: target };
  }

  /** The driver made the log durable through `index` (whose entry has `term`). */
  persisted(index: number, term: number): void {
    if (this.log.term(index) !== term) return; // overwritten meanwhile: that write no longer counts
    if (index > this.log.stable) this.log.stable = Math.min(index, this.log.persistEmitted);
    if (this.role === 'leader') this.maybeCommit();
  }

  /** The driver took a snapshot (after a `take-snapshot` action, or on request) of `sizeBytes`. */
  snapshotTaken(meta: SnapshotMeta, sizeBytes = 0): void {
    this.snapshotInProgress = false;
    if (meta.index <= (this.log.snapshot?.index ?? 0)) return;
    this.log.snapshot = meta;
    this.lastSnapshotBytes = sizeBytes;
    const compactTo = this.log.compactionPoint(meta.index, this.cfg.compactionKeepEntries, this.cfg.snapshotBytes);
    if (compactTo >= this.log.firstIndex()) {
      this.log.compact(compactTo);
      this.post.push({ kind: 'compact-log', index: compactTo });
    }
  }

  /** Ask for a snapshot now (admin API), whatever the entry count. */
  requestSnapshot(): void {
    this.snapshotRequested = true;
  }

  /** A `send-snapshot` action finished (ok) or failed. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (!pr || pr.state !== 'snapshot') return;
    pr.becomeProbe();
    if (!ok) pr.next = pr.match + 1;
    // Wait for the follower's answer (or the next heartbeat answer) before probing again.
    pr.probeSent = true;
  }

  /** The transport could not reach `to`: stop streaming optimistically. */
  reportUnreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  // ---------------------------------------------------------------- output

  hasActions(): boolean {
    return (
      this.early.length > 0 ||
      this.install !== null ||
      this.late.length > 0 ||
      this.post.length > 0 ||
      this.termVoteDirty ||
      this.broadcastPending ||
      this.readBroadcastPending ||
      // A request made while a snapshot is being written waits for it: not an action yet (a driver
      // looping while hasActions() would spin without ever yielding).
      (this.snapshotRequested && !this.snapshotInProgress) ||
      this.log.persistEmitted < this.log.lastIndex() ||
      Math.min(this.log.commit, this.log.persistEmitted) > this.log.applied
    );
  }

  /** Drain what the driver must do, in order (see `Action` for the ordering rules). */
  takeActions(): Action[] {
    this.flushBroadcasts();
    const out: Action[] = this.early;
    if (this.install) out.push({ kind: 'install-snapshot', meta: this.install });
    // Committed entries that are durable already go before the persist: they do not wait for
    // this batch's fsync (on a leader, that is every committed entry).
    const durable = this.log.takeDurableApplicable();
    if (durable.length > 0) out.push({ kind: 'apply', entries: durable });
    const entries = this.log.takeUnpersisted();
    if (entries.length > 0 || this.termVoteDirty) {
      out.push({ kind: 'persist', hardState: this.hardState(), entries });
      this.termVoteDirty = false;
    }
    out.push(...this.late);
    const applicable = this.log.takeApplicable();
    if (applicable.length > 0) out.push({ kind: 'apply', entries: applicable });
    out.push(...this.post);
    if (!this.snapshotInProgress && this.log.applied > 0 && (this.snapshotRequested || this.snapshotDue())) {
      this.snapshotInProgress = true;
      this.snapshotRequested = false;
      this.snapshotAppliedBytes = this.log.appliedBytes;
      out.push({ kind: 'take-snapshot', index: this.log.applied });
    }
    this.early = [];
    this.install = null;
    this.late = [];
    this.post = [];
    return out;
  }

  private snapshotDue(): boolean {
    if (this.log.applied - (this.log.snapshot?.index ?? 0) >= this.cfg.snapshotEntries) return true;
    return this.log.appliedBytes - this.snapshotAppliedBytes >= Math.max(this.cfg.snapshotBytes, this.lastSnapshotBytes);
  }

  /**
   * Committed entries that are durable here and not applied yet, for a driver that waits for a
   * persist: applying them does not depend on it. Call only when every `apply` (and
   * `install-snapshot`, `take-snapshot`) of earlier batches has been performed, so that entries
   * are still applied in order, and the state machine is not snapshotted meanwhile.
   */
  takeDurableApplies(): Entry[] {
    return this.log.takeDurableApplicable();
  }

  /**
   * Only the messages that depend on no persist at all (`early`), leaving everything else for the
   * next takeActions(). Lets the driver replicate new proposals while its own fsync is in flight
   * (thesis §10.2.1) without breaking the order of anything else.
   */
  takeEarlySends(): Message[] {
    this.flushBroadcasts();
    const sends: Message[] = [];
    const rest: Action[] = [];
    for (const a of this.early) {
      if (a.kind === 'send' && a.early) sends.push(a.msg);
      else rest.push(a);
    }
    this.early = rest;
    return sends;
  }

  private flushBroadcasts(): void {
    if (this.readBroadcastPending) {
      this.readBroadcastPending = false;
      this.readSeq++;
      this.broadcastHeartbeat();
    }
    if (this.broadcastPending) {
      this.broadcastPending = false;
      for (const to of this.progress.keys()) this.replicateTo(to, true);
    }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.commit };
  }

  /** The role alone, for hot paths: status() copies every follower's progress. */
  currentRole(): Role {
    return this.role;
  }

  status(): RaftStatus {
    const progress: Record<NodeId, PeerStatus> = {};
    for (const [id, pr] of this.progress) {
      progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
    }
    return {
      id: this.id,
      clusterId: this.clusterId,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commit: this.log.commit,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshot?.index ?? 0,
      membership: this.membership,
      progress,
      transferring: this.leadTransferee,
    };
  }

  /** Entry at `index` if it is still in memory (the driver uses it to answer forwarded proposals). */
  entryAt(index: number): Entry | undefined {
    return index >= this.log.firstIndex() ? this.log.entry(index) : undefined;
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, leader: NodeId | null): void {
    const wasLeader = this.role === 'leader';
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
      this.termVoteDirty = true;
    }
    const changed = this.role !== 'follower' || this.leaderId !== leader;
    this.role = 'follower';
    this.setLeader(leader);
    this.electionElapsed = 0;
    this.resetElectionTimer();
    this.votes.clear();
    if (wasLeader) this.dropLeaderState();
    if (changed) this.emit({ type: 'role-changed', role: 'follower', term: this.term, leaderId: leader });
  }

  private campaign(kind: 'pre-vote' | 'election' | 'transfer'): void {
    if (kind === 'pre-vote') {
      // §9.6: ask first whether we could win, without disturbing anyone's term.
      this.role = 'pre-candidate';
      this.setLeader(null);
      this.emit({ type: 'role-changed', role: 'pre-candidate', term: this.term, leaderId: null });
    } else {
      this.term++;
      this.vote = this.id;
      this.termVoteDirty = true;
      this.role = 'candidate';
      this.setLeader(null);
      this.emit({ type: 'role-changed', role: 'candidate', term: this.term, leaderId: null });
    }
    this.electionElapsed = 0;
    this.resetElectionTimer();
    this.votes = new Map([[this.id, true]]);
    this.campaignVoters = this.electionVoters() ?? [];
    if (voteOutcome(this.campaignVoters, this.votes) === 'won') {
      this.onElectionWon(kind === 'pre-vote');
      return;
    }
    const preVote = kind === 'pre-vote';
    for (const to of this.campaignVoters) {
      if (to === this.id) continue;
      this.send(to, {
        type: 'vote',
        preVote,
        transfer: kind === 'transfer',
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
      }, preVote ? this.term + 1 : this.term);
    }
  }

  private onElectionWon(preVote: boolean): void {
    if (preVote) this.campaign('election');
    else this.becomeLeader();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.setLeader(this.id);
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.leadTransferee = null;
    this.progress.clear();
    for (const member of this.membership.members) {
      if (member.id !== this.id) this.progress.set(member.id, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightAppends));
    }
    // An uncommitted config entry may sit in our log: no new change until our own entry commits.
    this.pendingConfIndex = this.log.lastIndex();
    this.emit({ type: 'role-changed', role: 'leader', term: this.term, leaderId: this.id });
    // §5.4.2 / §8: commit an entry of our term so that earlier entries commit and reads are safe.
    this.appendEntry('blank', new Uint8Array(0));
  }

  private dropLeaderState(): void {
    this.progress.clear();
    this.leadTransferee = null;
    this.broadcastPending = false;
    this.readBroadcastPending = false;
    for (const r of this.pendingReads) this.post.push({ kind: 'read-failed', id: r.id, reason: 'lost_leadership' });
    for (const id of this.readsAwaitingCommit) this.post.push({ kind: 'read-failed', id, reason: 'lost_leadership' });
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
  }

  private setLeader(leader: NodeId | null): void {
    if (this.leaderId !== leader) {
      this.leaderId = leader;
      this.emit({ type: 'leader-changed', term: this.term, leaderId: leader });
    }
  }

  /** Check quorum (thesis §6.2): a leader that has not heard from a majority steps down. */
  private checkQuorum(): boolean {
    const vs = voters(this.membership);
    let active = 0;
    for (const v of vs) {
      if (v === this.id || this.progress.get(v)?.recentActive) active++;
    }
    for (const pr of this.progress.values()) pr.recentActive = false;
    if (vs.length > 0 && !isMajority(active, vs.length)) {
      this.becomeFollower(this.term, null);
      return false;
    }
    return true;
  }

  /**
   * May this node campaign? Only as a voter of its configuration, and only if that configuration
   * names *this* incarnation: a node catching up from an empty disk replays old configurations in
   * which its id was a voter with its previous incarnation, and must not act on them.
   */
  private isPromotable(): boolean {
    return this.electionVoters() !== null;
  }

  /**
   * The voters whose majority this node needs to win an election, or null if it may not run.
   * Normally the latest configuration's (thesis §4.1). One exception keeps a cluster live: a
   * leader that appended its own removal and then lost leadership before that entry committed
   * holds the longest log, so nobody else can win; while the removal is not known committed it
   * may still run under the previous configuration. Safe with single-server changes: majorities
   * of consecutive configurations overlap, so two leaders of one term would need a double vote,
   * and a winner under the old majority holds every committed entry.
   */
  private electionVoters(): NodeId[] | null {
    const mine = (m: Membership) => {
      const me = findMember(m, this.id);
      return me?.role === 'voter' && (me.incarnation === '' || me.incarnation === this.cfg.incarnation);
    };
    if (mine(this.membership)) return voters(this.membership);
    if (this.configIndex > this.log.commit && this.prevMembership && mine(this.prevMembership)) return voters(this.prevMembership);
    return null;
  }

  private inLeaderLease(): boolean {
    return this.leaderId !== null && this.electionElapsed < this.cfg.electionTicksMin;
  }

  private resetElectionTimer(): void {
    this.randomizedElectionTicks = this.cfg.rng.int(this.cfg.electionTicksMin, this.cfg.electionTicksMax);
  }

  // ---------------------------------------------------------------- elections

  private handleVote(m: Extract<Message, { type: 'vote' }>): void {
    const canVote =
      this.vote === m.from || (this.vote === null && this.leaderId === null) || (m.preVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // A granted pre-vote answers in the requester's future term so that it is not taken as stale.
      this.reply(m, { type: 'vote_resp', preVote: m.preVote, granted: true }, m.term);
      if (!m.preVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.termVoteDirty = true;
      }
    } else {
      this.reply(m, { type: 'vote_resp', preVote: m.preVote, granted: false });
    }
  }

  private handleVoteResponse(m: Extract<Message, { type: 'vote_resp' }>): void {
    const expecting = m.preVote ? this.role === 'pre-candidate' : this.role === 'candidate';
    if (!expecting) return;
    this.votes.set(m.from, m.granted);
    const outcome = voteOutcome(this.campaignVoters, this.votes);
    if (outcome === 'won') this.onElectionWon(m.preVote);
    else if (outcome === 'lost') this.becomeFollower(this.term, null);
  }

  // ---------------------------------------------------------------- replication, follower side

  private handleAppend(m: Extract<Message, { type: 'append' }>): void {
    if (m.prevIndex < this.log.commit) {
      // Everything up to our commit index is already ours; say so and let the leader skip ahead.
      this.reply(m, { type: 'append_resp', success: true, matchIndex: this.log.commit, rejectHint: null });
      return;
    }
    if (!this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      // §5.3 consistency check failed; hint where our log could match to skip a term at a time.
      const hintIndex = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
      this.reply(m, {
        type: 'append_resp',
        success: false,
        matchIndex: m.prevIndex,
        rejectHint: { index: hintIndex, term: this.log.term(hintIndex) ?? 0 },
      });
      return;
    }
    const truncatedAt = this.log.mergeFrom(m.entries);
    this.onLogChanged(m.entries, truncatedAt);
    const lastNew = m.prevIndex + m.entries.length;
    this.advanceFollowerCommit(Math.min(m.commit, lastNew));
    // The leader knows we hold prevIndex and only told us the commit index: no answer. (A lost
    // answer is what Raft tolerates anyway; heartbeats keep telling the leader we are alive.)
    if (m.commitOnly === true && m.entries.length === 0) return;
    // Sent behind the persist barrier: we acknowledge only what is durable (Figure 2).
    this.reply(m, { type: 'append_resp', success: true, matchIndex: lastNew, rejectHint: null });
  }

  private handleHeartbeat(m: Extract<Message, { type: 'heartbeat' }>): void {
    this.advanceFollowerCommit(Math.min(m.commit, this.log.lastIndex()));
    this.reply(m, { type: 'heartbeat_resp', readSeq: m.readSeq });
  }

  private handleSnapshot(m: Extract<Message, { type: 'snapshot' }>): void {
    const meta = m.meta;
    if (meta.index <= this.log.commit) {
      this.reply(m, { type: 'append_resp', success: true, matchIndex: this.log.commit, rejectHint: null });
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: our log is a superset, just commit up to it.
      this.advanceFollowerCommit(meta.index);
      this.reply(m, { type: 'append_resp', success: true, matchIndex: meta.index, rejectHint: null });
      return;
    }
    this.log.restore(meta);
    this.install = meta;
    this.snapshotInProgress = false;
    this.snapshotAppliedBytes = this.log.appliedBytes;
    this.setMembership(meta.membership, meta.index, null);
    this.reply(m, { type: 'append_resp', success: true, matchIndex: meta.index, rejectHint: null });
  }

  private advanceFollowerCommit(index: number): void {
    if (index > this.log.commit) this.log.commit = index;
  }

  /** Configs take effect as soon as they are in the log (thesis §4.1), and revert on truncation. */
  private onLogChanged(incoming: Entry[], truncatedAt: number | null): void {
    if (truncatedAt !== null && truncatedAt <= this.configIndex) {
      this.membershipFromLog();
      return;
    }
    if (incoming.some((e) => e.kind === 'config' && e.index > this.configIndex)) this.membershipFromLog();
  }

  /** Latest and previous configuration from the log (or the snapshot under it). */
  private membershipFromLog(): void {
    const [latest, previous] = this.log.lastConfigEntries(2);
    const base = this.log.snapshot?.membership ?? emptyMembership;
    const m = latest ? decodeMembership(latest.data) : base;
    const index = latest?.index ?? this.log.snapshot?.index ?? 0;
    const prev = previous ? decodeMembership(previous.data) : latest ? base : null;
    if (index !== this.configIndex || this.membership !== m) this.setMembership(m, index, prev);
  }

  // ---------------------------------------------------------------- replication, leader side

  private appendEntry(kind: Entry['kind'], data: Uint8Array): ProposeResult {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind, data };
    this.log.push(entry);
    this.broadcastPending = true;
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Send as much as the follower's window allows. `allowEmpty` sends an empty append (probe/commit). */
  private replicateTo(to: NodeId, allowEmpty: boolean): void {
    const pr = this.progress.get(to);
    if (!pr) return;
    let empty = allowEmpty;
    while (pr.canSend()) {
      if (!this.sendAppend(to, pr, empty)) return;
      empty = false;
      if (pr.state !== 'replicate' || pr.next > this.log.lastIndex()) return;
    }
  }

  private sendAppend(to: NodeId, pr: Progress, allowEmpty: boolean): boolean {
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === null) {
      this.sendSnapshot(to, pr);
      return false;
    }
    const entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.cfg.maxEntriesPerAppend, this.cfg.maxBytesPerAppend) : [];
    if (entries.length === 0 && pr.state === 'replicate') return this.sendCommitNotice(to, pr, prevIndex, prevTerm, allowEmpty);
    this.send(to, { type: 'append', prevIndex, prevTerm, entries, commit: this.log.commit });
    pr.sent(prevIndex + entries.length, entries.length);
    pr.commitSent = Math.max(pr.commitSent, this.log.commit);
    return true;
  }

  /**
   * An empty append to a follower in replicate state only carries the commit index. None while
   * appends are in flight (their answers keep things moving, and an empty one racing them would
   * be rejected as a gap) or when the follower was told this commit index already (a commit used
   * to reach each follower twice: once from its answer, once from the commit's broadcast). With
   * nothing in flight we know the follower holds prevIndex, so its answer would tell us nothing:
   * the append is marked commitOnly and the follower does not answer, which halves the messages a
   * lone writer's entry costs each follower.
   */
  private sendCommitNotice(to: NodeId, pr: Progress, prevIndex: number, prevTerm: number, allowEmpty: boolean): boolean {
    if (!allowEmpty || pr.inflight.length > 0 || pr.commitSent >= Math.min(pr.match, this.log.commit)) return false;
    this.send(to, { type: 'append', prevIndex, prevTerm, entries: [], commit: this.log.commit, commitOnly: true });
    pr.commitSent = this.log.commit;
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot;
    if (snap === null) return; // cannot happen: the log is only compacted behind a snapshot
    pr.becomeSnapshot(snap.index);
    this.post.push({ kind: 'send-snapshot', to, toIncarnation: this.incarnationOf(to), meta: snap });
  }

  private handleAppendResponse(m: Extract<Message, { type: 'append_resp' }>): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.lastHeardTick = this.now;
    if (m.success) {
      if (pr.acked(m.matchIndex)) this.maybeCommit();
      if (this.role !== 'leader') return; // committing our own removal stepped us down
      if (this.leadTransferee === m.from && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
      this.replicateTo(m.from, false);
      // A follower learns the commit index from the next append or heartbeat. When its answer
      // left nothing in flight (so replicateTo found nothing new to send), tell it now, as
      // etcd-raft does: it applies without waiting up to a heartbeat for more traffic, which its
      // serializable readers and its watchers see. sendAppend sends only the commit notice, and
      // only if this follower has not had this commit index.
      if (pr.state === 'replicate' && pr.inflight.length === 0) this.sendAppend(m.from, pr, true);
      return;
    }
    // A rejection: ignore stale ones (duplicates, or answers to probes we have moved past).
    if (pr.state === 'replicate' && m.matchIndex <= pr.match) return;
    if (pr.state === 'probe' && m.matchIndex !== pr.next - 1) return;
    if (pr.state === 'snapshot') return;
    const hinted = m.rejectHint ? this.log.findConflictByTerm(m.rejectHint.index, m.rejectHint.term) + 1 : m.matchIndex;
    if (pr.state === 'replicate') pr.becomeProbe();
    pr.next = Math.max(Math.min(m.matchIndex, hinted), pr.match + 1);
    pr.probeSent = false;
    this.replicateTo(m.from, true);
  }

  private handleHeartbeatResponse(m: Extract<Message, { type: 'heartbeat_resp' }>): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.lastHeardTick = this.now;
    if (m.readSeq > pr.ackedReadSeq) {
      pr.ackedReadSeq = m.readSeq;
      this.releaseReads();
    }
    const stalled = pr.match === pr.matchAtLastHeartbeat;
    pr.matchAtLastHeartbeat = pr.match;
    if (pr.match < this.log.lastIndex()) {
      // The follower is alive but behind. If it made no progress over a whole heartbeat round,
      // appends in flight were lost: resend from what it holds (duplicates are harmless).
      if (pr.state === 'replicate' && stalled) pr.becomeProbe();
      if (pr.state === 'probe') pr.probeSent = false;
      this.replicateTo(m.from, true);
    }
  }

  private maybeCommit(): void {
    const idx = quorumIndex(voters(this.membership), (id) => (id === this.id ? this.log.stable : (this.progress.get(id)?.match ?? 0)));
    // §5.4.2: only entries of the current term are committed by counting replicas.
    if (idx <= this.log.commit || this.log.term(idx) !== this.term) return;
    const firstInTerm = this.log.term(this.log.commit) !== this.term;
    this.log.commit = idx;
    this.broadcastPending = true;
    if (firstInTerm) {
      this.pinIdentities();
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const id of waiting) this.registerRead(id);
    }
    if (!findMember(this.membership, this.id) && this.log.commit >= this.configIndex) {
      // Our own removal is committed (thesis §4.2.2): hand off and step down.
      const successor = this.mostCaughtUpVoter();
      this.flushBroadcasts(); // followers learn the commit before we step down
      if (successor !== null) this.sendTimeoutNow(successor);
      this.becomeFollower(this.term, null);
      this.emit({ type: 'removed', index: this.configIndex });
    }
  }

  private broadcastHeartbeat(): void {
    for (const [to, pr] of this.progress) {
      const commit = Math.min(pr.match, this.log.commit);
      this.send(to, { type: 'heartbeat', commit, readSeq: this.readSeq });
      pr.commitSent = Math.max(pr.commitSent, commit);
    }
    if (this.progress.size === 0) this.releaseReads();
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(to, { type: 'timeout_now' });
  }

  private mostCaughtUpVoter(): NodeId | null {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const v of voters(this.membership)) {
      if (v === this.id) continue;
      const match = this.progress.get(v)?.match ?? 0;
      if (match > bestMatch) {
        best = v;
        bestMatch = match;
      }
    }
    return best;
  }

  // ---------------------------------------------------------------- reads

  private registerRead(id: number): void {
    const vs = voters(this.membership);
    const alone = vs.length === 1 && vs[0] === this.id;
    if (alone || (this.cfg.leaseReads && this.leaseValid())) {
      this.post.push({ kind: 'read-ready', id, index: this.log.commit });
      return;
    }
    this.pendingReads.push({ id, index: this.log.commit, seq: this.readSeq + 1 });
    this.readBroadcastPending = true;
  }

  private releaseReads(): void {
    if (this.pendingReads.length === 0) return;
    const confirmed = quorumIndex(voters(this.membership), (id) => (id === this.id ? this.readSeq : (this.progress.get(id)?.ackedReadSeq ?? 0)));
    while (this.pendingReads.length > 0 && this.pendingReads[0]!.seq <= confirmed) {
      const r = this.pendingReads.shift()!;
      this.post.push({ kind: 'read-ready', id: r.id, index: r.index });
    }
  }

  /**
   * Leader lease: followers ignore candidates for electionTicksMin ticks after hearing from us
   * (inLeaderLease), so while a quorum was heard from within half that, no other leader can exist.
   * Assumes tick rates differ by less than 2x and one-way delay stays under the other half.
   */
  private leaseValid(): boolean {
    if (this.leadTransferee !== null) return false;
    const heard = quorumIndex(voters(this.membership), (id) => (id === this.id ? this.now : (this.progress.get(id)?.lastHeardTick ?? -Infinity)));
    return this.now - heard < Math.floor(this.cfg.electionTicksMin / 2);
  }

  // ---------------------------------------------------------------- membership

  /**
   * Static bootstrap leaves peers' incarnations (and client URLs) empty; the leader records each
   * one (its own first) with a config entry, one at a time, so that a wiped node can never pass for
   * the member it replaced and followers know where to forward clients.
   */
  private pinIdentities(): void {
    for (const member of this.membership.members) {
      if (member.incarnation !== '' && member.clientURL !== '') continue;
      const heard =
        member.id === this.id ? { incarnation: this.cfg.incarnation, clientURL: this.cfg.clientURL ?? '' } : this.heardIdentities.get(member.id);
      if (heard === undefined) continue;
      if (member.incarnation !== '' && heard.clientURL === '') continue;
      const r = this.changeMembership({ type: 'pin-identity', id: member.id, ...heard });
      if (r.ok) this.heardIdentities.delete(member.id);
      return;
    }
  }

  private adoptMembership(next: Membership, index: number): void {
    this.setMembership(next, index, this.membership);
    if (this.role !== 'leader') return;
    for (const member of next.members) {
      if (member.id !== this.id && !this.progress.has(member.id)) {
        this.progress.set(member.id, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightAppends));
      }
    }
    for (const id of [...this.progress.keys()]) {
      if (!findMember(next, id)) this.progress.delete(id);
    }
    if (this.leadTransferee !== null && !isVoter(next, this.leadTransferee)) this.leadTransferee = null;
  }

  private setMembership(m: Membership, index: number, prev: Membership | null): void {
    this.prevMembership = prev;
    this.membership = m;
    this.configIndex = index;
    this.emit({ type: 'membership-changed', membership: m, index });
  }

  // ---------------------------------------------------------------- plumbing

  private refuseUnlessLeader(): ProposeResult | null {
    if (this.role !== 'leader') return this.refusal('not_leader', 'not the leader');
    if (this.leadTransferee !== null) return this.refusal('transfer_in_progress', `leadership is moving to ${this.leadTransferee}`);
    return null;
  }

  private refusal(code: RefusalCode, message: string): ProposeResult {
    return { ok: false, code, leaderId: this.leaderId, message };
  }

  private incarnationOf(id: NodeId): string {
    return findMember(this.membership, id)?.incarnation ?? '';
  }

  /** A message from this node. Leader traffic may leave before the pending persist (see Action). */
  private send(to: NodeId, body: MessageBody, term = this.term): void {
    const msg = this.envelop(body, to, this.incarnationOf(to), term);
    const early = this.role === 'leader' && !this.termVoteDirty;
    (early ? this.early : this.late).push({ kind: 'send', msg, early });
  }

  /** An answer to `m`, always behind the persist barrier: it may acknowledge durable state. */
  private reply(m: Message, body: MessageBody, term = this.term): void {
    this.late.push({ kind: 'send', msg: this.envelop(body, m.from, m.fromIncarnation, term), early: false });
  }

  /** Adds the envelope fields in place (bodies are fresh literals): no copy on the hot path. */
  private envelop(body: MessageBody, to: NodeId, toIncarnation: string, term: number): Message {
    const msg = body as Message;
    msg.clusterId = this.clusterId;
    msg.from = this.id;
    msg.fromIncarnation = this.cfg.incarnation;
    if (this.cfg.clientURL) msg.fromClientURL = this.cfg.clientURL;
    msg.to = to;
    msg.toIncarnation = toIncarnation;
    msg.term = term;
    return msg;
  }

  private refuse(from: NodeId, reason: StepRefusal['reason'], detail: string): StepRefusal {
    this.emit({ type: 'message-refused', from, reason, detail });
    return { reason, detail };
  }

  private emit(event: RaftEvent): void {
    this.post.push({ kind: 'event', event });
  }
}
