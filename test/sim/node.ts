// A simulated Conflux node: one real RaftCore plus a driver that performs its actions the way the
// server's driver must (types.ts, Action), against a SimDisk with virtual fsync latency, a
// SimNetwork and the sim KV. A crash throws away everything that is not on the disk.
import type { RaftConfig, RaftInitialState } from '../../node/src/raft/config.js';
import type { Action, Entry, Membership, Message, NodeId, SnapshotMeta } from '../../node/src/raft/types.js';
import type { Checks } from './checks.js';
import type { LeaderLog } from './invariants/leader-completeness.js';
import type { CoreStatus, MembershipChange, ProposeResult, ReadIndexResult, SimCore, TransferResult } from './core-api.js';
import { SimDisk } from './disk.js';
import { fingerprint, Kv, type KvImage, type KvResult } from './kv.js';
import type { DeliveryOutcome, Packet } from './network.js';
import type { Trace } from './trace.js';
import { SimViolation } from './violation.js';

/** What a node needs from its world. */
export interface NodeEnv {
  now(): number;
  after(delayMs: number, run: () => void): void;
  fsyncDelayMs(): number;
  tickPeriodMs(node: NodeId): number;
  /** Delay of a freshly started node's first tick (so that nodes do not tick in lockstep). */
  firstTickMs(node: NodeId): number;
  send(from: NodeId, to: NodeId, packet: Packet, onOutcome?: (outcome: DeliveryOutcome) => void): void;
  createCore(config: RaftConfig, initial: RaftInitialState): SimCore;
  raftConfig(node: NodeId, incarnation: string, clusterId: string): RaftConfig;
  checks: Checks;
  trace: Trace;
}

/** The fate of a proposal, learned when the proposing node applies its index. */
export type ProposalOutcome =
  | { kind: 'applied'; index: number; result: KvResult | null }
  /** A different entry was applied at that index: this proposal can never be applied. */
  | { kind: 'rejected' }
  /** The node crashed, or skipped the index with a snapshot: unknown. */
  | { kind: 'unknown' };

interface PendingProposal {
  term: number;
  opId: number | null;
  done: (outcome: ProposalOutcome) => void;
}

export interface ReadWaiter {
  key: string;
  served: (value: string | null) => void;
  /** read-failed, or the node crashed: the read had no effect and may be retried. */
  failed: (reason: string) => void;
}

export class SimNode {
  disk: SimDisk;
  up = false;
  /** Increases at every start and crash, so that callbacks of an earlier life are ignored. */
  private boot = 0;
  private core: SimCore | null = null;
  private queue: Action[] = [];
  private queueHead = 0;
  private blocked = false;
  private pumping = false;
  private kv = new Kv();
  private appliedTerm = 0;
  private appliedMembership: Membership = { members: [] };
  // The core's log as its persist/install actions describe it (ahead of the disk while writes are
  // in flight): what leader completeness checks.
  private logBase = 0;
  private logBaseTerm = 0;
  private logTerms: number[] = [];
  private proposals = new Map<number, PendingProposal[]>();
  private reads = new Map<number, ReadWaiter>();
  private readyReads: Array<{ id: number; index: number }> = [];
  private incomingSnapshots = new Map<string, KvImage>();
  private lastRole = '';
  private lastTerm = -1;
  /**
   * True while the node is not (yet) a member under its current incarnation: a spare that waits
   * to be added, or a wiped node. It must store nothing from the cluster until then.
   */
  awaitingAdd = false;
  refusedMessages = 0;
  private server: string;

