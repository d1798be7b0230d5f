// ConfluxNode: the node as the HTTP layer sees it (ConfluxNodeApi), on top of the driver.
// It turns store commands into Raft proposals, core refusals into typed errors, and answers the
// admin API. Everything that touches time, disk or the network is the driver's or the transport's.
import { bootstrapState, type RaftConfig } from '../raft/config.js';
import { RaftCore, type ProposeResult } from '../raft/core.js';
import type { MembershipChange } from '../raft/membership.js';
import type { Membership, NodeId } from '../raft/types.js';
import type { LogStorage } from '../storage/log-storage.js';
import { backupHeaderOf, encodeBackup, type BackupHeader } from '../store/backup-format.js';
import { encodeCommand, type Command, type CommandResult, type KvStore, type WatchHub } from '../store/index.js';
import type { Clock } from './clock.js';
import type { RaftDriver } from './driver.js';
import {
  BadRequestError,
  ChangeInProgressError,
  ConflictError,
  NoLeaderError,
  NotCaughtUpError,
  NotLeaderError,
  NotReadyError,
  QuotaExceededError,
  UnknownMemberError,
} from './errors.js';
import type { ConfluxNodeApi, MembersView, NewMember, NodeStatus, ProposeOptions } from './node-api.js';

export interface ConfluxNodeOptions {
  driver: RaftDriver<CommandResult>;
  store: KvStore;
  watches: WatchHub;
  log: LogStorage;
  clock: Clock;
  /** The core's configuration, for bootstrap (which replaces a fresh node's core). */
  raftConfig: RaftConfig;
  self: { id: NodeId; incarnation: string; peerURL: string; clientURL: string };
  /** Generates a new cluster id at bootstrap. */
  newClusterId: () => string;
  /** Persist the cluster id in the data directory. */
  saveClusterId: (clusterId: string) => Promise<void>;
  proposalTimeoutMs?: number;
  /** How long an admin change waits to be applied. */
  adminTimeoutMs?: number;
  /**
   * Writes that would grow the live data past this many bytes are refused before they are
   * proposed (checked by the leader, which proposes every write; never at apply, so that nodes
   * configured with different quotas still apply the same log alike).
   */
  quotaBytes?: number;
}

export class ConfluxNode implements ConfluxNodeApi {
  readonly id: NodeId;
  readonly store: KvStore;
  readonly watches: WatchHub;
  private readonly proposalTimeoutMs: number;
  private readonly adminTimeoutMs: number;
  /** The commit index learned when this node first knew a leader (readiness target). */
  private readyTarget: number | null = null;

  constructor(private readonly o: ConfluxNodeOptions) {
    this.id = o.self.id;
    this.store = o.store;
    this.watches = o.watches;
    this.proposalTimeoutMs = o.proposalTimeoutMs ?? 10_000;
    this.adminTimeoutMs = o.adminTimeoutMs ?? 15_000;
  }

  private get core(): RaftCore {
    return this.o.driver.core;
  }

  status(): NodeStatus {
    const s = this.core.status();
    const me = s.membership.members.find((m) => m.id === this.id);
    let role: NodeStatus['role'];
    if (!me) role = 'joining';
    else if (me.role === 'learner') role = 'learner';
    else role = s.role === 'pre-candidate' ? 'candidate' : s.role;
    return {
      id: this.id,
      incarnation: this.o.self.incarnation,
      clusterId: s.clusterId,
      role,
      term: s.term,
      leaderId: s.leaderId,
      commitIndex: s.commit,
      appliedIndex: this.store.appliedIndex(),
      lastLogIndex: s.lastIndex,
      snapshotIndex: s.snapshotIndex,
      raftRole: s.role,
    };
  }

