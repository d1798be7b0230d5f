// The membership operator of the simulation (what the Kubernetes operator does for real, design
// §5): one change at a time, through the current leader. It adds learners (always fresh nodes,
// like a new pod with a new volume), promotes them, removes voters and learners (the leader
// included), transfers leadership, and repairs wiped nodes: remove the old member, add the new
// incarnation as a learner, promote it.
import type { Member, NodeId } from '../../node/src/raft/types.js';
import type { MembershipChange } from './core-api.js';
import type { SimNode } from './node.js';
import type { SimRng } from './random.js';
import type { Trace } from './trace.js';

export interface AdminWorld {
  now(): number;
  after(delayMs: number, run: () => void): void;
  nodeIds(): readonly NodeId[];
  node(id: NodeId): SimNode;
  /** The live node that believes it leads in the highest term, if any. */
  leader(): SimNode | null;
  /** Give `id` an empty disk and a new incarnation, and start it (a fresh pod). */
  freshNode(id: NodeId): void;
  /** Stop a node for good (scaled away): faults no longer restart it. */
  stopNode(id: NodeId): void;
  trace: Trace;
}

export interface AdminStats {
  proposed: number;
  applied: number;
  refused: number;
  transfers: number;
  repairsDone: number;
}

const CHANGE_TIMEOUT_MS = 2000;

export class Admin {
  private inFlight: { change: MembershipChange; sinceMs: number; seq: number } | null = null;
  private seq = 0;
  /** Wiped nodes still to be re-added (node id -> promote once it is a learner). */
  private readonly repairs = new Set<NodeId>();
  readonly stats: AdminStats = { proposed: 0, applied: 0, refused: 0, transfers: 0, repairsDone: 0 };

  constructor(
    private readonly world: AdminWorld,
    private readonly rng: SimRng,
    private readonly odds: { membership: number; transfer: number; stopRemoved: number },
  ) {}

  busy(): boolean {
    return this.inFlight !== null;
  }

  pendingRepairs(): number {
    return this.repairs.size;
  }

  noteWiped(id: NodeId): void {
    this.repairs.add(id);
  }

  /**
   * One reconcile pass. With `allowChanges` false only repairs run (the liveness phase), so the
   * configuration converges instead of churning.
   */
  step(allowChanges: boolean): void {
    if (this.inFlight !== null) {
      if (this.world.now() - this.inFlight.sinceMs < CHANGE_TIMEOUT_MS) return;
      this.world.trace.log('adm', `change timed out: ${JSON.stringify(this.inFlight.change)}`);
      this.inFlight = null;
    }
    const leader = this.world.leader();
    if (leader === null) return;
    const status = leader.status();
    if (status === null) return;
    const members = status.membership.members;
    if (this.repair(leader, members)) return;
    if (!allowChanges) return;
    if (this.rng.chance(this.odds.transfer)) {
      const voters = members.filter((m) => m.role === 'voter' && m.id !== leader.id);
      const to = voters.length > 0 && this.rng.chance(0.7) ? this.rng.pick(voters).id : undefined;
      const result = leader.transferLeadership(to);
      this.stats.transfers++;
      this.world.trace.log('adm', `transfer leadership from ${leader.id} to ${to ?? '(any)'}: ${JSON.stringify(result)}`);
      return;
    }
    if (!this.rng.chance(this.odds.membership)) return;
    const change = this.pickChange(members, leader);
    if (change !== null) this.propose(leader, change);
  }

  private repair(leader: SimNode, members: readonly Member[]): boolean {
    for (const id of this.repairs) {
      const node = this.world.node(id);
      const member = members.find((m) => m.id === id);
      if (member !== undefined && member.incarnation !== node.incarnation()) {
        this.propose(leader, { type: 'remove', id });
        return true;
      }
      if (member === undefined) {
        if (!node.up) this.world.freshNode(id);
        this.propose(leader, { type: 'add-learner', member: memberInfo(id, node.incarnation()) });
        return true;
      }
      if (member.role === 'learner') {
        this.propose(leader, { type: 'promote', id });
        return true;
      }
      this.repairs.delete(id);
      this.stats.repairsDone++;
      this.world.trace.log('adm', `repair of ${id} done`);
    }
    return false;
  }