  constructor(
    readonly id: NodeId,
    disk: SimDisk,
    private readonly env: NodeEnv,
  ) {
    this.disk = disk;
    this.server = `${id}#${disk.incarnation}`;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  start(): void {
    if (this.up) return;
    this.boot++;
    this.up = true;
    const snapshot = this.disk.snapshot;
    this.kv = snapshot === null ? new Kv() : Kv.restore(snapshot.image);
    this.appliedTerm = snapshot?.meta.term ?? 0;
    this.appliedMembership = snapshot?.meta.membership ?? { members: [] };
    const initial = this.disk.initialState();
    this.logBase = initial.snapshot?.index ?? 0;
    this.logBaseTerm = initial.snapshot?.term ?? 0;
    this.logTerms = initial.entries.map((e) => e.term);
    this.lastRole = '';
    this.lastTerm = -1;
    const config = this.env.raftConfig(this.id, this.disk.incarnation, this.disk.clusterId);
    this.core = this.env.createCore(config, initial);
    this.env.trace.log(this.id, `start incarnation=${this.disk.incarnation} term=${initial.hardState.term} ` +
      `snapshot=${this.logBase} entries=${initial.entries.length} clusterId=${this.disk.clusterId || "''"}`);
    this.scheduleTick(this.boot, this.env.firstTickMs(this.id));
    this.pump();
  }

  crash(): void {
    if (!this.up) return;
    this.env.trace.log(this.id, `CRASH (disk: term=${this.disk.hardState.term} last=${this.disk.lastIndex()} ` +
      `snapshot=${this.disk.snapshotIndex()})`);
    this.up = false;
    this.boot++;
    this.core = null;
    this.queue = [];
    this.queueHead = 0;
    this.blocked = false;
    this.incomingSnapshots.clear();
    const proposals = [...this.proposals.values()].flat();
    const reads = [...this.reads.values()];
    this.proposals.clear();
    this.reads.clear();
    this.readyReads = [];
    for (const p of proposals) p.done({ kind: 'unknown' });
    for (const r of reads) r.failed('crash');
  }

  /** Restart with an empty disk and a new incarnation: a new server that happens to reuse the id. */
  wipe(newIncarnation: string): void {
    this.crash();
    this.disk = new SimDisk(this.id, newIncarnation, '');
    this.server = `${this.id}#${newIncarnation}`;
    this.awaitingAdd = true;
    this.env.trace.log(this.id, `WIPE -> incarnation ${newIncarnation}`);
    this.start();
  }

  // ---- inputs ---------------------------------------------------------------------------------

  private scheduleTick(boot: number, delayMs: number): void {
    this.env.after(delayMs, () => {
      if (this.boot !== boot || !this.up) return;
      this.withCore((core) => core.tick());
      this.observeRole();
      this.scheduleTick(boot, this.env.tickPeriodMs(this.id));
    });
  }

  /** Network endpoint: false when the node is down (the sender's transport sees an error). */
  receive(packet: Packet): boolean {
    if (!this.up) return false;
    const msg = packet.msg;
    if (msg.type === 'snapshot' && packet.snapshot !== undefined && packet.raw !== true) {
      this.incomingSnapshots.set(snapshotKey(msg.meta), packet.snapshot);
    }
    if (this.env.trace.detailed) this.env.trace.log(this.id, `<- ${describeMessage(msg)}`);
    this.withCore((core) => core.step(msg));
    return true;
  }

  // Waiters are registered before the actions of the call are performed: a lone voter may answer
  // a read (or, in principle, apply) within the same call.
  propose(data: Uint8Array, opId: number | null, done: (outcome: ProposalOutcome) => void): ProposeResult {
    const result = this.withCore((core) => core.propose(data), false);
    if (result.ok) this.expect(result.index, result.term, opId, done);
    this.pump();
    return result;
  }

  changeMembership(change: MembershipChange, done: (outcome: ProposalOutcome) => void): ProposeResult {
    const result = this.withCore((core) => core.changeMembership(change), false);
    if (result.ok) this.expect(result.index, result.term, null, done);
    this.pump();
    return result;
  }

  readIndex(id: number, waiter: ReadWaiter): ReadIndexResult {
    const result = this.withCore((core) => core.readIndex(id), false);
    if (result.ok) this.reads.set(id, waiter);
    this.pump();
    return result;
  }

  transferLeadership(to?: NodeId): TransferResult {
    return this.withCore((core) => core.transferLeadership(to));
  }

  status(): CoreStatus | null {
    return this.core === null ? null : this.core.status();
  }

  // ---- observations ---------------------------------------------------------------------------

  appliedIndex(): number {
    return this.kv.index();
  }

  appliedAt(opId: number): number | undefined {
    return this.kv.appliedAt(opId);
  }

  value(key: string): string | null {
    return this.kv.get(key);
  }

  incarnation(): string {
    return this.disk.incarnation;
  }

  /** Membership as of the applied index (what a snapshot taken now records). */
  membership(): Membership {
    return this.appliedMembership;
  }

  /** Calls the core; any exception from it is a core bug ("never throws"). Then performs actions. */
  private withCore<T>(call: (core: SimCore) => T, perform = true): T {
    const core = this.core;
    if (core === null) throw new Error(`${this.id} is down`);
    let result: T;
    try {
      result = call(core);
    } catch (err) {
      if (err instanceof SimViolation) throw err;
      throw new SimViolation('core-threw', `${this.id}: ${(err as Error).stack ?? String(err)}`);
    }
    if (perform) this.pump();
    return result;
  }

  private observeRole(): void {
    const core = this.core;
    if (core === null) return;
    const s = core.status();
    if (s.role !== this.lastRole || s.term !== this.lastTerm) {
      this.lastRole = s.role;
      this.lastTerm = s.term;
      this.env.trace.log(this.id, `${s.role} term=${s.term} leader=${s.leaderId ?? '-'} commit=${s.commit} last=${s.lastIndex}`);
    }
    this.env.checks.observeRole(this.server, s.role, s.term, this.logView);
  }

  private readonly logView: LeaderLog = ((node: SimNode): LeaderLog => ({
    termAt: (index) => (index === node.logBase ? node.logBaseTerm : node.logTerms[index - node.logBase - 1]),
    get snapshotIndex() {
      return node.logBase;
    },
  }))(this);

  // ---- the driver -----------------------------------------------------------------------------

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const core = this.core;
        if (core === null) return;
        const fresh = core.takeActions();
        for (const a of fresh) this.accept(a);
        if (this.blocked || this.queueHead >= this.queue.length) return;
        const action = this.queue[this.queueHead++] as Action;
        if (this.queueHead > 256 && this.queueHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueHead);
          this.queueHead = 0;
        }
        this.perform(action);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Actions as the core emits them: the log view follows persists and installs right away. */
  private accept(action: Action): void {
    if (action.kind === 'persist' && action.entries.length > 0) {
      const first = (action.entries[0] as Entry).index;
      if (first <= this.logBase) {
        // Rewriting below a snapshot: keep the view simple and trust the disk checks.
        this.logTerms = [];
      } else {
        this.logTerms.length = Math.min(this.logTerms.length, first - this.logBase - 1);
      }
      for (const e of action.entries) if (e.index > this.logBase) this.logTerms.push(e.term);
    } else if (action.kind === 'install-snapshot') {
      this.logBase = action.meta.index;
      this.logBaseTerm = action.meta.term;
      this.logTerms = [];
    } else if (action.kind === 'event') {
      this.onEvent(action);
      return;
    } else if (action.kind === 'send' && (action as { early?: boolean }).early === true) {
      // Depends on no persist at all (a leader's appends): may leave while earlier writes are in
      // flight (thesis §10.2.1).
      this.sendMessage(action.msg);
      return;
    }
    this.queue.push(action);
  }

