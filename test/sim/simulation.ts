// One seeded run: builds the cluster from the options, drives the safety phase (faults, clients,
// membership changes), then the liveness phase (heal, a fresh proposal must commit and apply on
// every live voter within a bound), then the end-of-run checks (acknowledged writes,
// linearizability). Everything happens in virtual time on one thread.
import { bootstrapState } from '../../node/src/raft/config.js';
import type { RaftConfig } from '../../node/src/raft/config.js';
import { seededRng } from '../../node/src/raft/rng.js';
import type { Member, NodeId } from '../../node/src/raft/types.js';
import { checkRegisterHistory } from '../support/linearizability.js';
import { Admin } from './admin.js';
import { Checks } from './checks.js';
import { Clients } from './clients.js';
import type { CoreFactory } from './core-api.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { Faults } from './faults.js';
import { checkAcknowledgedWrites } from './invariants/acknowledged-writes.js';
import { LivenessCheck } from './invariants/liveness.js';
import { encodeCommand } from './kv.js';
import { SimNetwork } from './network.js';
import { SimNode, type NodeEnv } from './node.js';
import { describeOptions, type SimOptions } from './options.js';
import { stream, type SimRng } from './random.js';
import { Trace } from './trace.js';
import { SimViolation } from './violation.js';

export interface SimStats {
  virtualMs: number;
  events: number;
  messages: number;
  lost: number;
  crashes: number;
  partitions: number;
  wipes: number;
  injected: number;
  membershipChanges: number;
  transfers: number;
  refusedMessages: number;
  clientOk: number;
  clientIndeterminate: number;
  leaderTerms: number;
  finalCommit: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** The broken invariant ("state-machine-safety", "liveness", "core-threw", ...). */
  checker?: string;
  message?: string;
  options: SimOptions;
  /** The last lines of the trace, for a failure report. */
  traceTail: string[];
  stats: SimStats;
}

export interface RunOptions {
  verbose?: boolean;
  /** Lines of trace kept for a failure report. */
  traceLines?: number;
  /** Where verbose lines go (default console.log). */
  sink?: (line: string) => void;
  /** A run may not process more events than this (a livelock is a failure, not a hang). */
  maxEvents?: number;
}

const ADMIN_INTERVAL_MS = 50;
const LIVENESS_PROBE_KEY = '__probe';
const PROBE_RETRY_MS = 300;

export class Simulation {
  readonly queue = new EventQueue();
  readonly trace: Trace;
  readonly checks = new Checks();
  readonly network: SimNetwork;
  readonly clients: Clients;
  readonly admin: Admin;
  readonly faults: Faults;
  readonly clusterId: string;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ids: NodeId[];
  private readonly stopped = new Set<NodeId>();
  private readonly tickPeriods = new Map<NodeId, number>();
  private readonly env: NodeEnv;
  private readonly rngs: Record<'disk' | 'ticks' | 'cores' | 'ids' | 'probe', SimRng>;
  private incarnationSeq = 0;
  private readSeq = 0;
  private events = 0;
  private phase: 'safety' | 'liveness' | 'done' = 'safety';

  constructor(
    readonly options: SimOptions,
    private readonly createCore: CoreFactory,
    private readonly run: RunOptions = {},
  ) {
    const seed = options.seed;
    this.clusterId = `cluster-${seed}`;
    this.trace = new Trace(() => this.queue.now(), {
      verbose: run.verbose ?? false,
      capacity: run.traceLines ?? 60,
      ...(run.sink ? { sink: run.sink } : {}),
    });
    this.rngs = {
      disk: stream(seed, 'disk'),
      ticks: stream(seed, 'ticks'),
      cores: stream(seed, 'cores'),
      ids: stream(seed, 'ids'),
      probe: stream(seed, 'probe'),
    };
    this.network = new SimNetwork(this.queue, stream(seed, 'network'), options.network);
    this.ids = Array.from({ length: options.poolSize }, (_, i) => `n${i + 1}`);
    this.env = this.makeEnv();
    this.clients = new Clients(this.clientWorld(), stream(seed, 'clients'), options.workload);
    this.admin = new Admin(this.adminWorld(), stream(seed, 'admin'), {
      membership: options.faults.membershipOdds,
      transfer: options.faults.transferOdds,
      stopRemoved: options.stopRemovedOdds,
    });
    this.faults = new Faults(this.faultWorld(), stream(seed, 'faults'), options.faults);
  }