  members(): MembersView {
    const s = this.core.status();
    const leader = s.role === 'leader';
    return {
      leaderId: s.leaderId,
      members: s.membership.members.map((m) => {
        const pr = s.progress[m.id];
        const isSelf = m.id === this.id;
        const match = isSelf ? s.lastIndex : (pr?.match ?? 0);
        return {
          id: m.id,
          incarnation: m.incarnation,
          peerURL: m.peerURL,
          clientURL: m.clientURL,
          role: m.role,
          matchIndex: leader ? match : 0,
          lag: leader ? Math.max(0, s.lastIndex - match) : 0,
          healthy: isSelf ? true : leader ? (pr?.recentActive ?? false) || (pr?.match ?? 0) >= s.commit : m.id === s.leaderId,
        };
      }),
    };
  }

  membership(): Membership {
    return this.core.status().membership;
  }

  leaderClientURL(): string | null {
    const s = this.core.status();
    if (!s.leaderId || s.leaderId === this.id) return null;
    return s.membership.members.find((m) => m.id === s.leaderId)?.clientURL ?? null;
  }

  isLeader(): boolean {
    return this.core.currentRole() === 'leader';
  }

  async propose(command: Command, options: ProposeOptions = {}): Promise<CommandResult> {
    const quota = this.o.quotaBytes;
    // On the leader only: a follower's copy may lag, and the driver sends followers' writes there.
    if (quota !== undefined && this.isLeader()) {
      const growth = this.store.liveGrowthOf(command);
      const live = this.store.liveBytes();
      if (growth > 0 && live + growth > quota) throw new QuotaExceededError(quota, live, growth);
    }
    return this.o.driver.propose(encodeCommand(command), options.timeoutMs ?? this.proposalTimeoutMs);
  }

  async readBarrier(options: ProposeOptions = {}): Promise<void> {
    return this.o.driver.readBarrier(options.timeoutMs ?? this.proposalTimeoutMs);
  }

  async waitForLeader(timeoutMs: number): Promise<NodeId | null> {
    const deadline = this.o.clock.monotonicMs() + timeoutMs;
    for (;;) {
      const leader = this.core.status().leaderId;
      if (leader !== null || this.o.clock.monotonicMs() >= deadline) return leader;
      await sleep(Math.min(25, Math.max(1, deadline - this.o.clock.monotonicMs())));
    }
  }

  async bootstrap(): Promise<{ clusterId: string }> {
    const s = this.core.status();
    if (s.clusterId !== '' || s.lastIndex > 0 || s.term > 0) {
      throw new ConflictError(`this node already has state (cluster ${s.clusterId || 'unknown'}, last index ${s.lastIndex})`);
    }
    const clusterId = this.o.newClusterId();
    const membership: Membership = {
      members: [{ id: this.id, incarnation: this.o.self.incarnation, role: 'voter', peerURL: this.o.self.peerURL, clientURL: this.o.self.clientURL }],
    };
    const initial = bootstrapState(membership);
    // Durable before the new identity is used anywhere.
    await this.o.saveClusterId(clusterId);
    await this.o.log.write({ hardState: initial.hardState, entries: initial.entries });
    this.o.driver.replaceCore(new RaftCore({ ...this.o.raftConfig, clusterId }, initial), { members: [] });
    return { clusterId };
  }

  async addLearner(member: NewMember): Promise<void> {
    await this.change({ type: 'add-learner', member: { id: member.id, incarnation: member.incarnation ?? '', peerURL: member.peerURL, clientURL: member.clientURL } });
  }

  async promote(id: NodeId): Promise<void> {
    await this.change({ type: 'promote', id });
  }

  async removeMember(id: NodeId): Promise<void> {
    // Removing the leader: the core keeps leading until the change commits, then hands off
    // with TimeoutNow to the most caught-up voter (thesis §4.2.2).
    await this.change({ type: 'remove', id });
  }