  private perform(action: Action): void {
    switch (action.kind) {
      case 'send':
        return this.sendMessage(action.msg);
      case 'persist':
        return this.persist(action);
      case 'install-snapshot':
        return this.install(action.meta);
      case 'apply':
        for (const entry of action.entries) this.applyEntry(entry);
        return this.serveReadyReads();
      case 'send-snapshot':
        return this.sendSnapshot(action.to, action.toIncarnation, action.meta);
      case 'take-snapshot':
        return this.takeSnapshot(action.index);
      case 'compact-log':
        this.disk.compact(action.index);
        return;
      case 'read-ready':
        this.readyReads.push({ id: action.id, index: action.index });
        return this.serveReadyReads();
      case 'read-failed': {
        const waiter = this.reads.get(action.id);
        this.reads.delete(action.id);
        waiter?.failed(action.reason);
        return;
      }
      case 'adopt-cluster-id':
        if (this.awaitingAdd) this.env.checks.identity.observeNonMemberWrite(this.server, `cluster id ${action.clusterId}`);
        this.disk.clusterId = action.clusterId;
        this.env.trace.log(this.id, `adopt cluster id ${action.clusterId}`);
        return;
      case 'event':
        return;
    }
  }

  private onEvent(action: Extract<Action, { kind: 'event' }>): void {
    const e = action.event;
    if (e.type === 'message-refused') this.refusedMessages++;
    if (e.type === 'role-changed' && e.role === 'leader') {
      this.env.checks.observeRole(this.server, e.role, e.term, this.logView);
    }
    if (e.type !== 'message-refused' || this.env.trace.detailed || this.refusedMessages <= 3) {
      this.env.trace.log(this.id, `event ${JSON.stringify(e)}`);
    }
  }

  private sendMessage(msg: Message): void {
    this.env.checks.observeTerm(msg.type === 'vote' && msg.preVote ? msg.term - 1 : msg.term);
    if (this.env.trace.detailed) this.env.trace.log(this.id, `-> ${describeMessage(msg)}`);
    const boot = this.boot;
    this.env.send(this.id, msg.to, { msg }, (outcome) => {
      if (outcome !== 'unreachable' || this.boot !== boot || this.core === null) return;
      this.withCore((core) => core.reportUnreachable(msg.to));
    });
  }