  // ---- the run --------------------------------------------------------------------------------

  execute(): SimResult {
    if (this.run.verbose) for (const line of describeOptions(this.options).split('\n')) this.trace.log('sim', line);
    try {
      this.bootstrap();
      this.clients.start();
      this.faults.start();
      this.adminLoop();
      this.runUntil(this.options.safetyPhaseMs);
      this.liveness();
      this.finalChecks();
      this.phase = 'done';
      return this.result(null);
    } catch (err) {
      return this.result(err);
    }
  }

  /** Creates and starts the nodes (execute() does this; scenarios call it themselves). */
  bootstrap(): void {
    const voters = this.ids.slice(0, this.options.initialVoters);
    const incarnations = new Map(this.ids.map((id) => [id, this.newIncarnation(id)]));
    const members: Member[] = voters.map((id) => ({
      id,
      incarnation: this.options.incarnationsKnown ? (incarnations.get(id) as string) : '',
      role: 'voter',
      peerURL: `sim://${id}/peer`,
      clientURL: `sim://${id}/client`,
    }));
    const initial = bootstrapState({ members });
    for (const id of this.ids) {
      const skew = this.options.clockSkew === 0 ? 0 : this.rngs.ticks.real(-this.options.clockSkew, this.options.clockSkew);
      this.tickPeriods.set(id, this.options.tickMs * (1 + skew));
      const isVoter = voters.includes(id);
      const disk = new SimDisk(id, incarnations.get(id) as string, isVoter ? this.clusterId : '');
      if (isVoter) disk.writePersist(initial.hardState, initial.entries);
      const node = new SimNode(id, disk, this.env);
      node.awaitingAdd = !isVoter;
      this.nodes.set(id, node);
      this.network.attach(id, node);
    }
    this.trace.log('sim', `bootstrap ${this.clusterId}: voters ${voters.join(',')}, spares ${this.ids.slice(voters.length).join(',') || '-'}`);
    for (const id of this.ids) this.node(id).start();
  }

  private adminLoop(): void {
    this.queue.after(ADMIN_INTERVAL_MS, () => {
      if (this.phase === 'done') return;
      this.admin.step(this.phase === 'safety');
      this.adminLoop();
    });
  }

  runUntil(untilMs: number): void {
    const maxEvents = this.run.maxEvents ?? 3_000_000;
    while (this.queue.runNext(untilMs)) {
      if (++this.events > maxEvents) {
        throw new SimViolation('liveness', `event budget of ${maxEvents} exhausted at ${this.queue.now().toFixed(1)}ms (livelock?)`);
      }
    }
    this.queue.advanceTo(untilMs);
  }

  /**
   * Heal everything; once the clients' last operations are settled, a fresh proposal must commit
   * and reach every live voter in time. Proposed after every acknowledged write, its index bounds
   * theirs, so the final checks see every acknowledged write applied.
   */
  private liveness(): void {
    this.phase = 'liveness';
    this.clients.stop();
    this.network.options = { ...this.options.network, lossRate: 0, duplicateRate: 0, tailRate: 0 };
    this.faults.healAll();
    const check = new LivenessCheck(this.queue.now(), this.options.livenessBoundMs);
    let committed: number | null = null;
    // Like a client, the probe gives up on a proposal that does not apply in time (its leader may
    // have been deposed and the entry left dangling) and proposes again.
    let probeSinceMs = -Infinity;
    const probe = (): void => {
      if (committed !== null || !this.clients.idle()) return;
      if (this.queue.now() - probeSinceMs < PROBE_RETRY_MS) return;
      const leader = this.leader();
      if (leader === null) return;
      const id = -this.rngs.probe.int(1, 1 << 30);
      const data = encodeCommand({ op: 'put', id, key: LIVENESS_PROBE_KEY, value: `probe-${this.queue.now()}` });
      const result = leader.propose(data, id, (outcome) => {
        if (outcome.kind === 'applied' && committed === null) committed = outcome.index;
        else if (outcome.kind !== 'applied') probeSinceMs = -Infinity;
      });
      if (result.ok) probeSinceMs = this.queue.now();
    };
    for (;;) {
      probe();
      this.runUntil(this.queue.now() + this.options.tickMs);
      const voters = this.liveVoters();
      if (check.evaluate({ nowMs: this.queue.now(), committedIndex: committed, leaders: this.leaderIds(), voters })) break;
    }
    this.trace.log('sim', `liveness met: probe committed at ${committed}`);
  }

