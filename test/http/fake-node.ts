// A ConfluxNodeApi without Raft: a real KvStore and WatchHub, with commands applied the moment they
// are proposed (encodeCommand -> a normal entry -> store.apply), so the HTTP layer is exercised
// end to end against the real state machine. Roles, leaders and failures are set by the test.
import {
  ChangeInProgressError,
  ConflictError,
  NotCaughtUpError,
  NotLeaderError,
  UnknownMemberError,
} from '../../node/src/server/errors.js';
import type { MembersView, NewMember, NodeStatus, ProposeOptions, ConfluxNodeApi } from '../../node/src/server/node-api.js';
import type { Membership, NodeId } from '../../node/src/raft/types.js';
import { encodeCommand, KvStore, WatchHub, type Command, type CommandResult } from '../../node/src/store/index.js';

type Role = 'leader' | 'follower';

interface FakeMember {
  id: NodeId;
  incarnation: string;
  peerURL: string;
  clientURL: string;
  role: 'voter' | 'learner';
  lag: number;
}

export class FakeNode implements ConfluxNodeApi {
  store = new KvStore();
  watches = new WatchHub(this.store);
  role: Role = 'leader';
  leaderId: NodeId | null;
  private leaderURL: string | null = null;
  private waiters: Array<(id: NodeId | null) => void> = [];
  private term = 1;
  private lastIndex = 0;
  clusterId = '';
  isHealthy = true;
  readiness: { ready: boolean; reason?: string } = { ready: true };

  /** Every command that reached propose on this node as leader, in order. */
  readonly proposed: Command[] = [];
  readBarriers = 0;
  /** Runs before a proposal is applied: throw to simulate driver failures, await to delay. */
  beforePropose: ((command: Command) => void | Promise<void>) | null = null;
  /** Runs before a read barrier passes. */
  beforeRead: (() => void | Promise<void>) | null = null;

  members_: FakeMember[];
  changeInProgress = false;

  constructor(readonly id: NodeId = 'n1') {
    this.leaderId = id;
    this.members_ = [{ id, incarnation: 'inc-1', peerURL: 'http://127.0.0.1:1', clientURL: 'http://127.0.0.1:2', role: 'voter', lag: 0 }];
  }

  // ---- test controls --------------------------------------------------------------------------

  /** An empty store (revisions start at 1 again), no hooks, no recorded calls. */
  reset(): void {
    this.watches.close();
    this.store = new KvStore();
    this.watches = new WatchHub(this.store);
    this.lastIndex = 0;
    this.proposed.length = 0;
    this.readBarriers = 0;
    this.beforePropose = null;
    this.beforeRead = null;
  }

  becomeLeader(): void {
    this.role = 'leader';
    this.setLeader(this.id, null);
  }

  /** Follower of `leaderId` serving clients at `url` (null: leader unknown). */
  becomeFollower(leaderId: NodeId | null, url: string | null): void {
    this.role = 'follower';
    this.setLeader(leaderId, url);
  }