  async transferLeadership(to?: NodeId): Promise<{ leaderId: NodeId }> {
    const r = this.core.transferLeadership(to);
    this.o.driver.kick();
    if (!r.ok) throw this.refusalError({ ...r });
    if (r.to === this.id) return { leaderId: this.id };
    const deadline = this.o.clock.monotonicMs() + this.adminTimeoutMs;
    while (this.o.clock.monotonicMs() < deadline) {
      const s = this.core.status();
      if (s.leaderId === r.to) return { leaderId: r.to };
      if (s.role === 'leader' && s.transferring === null) break; // gave up
      await sleep(20);
    }
    throw new NoLeaderError();
  }

  async snapshotNow(): Promise<{ index: number; term: number }> {
    const meta = await this.o.driver.snapshotNow();
    return { index: meta.index, term: meta.term };
  }

  async waitApplied(index: number, timeoutMs: number): Promise<void> {
    if (this.store.appliedIndex() >= index) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NotReadyError(`this node has applied ${this.store.appliedIndex()} of ${index} entries after ${timeoutMs} ms; retry, or ask another node`)), timeoutMs);
    });
    try {
      await Promise.race([this.o.driver.waitApplied(index), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  openBackup(consistency: BackupHeader['consistency']): { header: BackupHeader; chunks: AsyncIterable<Uint8Array> } {
    const image = this.store.image(this.o.driver.appliedPoint());
    const header = backupHeaderOf(image.info, {
      clusterId: this.core.status().clusterId,
      nodeId: this.id,
      createdAt: new Date(this.o.clock.wallMs()),
      consistency,
    });
    return { header, chunks: encodeBackup(header, image.chunks) };
  }

  healthy(): boolean {
    return this.o.driver.isFatal() === null;
  }

  ready(): { ready: boolean; reason?: string } {
    if (!this.healthy()) return { ready: false, reason: 'storage failure' };
    const s = this.status();
    if (s.role === 'joining') return { ready: false, reason: 'not a member yet' };
    if (s.leaderId === null) return { ready: false, reason: 'no leader known' };
    if (this.readyTarget === null) this.readyTarget = s.commitIndex;
    if (s.appliedIndex < this.readyTarget) return { ready: false, reason: `catching up (${s.appliedIndex}/${this.readyTarget})` };
    return { ready: true };
  }

  private async change(change: MembershipChange): Promise<void> {
    let r = this.core.changeMembership(change);
    // A leader's own pending change (a new term's first commit, identity pinning) clears within a
    // round trip; only a user's change in flight is worth a 409.
    const deadline = this.o.clock.monotonicMs() + 2000;
    while (!r.ok && r.code === 'change_in_progress' && r.internal && this.o.clock.monotonicMs() < deadline) {
      this.o.driver.kick();
      await sleep(20);
      r = this.core.changeMembership(change);
    }
    this.o.driver.kick();
    if (!r.ok) throw this.refusalError(r);
    // Done only when *our* entry (index and term) is applied: a new leader may overwrite an
    // uncommitted change with its own entry at the same index (ProposalDroppedError, 503: not
    // applied). Past the deadline the change may still commit: OutcomeUnknownError (504).
    // A change that is already in effect (an idempotent repeat) names the entry that made it:
    // applied already, nothing to wait for.
    if (r.index <= this.store.appliedIndex()) return;
    await this.o.driver.awaitIndex(r.index, r.term, this.adminTimeoutMs);
  }

  private refusalError(r: Extract<ProposeResult, { ok: false }>): Error {
    switch (r.code) {
      case 'not_leader': {
        const leader = r.leaderId ? this.membership().members.find((m) => m.id === r.leaderId) : undefined;
        return new NotLeaderError(r.leaderId, leader?.clientURL ?? null);
      }
      case 'transfer_in_progress':
      case 'change_in_progress':
        return new ChangeInProgressError(r.message);
      case 'not_caught_up':
        return new NotCaughtUpError(r.message, r.lag ?? 0);
      case 'unknown_member':
        return new UnknownMemberError(r.message);
      case 'invalid':
        return new BadRequestError(r.message, 'invalid_member');
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