  private finalChecks(): void {
    const voters = this.liveVoters().map(({ id }) => this.node(id));
    checkAcknowledgedWrites(
      this.clients.acknowledgedWrites(),
      voters.map((n) => ({ id: n.id, appliedIndex: n.appliedIndex(), appliedAt: (op: number) => n.appliedAt(op) })),
    );
    const verdict = checkRegisterHistory(this.clients.history(), { maxSteps: 5_000_000 });
    if (verdict.outcome === 'violation') {
      throw new SimViolation('linearizability', `key ${verdict.key}: ${verdict.result.message}`);
    }
    if (verdict.outcome === 'timeout') {
      throw new SimViolation('linearizability', `checker gave up on key ${verdict.key} after ${verdict.steps} steps`);
    }
  }

  /** Voters of the leader's configuration that run under the incarnation the configuration names. */
  liveVoters(): Array<{ id: NodeId; applied: number }> {
    const leader = this.leader();
    const status = leader?.status();
    if (status === null || status === undefined) return [];
    return status.membership.members
      .filter((m) => m.role === 'voter')
      .map((m) => this.node(m.id))
      .filter((n) => n.up && !n.awaitingAdd)
      .filter((n) => {
        const member = status.membership.members.find((m) => m.id === n.id) as Member;
        return member.incarnation === '' || member.incarnation === n.incarnation();
      })
      .map((n) => ({ id: n.id, applied: n.appliedIndex() }));
  }

  // ---- world views ----------------------------------------------------------------------------

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  nodeIds(): readonly NodeId[] {
    return this.ids;
  }

  /** The live node that believes it leads in the highest term. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      const s = node.status();
      if (s !== null && s.role === 'leader' && s.term > bestTerm) {
        best = node;
        bestTerm = s.term;
      }
    }
    return best;
  }

  private leaderIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.up && n.status()?.role === 'leader').map((n) => n.id);
  }

  private newIncarnation(id: NodeId): string {
    return `${id}-${(++this.incarnationSeq).toString(36)}${this.rngs.ids.int(0, 36 ** 4).toString(36)}`;
  }

  /**
   * Wiping a voter is survivable only if the rest can still form a quorum and repair it: the
   * configuration must be settled (every live node applied the same voters), have at least three
   * voters with pinned incarnations, and no other repair or change may be under way.
   */
  private canWipe(id: NodeId): boolean {
    if (!this.options.incarnationsKnown || this.admin.busy() || this.admin.pendingRepairs() > 0) return false;
    if (this.stopped.has(id)) return false;
    const status = this.leader()?.status();
    if (status === undefined || status === null) return false;
    const voters = status.membership.members.filter((m) => m.role === 'voter');
    if (voters.length < 3 || voters.some((m) => m.incarnation === '')) return false;
    const target = voters.find((m) => m.id === id);
    if (target === undefined || target.incarnation !== this.node(id).incarnation()) return false;
    const key = voterKey(status.membership.members);
    return [...this.nodes.values()].every((n) => !n.up || n.awaitingAdd || voterKey(n.membership().members) === key);
  }

  // ---- environments handed to the parts -------------------------------------------------------

  private makeEnv(): NodeEnv {
    const o = this.options;
    return {
      now: () => this.queue.now(),
      after: (delayMs, run) => this.queue.after(delayMs, run),
      fsyncDelayMs: () => this.rngs.disk.real(o.fsyncMinMs, o.fsyncMaxMs),
      tickPeriodMs: (id) => this.tickPeriods.get(id) ?? o.tickMs,
      firstTickMs: () => this.rngs.ticks.real(0, o.tickMs),
      send: (from, to, packet, onOutcome) => this.network.send(from, to, packet, onOutcome),
      createCore: (config, initial) => this.createCore(config, initial),
      raftConfig: (id, incarnation, clusterId): RaftConfig => ({
        id,
        incarnation,
        clusterId,
        rng: seededRng(this.rngs.cores.seed()),
        ...o.raft,
      }),
      checks: this.checks,
      trace: this.trace,
    };
  }