  private setLeader(id: NodeId | null, url: string | null): void {
    this.leaderId = id;
    this.leaderURL = url;
    if (id !== null) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w(id);
    }
  }

  /** Applies a command locally whatever the role (to give a follower data). */
  applyNow(command: Command): CommandResult {
    this.lastIndex++;
    const entry = { index: this.lastIndex, term: this.term, kind: 'normal' as const, data: encodeCommand(command) };
    const [result] = this.store.apply([entry]);
    if (result === null || result === undefined) throw new Error('normal entry without a result');
    return result;
  }

  // ---- ConfluxNodeApi -------------------------------------------------------------------------

  status(): NodeStatus {
    return {
      id: this.id,
      incarnation: 'inc-1',
      clusterId: this.clusterId,
      role: this.role,
      term: this.term,
      leaderId: this.leaderId,
      commitIndex: this.lastIndex,
      appliedIndex: this.store.appliedIndex(),
      lastLogIndex: this.lastIndex,
      snapshotIndex: 0,
      raftRole: this.role,
    };
  }

  members(): MembersView {
    return {
      leaderId: this.leaderId,
      members: this.members_.map((m) => ({
        id: m.id,
        incarnation: m.incarnation,
        peerURL: m.peerURL,
        clientURL: m.clientURL,
        role: m.role,
        matchIndex: Math.max(0, this.lastIndex - m.lag),
        lag: m.lag,
        healthy: true,
      })),
    };
  }

  membership(): Membership {
    return { members: this.members_.map(({ id, incarnation, peerURL, clientURL, role }) => ({ id, incarnation, peerURL, clientURL, role })) };
  }

  leaderClientURL(): string | null {
    return this.role === 'leader' ? null : this.leaderURL;
  }

  isLeader(): boolean {
    return this.role === 'leader';
  }

  private requireLeader(): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leaderId, this.leaderURL);
  }

  async propose(command: Command, _options?: ProposeOptions): Promise<CommandResult> {
    this.requireLeader();
    if (this.beforePropose !== null) await this.beforePropose(command);
    this.proposed.push(command);
    return this.applyNow(command);
  }

  async readBarrier(_options?: ProposeOptions): Promise<void> {
    this.requireLeader();
    if (this.beforeRead !== null) await this.beforeRead();
    this.readBarriers++;
  }

  waitForLeader(timeoutMs: number): Promise<NodeId | null> {
    if (this.leaderId !== null) return Promise.resolve(this.leaderId);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(null);
      }, timeoutMs);
      const waiter = (id: NodeId | null): void => {
        clearTimeout(timer);
        resolve(id);
      };
      this.waiters.push(waiter);
    });
  }

  async bootstrap(): Promise<{ clusterId: string }> {
    if (this.clusterId !== '') throw new ConflictError('this node already has state');
    this.clusterId = 'cluster-1';
    return { clusterId: this.clusterId };
  }

  async addLearner(member: NewMember): Promise<void> {
    this.requireLeader();
    if (this.changeInProgress) throw new ChangeInProgressError();
    const existing = this.members_.find((m) => m.id === member.id);
    if (existing !== undefined) {
      if (existing.peerURL === member.peerURL && existing.clientURL === member.clientURL) return;
      throw new ConflictError(`member ${member.id} exists with other URLs`);
    }
    this.members_.push({ ...member, incarnation: member.incarnation ?? '', role: 'learner', lag: 0 });
  }

  async promote(id: NodeId): Promise<void> {
    this.requireLeader();
    const m = this.members_.find((x) => x.id === id);
    if (m === undefined) throw new UnknownMemberError(`no member ${id}`);
    if (m.lag > 100) throw new NotCaughtUpError(`member ${id} is ${m.lag} entries behind`, m.lag);
    m.role = 'voter';
  }

  async removeMember(id: NodeId): Promise<void> {
    this.requireLeader();
    if (!this.members_.some((m) => m.id === id)) throw new UnknownMemberError(`no member ${id}`);
    this.members_ = this.members_.filter((m) => m.id !== id);
  }

  async transferLeadership(to?: NodeId): Promise<{ leaderId: NodeId }> {
    this.requireLeader();
    const target = to ?? this.members_.find((m) => m.id !== this.id && m.role === 'voter')?.id;
    if (target === undefined) throw new UnknownMemberError('no voter to transfer leadership to');
    if (!this.members_.some((m) => m.id === target)) throw new UnknownMemberError(`no member ${target}`);
    return { leaderId: target };
  }

  async snapshotNow(): Promise<{ index: number; term: number }> {
    return { index: this.store.appliedIndex(), term: this.term };
  }

  healthy(): boolean {
    return this.isHealthy;
  }

  ready(): { ready: boolean; reason?: string } {
    return this.readiness;
  }
}