  private pickChange(members: readonly Member[], leader: SimNode): MembershipChange | null {
    const leaderId = leader.id;
    // An id is free for a new volume only once its removal is committed: absent from the latest
    // configuration and from the one the leader has applied (the operator reads the committed
    // configuration). Wiping a member whose removal may still be undone would lose a voter.
    const inConfig = new Set([...members, ...leader.membership().members].map((m) => m.id));
    const voters = members.filter((m) => m.role === 'voter');
    const learners = members.filter((m) => m.role === 'learner');
    const spares = this.world.nodeIds().filter((id) => !inConfig.has(id) && !this.repairs.has(id));
    const options: Array<() => MembershipChange | null> = [];
    if (spares.length > 0) {
      options.push(() => {
        const id = this.rng.pick(spares);
        // An id that was ever used gets a new disk: the operator never reuses a volume.
        const node = this.world.node(id);
        if (!node.up || node.disk.clusterId !== '' || node.disk.lastIndex() > 0) this.world.freshNode(id);
        return { type: 'add-learner', member: memberInfo(id, this.world.node(id).incarnation()) };
      });
    }
    if (learners.length > 0) options.push(() => ({ type: 'promote', id: this.rng.pick(learners).id }));
    if (learners.length > 0) options.push(() => ({ type: 'remove', id: this.rng.pick(learners).id }));
    if (voters.length > 1 && this.repairs.size === 0) {
      options.push(() => {
        // The leader itself a fair share of the time: it must hand off (design §2).
        const id = this.rng.chance(0.3) ? leaderId : this.rng.pick(voters).id;
        return { type: 'remove', id };
      });
    }
    if (options.length === 0) return null;
    return this.rng.pick(options)();
  }

  private propose(leader: SimNode, change: MembershipChange): void {
    const seq = ++this.seq;
    this.inFlight = { change, sinceMs: this.world.now(), seq };
    const result = leader.changeMembership(change, (outcome) => {
      if (this.inFlight?.seq !== seq) return;
      this.inFlight = null;
      this.world.trace.log('adm', `change ${describe(change)}: ${outcome.kind}`);
      if (outcome.kind !== 'applied') return;
      this.stats.applied++;
      if (change.type === 'remove' && this.rng.chance(this.odds.stopRemoved) && !this.repairs.has(change.id)) {
        const id = change.id;
        const incarnation = this.world.node(id).incarnation();
        this.world.after(this.rng.real(0, 300), () => {
          // Scale-in acts only on what it can see: the same volume, and a leader whose latest and
          // applied configurations both lack the id (it may have been added back meanwhile).
          const leader = this.world.leader();
          const status = leader?.status();
          if (leader === null || status === null || status === undefined) return;
          const named = [...status.membership.members, ...leader.membership().members].some((m) => m.id === id);
          if (named || this.world.node(id).incarnation() !== incarnation || this.repairs.has(id)) return;
          this.world.stopNode(id);
        });
      }
    });
    this.stats.proposed++;
    this.world.trace.log('adm', `propose ${describe(change)} via ${leader.id}: ${JSON.stringify(result)}`);
    if (!result.ok) {
      this.stats.refused++;
      if (this.inFlight?.seq === seq) this.inFlight = null;
      return;
    }
    if (change.type === 'add-learner') this.world.node(change.member.id).awaitingAdd = false;
  }
}

function memberInfo(id: NodeId, incarnation: string): Extract<MembershipChange, { type: 'add-learner' }>['member'] {
  return { id, incarnation, peerURL: `sim://${id}/peer`, clientURL: `sim://${id}/client` };
}

function describe(change: MembershipChange): string {
  return change.type === 'add-learner'
    ? `add-learner ${change.member.id}#${change.member.incarnation}`
    : `${change.type} ${change.id}`;
}