  private clientWorld(): ConstructorParameters<typeof Clients>[0] {
    return {
      now: () => this.queue.now(),
      after: (delayMs, run) => this.queue.after(delayMs, run),
      nodeIds: () => this.ids,
      node: (id) => this.node(id),
      nextReadId: () => ++this.readSeq,
      trace: this.trace,
    };
  }

  private adminWorld(): ConstructorParameters<typeof Admin>[0] {
    return {
      now: () => this.queue.now(),
      after: (delayMs, run) => this.queue.after(delayMs, run),
      nodeIds: () => this.ids,
      node: (id) => this.node(id),
      leader: () => this.leader(),
      freshNode: (id) => {
        this.stopped.delete(id);
        this.node(id).wipe(this.newIncarnation(id));
      },
      stopNode: (id) => {
        this.stopped.add(id);
        this.node(id).crash();
        this.trace.log(id, 'stopped (removed from the cluster)');
      },
      trace: this.trace,
    };
  }

  private faultWorld(): ConstructorParameters<typeof Faults>[0] {
    return {
      now: () => this.queue.now(),
      after: (delayMs, run) => this.queue.after(delayMs, run),
      nodeIds: () => this.ids,
      node: (id) => this.node(id),
      isStopped: (id) => this.stopped.has(id),
      leader: () => this.leader(),
      canWipe: (id) => this.canWipe(id),
      wipe: (id) => {
        this.node(id).wipe(this.newIncarnation(id));
        this.admin.noteWiped(id);
      },
      network: this.network,
      clusterId: this.clusterId,
      trace: this.trace,
    };
  }

  // ---- result ---------------------------------------------------------------------------------

  private result(err: unknown): SimResult {
    const stats = this.stats();
    const base = { seed: this.options.seed, options: this.options, stats };
    if (err === null) {
      if (this.run.verbose) this.trace.log('sim', `OK ${JSON.stringify(stats)}`);
      return { ...base, ok: true, traceTail: [] };
    }
    const checker = err instanceof SimViolation ? err.checker : 'harness-error';
    const message = err instanceof SimViolation ? err.message : ((err as Error).stack ?? String(err));
    this.logNodeStates();
    this.trace.log('sim', `FAILED ${message}`);
    return { ...base, ok: false, checker, message, traceTail: this.trace.tail(this.run.traceLines ?? 60) };
  }

  /** Where every node stands, for the end of a failure's trace. */
  private logNodeStates(): void {
    for (const node of this.nodes.values()) {
      let s = null;
      try {
        s = node.status();
      } catch {
        // a broken core may throw here too; the state line is best effort
      }
      const voters = s?.membership.members.map((m) => `${m.id}${m.role === 'voter' ? '' : '(l)'}#${m.incarnation}`).join(',');
      this.trace.log(
        node.id,
        `state: ${node.up ? 'up' : this.stopped.has(node.id) ? 'stopped' : 'down'} incarnation=${node.incarnation()} ` +
          (s === null
            ? ''
            : `${s.role} term=${s.term} leader=${s.leaderId ?? '-'} commit=${s.commit} last=${s.lastIndex} ` +
              `applied=${node.appliedIndex()} snapshot=${s.snapshotIndex} config=[${voters}]`),
      );
    }
  }

  private stats(): SimStats {
    const n = this.network.stats;
    let finalCommit = 0;
    let refused = 0;
    for (const node of this.nodes.values()) {
      refused += node.refusedMessages;
      finalCommit = Math.max(finalCommit, node.appliedIndex());
    }
    return {
      virtualMs: Math.round(this.queue.now()),
      events: this.events,
      messages: n.sent,
      lost: n.lost,
      crashes: this.faults.stats.crashes,
      partitions: this.faults.stats.partitions,
      wipes: this.faults.stats.wipes,
      injected: this.faults.stats.injected,
      membershipChanges: this.admin.stats.applied,
      transfers: this.admin.stats.transfers,
      refusedMessages: refused,
      clientOk: this.clients.stats.ok,
      clientIndeterminate: this.clients.stats.indeterminate,
      leaderTerms: this.checks.election.termsWithLeader(),
      finalCommit,
    };
  }
}

function voterKey(members: readonly Member[]): string {
  return members
    .filter((m) => m.role === 'voter')
    .map((m) => `${m.id}#${m.incarnation}`)
    .sort()
    .join(',');
}

export function runSeed(options: SimOptions, createCore: CoreFactory, run: RunOptions = {}): SimResult {
  return new Simulation(options, createCore, run).execute();
}
