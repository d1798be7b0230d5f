// A small, synchronous, in-memory network of RaftCores for the core's unit tests. Persistence is
// instant and messages are delivered in order unless a test drops or holds them. The seeded
// simulator (test/sim) is where asynchrony and faults are explored; this is for exact scenarios.
import { bootstrapState, defaultRaftTunables, emptyState, type RaftConfig, type RaftInitialState } from '../../node/src/raft/config.js';
import { RaftCore } from '../../node/src/raft/core.js';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Action, Entry, HardState, Member, Membership, Message, NodeId, RaftEvent, SnapshotMeta } from '../../node/src/raft/types.js';

export interface TestNode {
  id: NodeId;
  core: RaftCore;
  /** The "disk": what persist actions wrote. */
  hardState: HardState;
  log: Entry[];
  snapshot: SnapshotMeta | null;
  applied: Entry[];
  events: RaftEvent[];
  reads: { id: number; index: number }[];
  failedReads: number[];
  snapshotRequests: number[];
  /** The size the "driver" reports for each snapshot it takes (default 0). */
  snapshotSizeBytes?: number;
  sentSnapshots: { to: NodeId; meta: SnapshotMeta }[];
}

export function member(id: NodeId, role: Member['role'] = 'voter', incarnation = `inc-${id}`): Member {
  return { id, incarnation, role, peerURL: `http://${id}:7071`, clientURL: `http://${id}:7070` };
}

export function membershipOf(ids: NodeId[], learners: NodeId[] = []): Membership {
  return { members: [...ids.map((id) => member(id)), ...learners.map((id) => member(id, 'learner'))] };
}

export function makeConfig(id: NodeId, overrides: Partial<RaftConfig> = {}, seed = 1): RaftConfig {
  return {
    ...defaultRaftTunables,
    id,
    incarnation: `inc-${id}`,
    clusterId: 'c1',
    rng: seededRng(seed + id.charCodeAt(id.length - 1)),
    ...overrides,
  };
}

export class Net {
  nodes = new Map<NodeId, TestNode>();
  /** Messages waiting for delivery, in send order. */
  queue: Message[] = [];
  /** Links that drop messages: "a->b". */
  cut = new Set<string>();
  delivered: Message[] = [];

  static bootstrap(ids: NodeId[], overrides: Partial<RaftConfig> = {}): Net {
    const net = new Net();
    const m = membershipOf(ids);
    for (const id of ids) net.add(id, bootstrapState(m), overrides);
    return net;
  }

  add(id: NodeId, initial: RaftInitialState = emptyState(), overrides: Partial<RaftConfig> = {}): TestNode {
    const node: TestNode = {
      id,
      core: new RaftCore(makeConfig(id, overrides), initial),
      hardState: { ...initial.hardState },
      log: [...initial.entries],
      snapshot: initial.snapshot,
      applied: [],
      events: [],
      reads: [],
      failedReads: [],
      snapshotRequests: [],
      sentSnapshots: [],
    };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Run the driver contract for one node: perform its actions in order. */
  drain(id: NodeId): Action[] {
    const n = this.node(id);
    const actions = n.core.takeActions();
    for (const a of actions) this.perform(n, a);
    return actions;
  }

  private perform(n: TestNode, a: Action): void {
    switch (a.kind) {
      case 'send':
        this.queue.push(a.msg);
        return;
      case 'persist': {
        if (a.hardState) n.hardState = { ...a.hardState };
        if (a.entries.length > 0) {
          const first = a.entries[0]!.index;
          n.log = n.log.filter((e) => e.index < first).concat(a.entries);
          const last = a.entries[a.entries.length - 1]!;
          n.core.persisted(last.index, last.term);
        }
        return;
      }
      case 'install-snapshot':
        n.snapshot = a.meta;
        n.log = [];
        n.applied = n.applied.filter((e) => e.index <= a.meta.index);
        return;
      case 'apply':
        n.applied.push(...a.entries);
        return;
      case 'send-snapshot':
        n.sentSnapshots.push({ to: a.to, meta: a.meta });
        return;
      case 'take-snapshot': {
        n.snapshotRequests.push(a.index);
        const status = n.core.status();
        const term = n.applied.find((e) => e.index === a.index)?.term ?? n.snapshot?.term ?? 0;
        n.core.snapshotTaken({ index: a.index, term, membership: status.membership }, n.snapshotSizeBytes ?? 0);
        return;
      }
      case 'compact-log':
        n.log = n.log.filter((e) => e.index > a.index);
        return;
      case 'read-ready':
        n.reads.push({ id: a.id, index: a.index });
        return;
      case 'read-failed':
        n.failedReads.push(a.id);
        return;
      case 'adopt-cluster-id':
        return;
      case 'event':
        n.events.push(a.event);
        return;
    }
  }

  /** Deliver queued messages (and the messages they cause) until the network is quiet. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      for (const id of this.nodes.keys()) this.drain(id);
      if (this.queue.length === 0 && ![...this.nodes.values()].some((n) => n.core.hasActions())) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliver(m);
    }
    throw new Error('network did not stabilize');
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}->${m.to}`)) return;
    const target = this.nodes.get(m.to);
    if (!target) return;
    this.delivered.push(m);
    target.core.step(m);
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).core.tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.nodes.keys()) this.node(id).core.tick();
      this.stabilize();
    }
  }

  /** Make `id` campaign now by ticking it past any election timeout. */
  elect(id: NodeId): void {
    const n = this.node(id);
    for (let i = 0; i < 100 && n.core.status().role !== 'leader'; i++) {
      n.core.tick();
      this.stabilize();
    }
    if (n.core.status().role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  propose(id: NodeId, text: string): ReturnType<RaftCore['propose']> {
    return this.node(id).core.propose(new TextEncoder().encode(text));
  }

  /** The normal entries a node applied, as text. */
  appliedText(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.kind === 'normal')
      .map((e) => new TextDecoder().decode(e.data));
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.core.status().role === 'leader').map((n) => n.id);
  }
}