  private persist(first: Extract<Action, { kind: 'persist' }>): void {
    // Group commit: persists queued back to back share one fsync.
    const batch = [first];
    for (;;) {
      const next = this.queue[this.queueHead];
      if (next === undefined || next.kind !== 'persist') break;
      batch.push(next);
      this.queueHead++;
    }
    this.blocked = true;
    const boot = this.boot;
    this.env.after(this.env.fsyncDelayMs(), () => {
      if (this.boot !== boot) return; // crashed: the write never reached the disk
      for (const p of batch) this.writePersist(p);
      this.blocked = false;
      for (const p of batch) {
        const last = p.entries[p.entries.length - 1];
        if (last !== undefined && this.core !== null) {
          const core = this.core;
          try {
            core.persisted(last.index, last.term);
          } catch (err) {
            throw new SimViolation('core-threw', `${this.id} persisted(): ${(err as Error).stack ?? String(err)}`);
          }
        }
      }
      this.pump();
    });
  }

  private writePersist(p: Extract<Action, { kind: 'persist' }>): void {
    if (this.awaitingAdd && (p.entries.length > 0 || (p.hardState !== null && p.hardState.vote !== null))) {
      this.env.checks.identity.observeNonMemberWrite(
        this.server,
        p.entries.length > 0 ? `entries from ${(p.entries[0] as Entry).index}` : `a vote for ${p.hardState?.vote}`,
      );
    }
    this.disk.writePersist(p.hardState, p.entries);
    const firstEntry = p.entries[0];
    if (firstEntry === undefined) return;
    let prevTerm = this.disk.termAt(firstEntry.index - 1);
    for (const e of p.entries) {
      this.env.checks.observeStored(this.server, e, fingerprint(e), prevTerm);
      prevTerm = e.term;
    }
  }

  private install(meta: SnapshotMeta): void {
    const image = this.incomingSnapshots.get(snapshotKey(meta));
    if (image === undefined) {
      throw new SimViolation('driver-contract', `${this.id}: install-snapshot ${meta.index}/${meta.term} that never arrived`);
    }
    if (this.awaitingAdd) this.env.checks.identity.observeNonMemberWrite(this.server, `snapshot ${meta.index}`);
    if (meta.index < this.kv.index()) {
      throw new SimViolation(
        'driver-contract',
        `${this.id}: install-snapshot at ${meta.index} would move applied back from ${this.kv.index()}`,
      );
    }
    this.blocked = true;
    const boot = this.boot;
    this.env.after(this.env.fsyncDelayMs(), () => {
      if (this.boot !== boot) return;
      this.disk.installSnapshot({ meta, image });
      // Newer snapshots may have arrived meanwhile (and be installed next): keep those.
      for (const [key, held] of this.incomingSnapshots) if (held.index <= meta.index) this.incomingSnapshots.delete(key);
      this.env.checks.observeSnapshot(this.server, meta, image, 'installed');
      this.kv = Kv.restore(image);
      this.appliedTerm = meta.term;
      this.appliedMembership = meta.membership;
      this.env.trace.log(this.id, `installed snapshot ${meta.index}/${meta.term}`);
      // Proposals at or below the snapshot were skipped: their fate is not observable here.
      for (const [index, list] of this.proposals) {
        if (index > meta.index) continue;
        this.proposals.delete(index);
        for (const p of list) p.done({ kind: 'unknown' });
      }
      this.blocked = false;
      this.serveReadyReads();
      this.pump();
    });
  }

  private applyEntry(entry: Entry): void {
    const expected = this.kv.index() + 1;
    if (entry.index !== expected) {
      throw new SimViolation('driver-contract', `${this.id}: apply of index ${entry.index}, expected ${expected} (in order, exactly once)`);
    }
    const stored = this.disk.termAt(entry.index);
    if (stored !== undefined && stored !== entry.term) {
      throw new SimViolation(
        'driver-contract',
        `${this.id}: apply of (${entry.index}, ${entry.term}) but the durable log has term ${stored} there`,
      );
    }
    if (entry.index > this.disk.lastIndex()) {
      throw new SimViolation(
        'driver-contract',
        `${this.id}: apply of ${entry.index} before it is durable (durable through ${this.disk.lastIndex()})`,
      );
    }
    const fp = fingerprint(entry);
    let result: KvResult | null;
    try {
      result = this.kv.apply(entry);
    } catch (err) {
      throw new SimViolation('exactly-once', `${this.id}: ${(err as Error).message}`);
    }
    this.appliedTerm = entry.term;
    if (entry.kind === 'config') this.appliedMembership = parseMembership(entry.data);
    this.env.checks.observeApplied(this.server, entry, fp, this.kv.chain());
    const waiting = this.proposals.get(entry.index);
    if (waiting === undefined) return;
    this.proposals.delete(entry.index);
    for (const p of waiting) {
      if (p.term !== entry.term) {
        p.done({ kind: 'rejected' });
        continue;
      }
      if (p.opId !== null && result?.opId !== p.opId) {
        throw new SimViolation(
          'log-matching',
          `${this.id}: proposed op #${p.opId} at (${entry.index}, ${entry.term}) but applied ${fp} there`,
        );
      }
      p.done({ kind: 'applied', index: entry.index, result });
    }
  }

