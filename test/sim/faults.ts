// The safety phase's adversary: crashes with restarts, symmetric and asymmetric partitions that
// heal, wiped disks, and messages from another cluster or malformed ones. Every choice comes from
// the fault stream of the seed.
import type { Message, NodeId } from '../../node/src/raft/types.js';
import { FOREIGN_TERM_BASE } from './invariants/identity.js';
import type { SimNetwork } from './network.js';
import type { SimNode } from './node.js';
import type { FaultOptions } from './options.js';
import type { SimRng } from './random.js';
import type { Trace } from './trace.js';

export interface FaultWorld {
  now(): number;
  after(delayMs: number, run: () => void): void;
  nodeIds(): readonly NodeId[];
  node(id: NodeId): SimNode;
  isStopped(id: NodeId): boolean;
  leader(): SimNode | null;
  /** Wipe is allowed only when the cluster can still reach quorum without the node (see cluster.ts). */
  canWipe(id: NodeId): boolean;
  wipe(id: NodeId): void;
  network: SimNetwork;
  clusterId: string;
  trace: Trace;
}

export interface FaultStats {
  crashes: number;
  partitions: number;
  wipes: number;
  injected: number;
}

export class Faults {
  private active = true;
  private partitionUntilMs = -1;
  private injectedSeq = 0;
  readonly stats: FaultStats = { crashes: 0, partitions: 0, wipes: 0, injected: 0 };

  constructor(
    private readonly world: FaultWorld,
    private readonly rng: SimRng,
    private readonly options: FaultOptions,
  ) {}

  start(): void {
    const loop = (): void => {
      if (!this.active) return;
      this.roll();
      this.world.after(this.options.intervalMs, loop);
    };
    this.world.after(this.options.intervalMs, loop);
  }

  /** End of the safety phase: no more faults; heal the network and restart every crashed node. */
  healAll(): void {
    this.active = false;
    this.world.network.heal();
    this.partitionUntilMs = -1;
    for (const id of this.world.nodeIds()) {
      const node = this.world.node(id);
      if (!node.up && !this.world.isStopped(id)) node.start();
    }
    this.world.trace.log('sim', 'heal: network healed, crashed nodes restarted');
  }

  private roll(): void {
    const o = this.options;
    if (this.rng.chance(o.crashOdds)) this.crashOne();
    if (this.rng.chance(o.partitionOdds) && this.world.now() >= this.partitionUntilMs) this.partition();
    if (this.rng.chance(o.wipeOdds)) this.wipeOne();
    if (this.rng.chance(o.injectOdds)) this.inject();
  }

  private crashOne(): void {
    const ids = this.world.nodeIds().filter((id) => !this.world.isStopped(id));
    const down = ids.filter((id) => !this.world.node(id).up).length;
    const up = ids.filter((id) => this.world.node(id).up);
    if (up.length === 0 || down >= this.options.maxDown) return;
    // The leader is the most interesting victim: bias toward it.
    const leader = this.world.leader();
    const id = leader !== null && this.rng.chance(0.4) ? leader.id : this.rng.pick(up);
    this.world.node(id).crash();
    this.stats.crashes++;
    const downMs = this.rng.real(this.options.downMinMs, this.options.downMaxMs);
    this.world.after(downMs, () => {
      const node = this.world.node(id);
      if (this.active && !node.up && !this.world.isStopped(id)) node.start();
    });
  }

  private partition(): void {
    const net = this.world.network;
    const ids = [...this.world.nodeIds()];
    if (ids.length < 2) return;
    const kind = this.rng.pick(['split', 'isolate', 'one-way-out', 'one-way-in', 'links'] as const);
    const victim = this.rng.chance(0.5) ? (this.world.leader()?.id ?? this.rng.pick(ids)) : this.rng.pick(ids);
    const others = ids.filter((id) => id !== victim);
    switch (kind) {
      case 'split': {
        const shuffled = shuffle(ids, this.rng);
        const cut = this.rng.int(1, ids.length);
        net.partition(shuffled.slice(0, cut), shuffled.slice(cut));
        break;
      }
      case 'isolate':
        net.partition([victim], others);
        break;
      case 'one-way-out': // the victim hears everyone but nobody hears it
        for (const o of others) net.block(victim, o);
        break;
      case 'one-way-in': // everyone hears the victim, it hears nobody (a leader keeps sending)
        for (const o of others) net.block(o, victim);
        break;
      case 'links':
        for (const a of ids) for (const b of ids) if (a !== b && this.rng.chance(0.3)) net.block(a, b);
        break;
    }
    const healMs = this.rng.real(this.options.partitionMinMs, this.options.partitionMaxMs);
    this.partitionUntilMs = this.world.now() + healMs;
    this.stats.partitions++;
    this.world.trace.log('net', `partition ${kind} (victim ${victim}) for ${healMs.toFixed(0)}ms: ${net.blockedLinks().join(' ')}`);
    this.world.after(healMs, () => {
      if (!this.active) return;
      net.heal();
      this.world.trace.log('net', 'partition healed');
    });
  }

  private wipeOne(): void {
    const candidates = this.world.nodeIds().filter((id) => this.world.canWipe(id));
    if (candidates.length === 0) return;
    const id = this.rng.pick(candidates);
    this.world.wipe(id);
    this.stats.wipes++;
  }

  /**
   * A message with a huge term that no node may adopt: from another cluster, to a stale
   * incarnation, or malformed (the identity checker watches terms).
   */
  private inject(): void {
    const targets = this.world.nodeIds().filter((id) => {
      const n = this.world.node(id);
      return n.up && n.disk.clusterId !== '';
    });
    if (targets.length === 0) return;
    const to = this.rng.pick(targets);
    const node = this.world.node(to);
    const from = this.rng.pick(this.world.nodeIds());
    const term = FOREIGN_TERM_BASE + ++this.injectedSeq;
    const envelope = {
      clusterId: this.world.clusterId,
      from,
      fromIncarnation: '',
      to,
      toIncarnation: node.incarnation(),
      term,
    };
    const kind = this.rng.pick(['foreign-cluster', 'stale-incarnation', 'bad-entries', 'unknown-type', 'bad-term'] as const);
    let msg: unknown;
    switch (kind) {
      case 'foreign-cluster':
        msg = { ...envelope, clusterId: `other-${this.world.clusterId}`, type: 'heartbeat', commit: 0, readSeq: 0 };
        break;
      case 'stale-incarnation':
        msg = { ...envelope, toIncarnation: 'stale-incarnation', type: 'vote', preVote: false, lastLogIndex: 1e9, lastLogTerm: term, transfer: true };
        break;
      case 'bad-entries':
        msg = { ...envelope, type: 'append', prevIndex: 0, prevTerm: 0, entries: 'not-a-list', commit: 0 };
        break;
      case 'unknown-type':
        msg = { ...envelope, type: 'gossip', payload: [1, 2, 3] };
        break;
      case 'bad-term':
        msg = { ...envelope, term: `${term}`, type: 'heartbeat', commit: 0, readSeq: 0 };
        break;
    }
    this.stats.injected++;
    this.world.trace.log('net', `inject ${kind} ${from}->${to} term ${term}`);
    this.world.network.send(from, to, { msg: msg as Message, raw: true });
  }
}

function shuffle<T>(items: readonly T[], rng: SimRng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
