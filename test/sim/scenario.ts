// Scripted runs for targeted tests: the same nodes, network, disks and checkers as the seeded
// runs, with no random faults, clients or operator; the test moves time and breaks links itself.
// Every invariant checker still runs on every step.
import type { NodeId } from '../../node/src/raft/types.js';
import type { CoreFactory, MembershipChange } from './core-api.js';
import { encodeCommand } from './kv.js';
import type { SimNode } from './node.js';
import { fromSeed, type SimOptions } from './options.js';
import { Simulation } from './simulation.js';

export interface ScenarioOptions {
  voters: number;
  /** Nodes beyond the voters, waiting to be added. */
  spares?: number;
  seed?: number;
  incarnationsKnown?: boolean;
  maxEntriesPerAppend?: number;
  verbose?: boolean;
}

export class Scenario {
  readonly sim: Simulation;
  private writes = 0;

  constructor(createCore: CoreFactory, o: ScenarioOptions) {
    const base = fromSeed(o.seed ?? 1);
    const options: SimOptions = {
      ...base,
      poolSize: o.voters + (o.spares ?? 0),
      initialVoters: o.voters,
      incarnationsKnown: o.incarnationsKnown ?? true,
      clockSkew: 0,
      network: { lossRate: 0, duplicateRate: 0, delayMinMs: 0.5, delayMaxMs: 3, tailRate: 0, tailMaxMs: 10 },
      raft: {
        ...base.raft,
        electionTicksMin: 10,
        electionTicksMax: 20,
        heartbeatTicks: 1,
        snapshotEntries: 10_000,
        leaseReads: false,
        ...(o.maxEntriesPerAppend !== undefined ? { maxEntriesPerAppend: o.maxEntriesPerAppend } : {}),
      },
    };
    this.sim = new Simulation(options, createCore, { verbose: o.verbose ?? false, traceLines: 200 });
    this.sim.bootstrap();
  }

  now(): number {
    return this.sim.queue.now();
  }

  node(id: NodeId): SimNode {
    return this.sim.node(id);
  }

  runFor(ms: number): void {
    this.sim.runUntil(this.now() + ms);
  }

  /** Runs until `condition` holds; throws with the trace's tail if it does not within `withinMs`. */
  waitFor(what: string, condition: () => boolean, withinMs = 3000): void {
    const deadline = this.now() + withinMs;
    while (!condition()) {
      if (this.now() >= deadline) {
        throw new Error(`timed out after ${withinMs}ms waiting for ${what}\n${this.sim.trace.tail(40).join('\n')}`);
      }
      this.sim.runUntil(this.now() + 1);
    }
  }

  leader(): SimNode | null {
    return this.sim.leader();
  }

  waitForLeader(withinMs = 3000): SimNode {
    this.waitFor('a leader', () => this.leader() !== null, withinMs);
    return this.leader() as SimNode;
  }

  term(id: NodeId): number {
    return this.node(id).status()?.term ?? -1;
  }

  /** Proposes a put through the current leader and runs until it is applied there. */
  write(withinMs = 3000): number {
    const key = 'k';
    const id = ++this.writes;
    let applied: number | null = null;
    const deadline = this.now() + withinMs;
    while (applied === null) {
      const leader = this.waitForLeader(Math.max(1, deadline - this.now()));
      const result = leader.propose(encodeCommand({ op: 'put', id, key, value: `v${id}` }), id, (outcome) => {
        if (outcome.kind === 'applied') applied = outcome.index;
      });
      if (result.ok) this.waitFor(`write #${id} applied`, () => applied !== null || !leader.up, Math.max(1, deadline - this.now()));
      else this.runFor(5);
    }
    return applied;
  }

  /** A membership change through the leader, run until the leader applies it. */
  change(change: MembershipChange, withinMs = 3000): void {
    const deadline = this.now() + withinMs;
    for (;;) {
      const leader = this.waitForLeader(Math.max(1, deadline - this.now()));
      let done: string | null = null;
      const result = leader.changeMembership(change, (outcome) => (done = outcome.kind));
      if (result.ok) {
        if (change.type === 'add-learner') this.node(change.member.id).awaitingAdd = false;
        this.waitFor(`${change.type} applied`, () => done !== null, Math.max(1, deadline - this.now()));
        if (done === 'applied') return;
      } else if (this.now() >= deadline) {
        throw new Error(`${change.type} refused: ${JSON.stringify(result)}`);
      } else {
        this.runFor(20);
      }
    }
  }

  isolate(id: NodeId): void {
    const others = this.sim.nodeIds().filter((x) => x !== id);
    this.sim.network.partition([id], others);
  }

  heal(): void {
    this.sim.network.heal();
  }
}