  private serveReadyReads(): void {
    if (this.readyReads.length === 0) return;
    const applied = this.kv.index();
    const still: Array<{ id: number; index: number }> = [];
    for (const r of this.readyReads) {
      if (r.index > applied) {
        still.push(r);
        continue;
      }
      const waiter = this.reads.get(r.id);
      this.reads.delete(r.id);
      waiter?.served(this.kv.get(waiter.key));
    }
    this.readyReads = still;
  }

  private sendSnapshot(to: NodeId, toIncarnation: string, meta: SnapshotMeta): void {
    const stored = this.disk.snapshot;
    if (stored === null || stored.meta.index < meta.index) {
      throw new SimViolation(
        'driver-contract',
        `${this.id}: send-snapshot of ${meta.index} but the latest durable snapshot is ${stored?.meta.index ?? 'none'}`,
      );
    }
    const core = this.core as SimCore;
    const msg: Message = {
      type: 'snapshot',
      clusterId: this.disk.clusterId,
      from: this.id,
      fromIncarnation: this.disk.incarnation,
      to,
      toIncarnation,
      term: core.status().term,
      meta: stored.meta,
    };
    this.env.trace.log(this.id, `send snapshot ${stored.meta.index}/${stored.meta.term} to ${to}`);
    const boot = this.boot;
    this.env.send(this.id, to, { msg, snapshot: stored.image }, (outcome) => {
      if (this.boot !== boot || this.core === null) return;
      this.withCore((c) => c.reportSnapshot(to, outcome === 'delivered'));
    });
  }

  private takeSnapshot(index: number): void {
    const image = this.kv.image();
    if (image.index < index) {
      throw new SimViolation('driver-contract', `${this.id}: take-snapshot at ${index} but applied is only ${image.index}`);
    }
    const meta: SnapshotMeta = { index: image.index, term: this.appliedTerm, membership: this.appliedMembership };
    this.env.checks.observeSnapshot(this.server, meta, image, 'taken');
    // Written in the background, like a real driver: later actions do not wait for it.
    const boot = this.boot;
    this.env.after(this.env.fsyncDelayMs(), () => {
      if (this.boot !== boot || this.core === null) return;
      if (meta.index <= this.disk.snapshotIndex()) return; // a newer snapshot was installed meanwhile
      this.disk.saveSnapshot({ meta, image });
      this.withCore((core) => core.snapshotTaken(meta));
    });
  }

  private expect(index: number, term: number, opId: number | null, done: (outcome: ProposalOutcome) => void): void {
    let list = this.proposals.get(index);
    if (list === undefined) this.proposals.set(index, (list = []));
    list.push({ term, opId, done });
  }
}

function snapshotKey(meta: SnapshotMeta): string {
  return `${meta.index}/${meta.term}`;
}

function parseMembership(data: Uint8Array): Membership {
  return JSON.parse(new TextDecoder().decode(data)) as Membership;
}

export function describeMessage(msg: Message): string {
  const head = `${msg.type} ${msg.from}->${msg.to} t${msg.term}`;
  switch (msg.type) {
    case 'vote':
      return `${head}${msg.preVote ? ' pre' : ''}${msg.transfer ? ' transfer' : ''} last=${msg.lastLogIndex}/${msg.lastLogTerm}`;
    case 'vote_resp':
      return `${head}${msg.preVote ? ' pre' : ''} ${msg.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `${head} prev=${msg.prevIndex}/${msg.prevTerm} n=${msg.entries?.length} commit=${msg.commit}`;
    case 'append_resp':
      return `${head} ${msg.success ? 'ok' : 'reject'} match=${msg.matchIndex}${
        msg.rejectHint ? ` hint=${msg.rejectHint.index}/${msg.rejectHint.term}` : ''
      }`;
    case 'heartbeat':
      return `${head} commit=${msg.commit} read=${msg.readSeq}`;
    case 'heartbeat_resp':
      return `${head} read=${msg.readSeq}`;
    case 'snapshot':
      return `${head} meta=${msg.meta?.index}/${msg.meta?.term}`;
    default:
      return head;
  }
}
