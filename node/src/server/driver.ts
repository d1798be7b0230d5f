// The driver: the only place where the Raft core meets time, disk and the network.
//
// It performs the core's actions in order (types.ts `Action`): early sends at once, then each
// batch strictly in sequence, a `persist` being awaited (fsync) before anything after it.
// While a batch waits for its fsync, new proposals and messages accumulate in the core and leave
// as one batch next time: that is the group commit, one fsync for everything that arrived meanwhile.
import type { RaftCore, StepRefusal } from '../raft/core.js';
import { decodeMembership } from '../raft/membership.js';
import type { Action, Entry, Membership, Message, NodeId, RaftEvent, SnapshotMeta } from '../raft/types.js';
import { SnapshotOffsetError, StaleSnapshotError } from '../storage/errors.js';
import type { LogStorage } from '../storage/log-storage.js';
import type { SnapshotReceiver, SnapshotStore } from '../storage/snapshot-store.js';
import type { StateMachine } from '../storage/state-machine.js';
import type { Clock } from './clock.js';
import { FatalError, NoLeaderError, NotLeaderError, OutcomeUnknownError, ProposalDroppedError } from './errors.js';
import type { Logger } from './logger.js';

/** Snapshot files as the driver needs them: the part of SnapshotStore it uses (tests may fake it). */
export type SnapshotFiles = Pick<SnapshotStore, 'latest' | 'save' | 'openReader' | 'beginReceive'>;

export interface PeerSender {
  /** Queue a message for its peer; never blocks, may drop under pressure (Raft retransmits). */
  send(msg: Message): void;
  /** Stream the latest snapshot to a peer; resolves when the peer confirmed the last chunk. */
  sendSnapshot(to: NodeId, toIncarnation: string, envelope: Omit<Extract<Message, { type: 'snapshot' }>, 'type'>, files: SnapshotFiles): Promise<void>;
}

/** What the driver reports; NodeMetrics (metrics.ts) implements it. */
export interface DriverMetrics {
  observeFsync(seconds: number): void;
  observeApply(seconds: number, entries: number): void;
  leaderChanged(): void;
  proposal(result: 'committed' | 'refused' | 'dropped' | 'timeout'): void;
  snapshot(kind: 'taken' | 'sent' | 'installed', bytes: number, seconds: number): void;
  /** A snapshot transfer that failed without stopping the node (taking or installing one that fails is fatal). */
  snapshotFailed(kind: 'sent' | 'received'): void;
}

export const noMetrics: DriverMetrics = {
  observeFsync: () => undefined,
  observeApply: () => undefined,
  leaderChanged: () => undefined,
  proposal: () => undefined,
  snapshot: () => undefined,
  snapshotFailed: () => undefined,
};

export interface DriverOptions<R> {
  core: RaftCore;
  /** This node's data-directory incarnation (sent with snapshot transfers). */
  incarnation: string;
  log: LogStorage;
  snapshots: SnapshotFiles;
  stateMachine: StateMachine<R>;
  peers: PeerSender;
  clock: Clock;
  logger: Logger;
  metrics?: DriverMetrics;
  /** One core tick every this many ms. */
  tickIntervalMs: number;
  /** Persist a cluster id learned from a leader (data directory meta). */
  adoptClusterId?: (clusterId: string) => Promise<void>;
  /** Membership as of the state machine's applied index at start (from the snapshot). */
  appliedMembership: Membership;
  appliedTerm: number;
  /** Called when the driver cannot go on (storage failure): the process must stop. */
  onFatal?: (err: FatalError) => void;
  /** Observers of core events (logging is done here already). */
  onEvent?: (event: RaftEvent) => void;
}

interface PendingProposal<R> {
  term: number;
  resolve: (result: R) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingRead {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function touchesStateMachine(a: Action): boolean {
  return a.kind === 'apply' || a.kind === 'install-snapshot' || a.kind === 'take-snapshot';
}

export class RaftDriver<R> {
  core: RaftCore;
  private readonly o: DriverOptions<R>;
  private readonly log: Logger;
  private readonly metrics: DriverMetrics;
  private running = false;
  /**
   * Actions of the running batch that apply to or read the state machine (apply, install-snapshot,
   * take-snapshot) and are not finished: while there are any, entries are applied only by them.
   */
  private stateMachineActionsPending = 0;
  private scheduled = false;
  private stopped = false;
  private fatal: FatalError | null = null;
  private ticker: NodeJS.Timeout | null = null;

  private readonly proposals = new Map<number, PendingProposal<R>>();
  private readonly reads = new Map<number, PendingRead>();
  /** Reads whose index is known, waiting for apply to reach it; sorted by index. */
  private readsWaitingApply: { index: number; id: number }[] = [];
  private nextReadId = 1;
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];

  private appliedTerm: number;
  private appliedMembership: Membership;
  private snapshotSends = new Set<NodeId>();
  private readonly refusals = new Map<string, number>();
  /** snapshotNow() callers: each wants a snapshot at or after the index applied when it asked. */
  private snapshotWaiters: { atLeast: number; resolve: (meta: SnapshotMeta) => void }[] = [];
  private receiving: { from: NodeId; meta: SnapshotMeta; receiver: SnapshotReceiver } | null = null;
  /**
   * Chunks are handled one at a time: a leader's retry (or a forged chunk) arriving while an
   * earlier request still writes would otherwise abort the receiver under it, a 500 for a chunk
   * that was merely superseded.
   */
  private chunkQueue: Promise<unknown> = Promise.resolve();
  /** A snapshot received in full and published, that the core has not asked to install yet. */
  private received: SnapshotMeta | null = null;
  /** The snapshot file being written in the background (takeSnapshot), if any. */
  private snapshotSaving: Promise<void> | null = null;

  constructor(options: DriverOptions<R>) {
    this.o = options;
    this.core = options.core;
    this.log = options.logger;
    this.metrics = options.metrics ?? noMetrics;
    this.appliedTerm = options.appliedTerm;
    this.appliedMembership = options.appliedMembership;
  }

  start(): void {
    this.ticker = setInterval(() => {
      if (this.stopped) return;
      this.core.tick();
      this.kick();
    }, this.o.tickIntervalMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const [, p] of this.proposals) {
      clearTimeout(p.timer);
      p.reject(new OutcomeUnknownError('the node is shutting down; the write may still be applied'));
    }
    this.proposals.clear();
    for (const [, r] of this.reads) {
      clearTimeout(r.timer);
      r.reject(new NoLeaderError());
    }
    this.reads.clear();
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    await this.snapshotSaving;
    await this.receiving?.receiver.abort().catch(() => undefined);
  }

  /** A snapshot received but not installed yet (diagnostics). */
  pendingInstall(): SnapshotMeta | null {
    return this.received;
  }

  isFatal(): FatalError | null {
    return this.fatal;
  }

  /** Replace the core (bootstrap of a fresh node). Only while nothing is pending. */
  replaceCore(core: RaftCore, appliedMembership: Membership): void {
    this.core = core;
    this.appliedMembership = appliedMembership;
    this.kick();
  }

  // ------------------------------------------------------------ inputs

  step(msg: Message): StepRefusal | null {
    if (this.stopped) return null;
    const refusal = this.core.step(msg);
    this.kick();
    return refusal;
  }

  /** Propose `data`; resolves with the state machine's result once applied here. */
  propose(data: Uint8Array, timeoutMs: number): Promise<R> {
    this.assertAlive();
    const r = this.core.propose(data);
    if (!r.ok) {
      this.metrics.proposal('refused');
      // During a leadership transfer the leader pauses proposals briefly: retry, do not forward.
      throw r.code === 'transfer_in_progress' ? new NoLeaderError() : this.notLeader(r.leaderId);
    }
    return this.awaitIndex(r.index, r.term, timeoutMs);
  }

  /** Wait for the entry (index, term) the core accepted to be applied. */
  awaitIndex(index: number, term: number, timeoutMs: number): Promise<R> {
    // A proposal still waiting at this index lost its slot: our log now holds another entry there.
    // Not proof that it will never commit, though: another node may still hold it, and a later
    // leader with that log may commit it (with five voters this takes only a few elections). Only
    // an entry of another term *applied* at this index proves it lost (apply() answers 503 then);
    // here the outcome is unknown (504).
    const previous = this.proposals.get(index);
    if (previous && previous.term !== term) {
      clearTimeout(previous.timer);
      this.metrics.proposal('timeout');
      previous.reject(new OutcomeUnknownError('this node lost the log slot of the write before it was known committed; another node may still commit it'));
    }
    const p = new Promise<R>((resolve, reject) => {
      const pending: PendingProposal<R> = {
        term,
        resolve,
        reject,
        timer: setTimeout(() => {
          if (this.proposals.get(index) === pending) this.proposals.delete(index);
          this.metrics.proposal('timeout');
          reject(new OutcomeUnknownError());
        }, timeoutMs),
      };
      this.proposals.set(index, pending);
    });
    this.kick();
    return p;
  }

  /** ReadIndex: resolves once the local state machine reflects every write committed before now. */
  readBarrier(timeoutMs: number): Promise<void> {
    this.assertAlive();
    const id = this.nextReadId++;
    const r = this.core.readIndex(id);
    if (!r.ok) throw this.notLeader(r.leaderId);
    const p = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(id);
        this.readsWaitingApply = this.readsWaitingApply.filter((x) => x.id !== id);
        reject(new NoLeaderError());
      }, timeoutMs);
      this.reads.set(id, { resolve, reject, timer });
    });
    this.kick();
    return p;
  }

  /** Resolves when the state machine has applied `index` (or at once if it has). */
  waitApplied(index: number): Promise<void> {
    if (this.o.stateMachine.appliedIndex() >= index) return Promise.resolve();
    return new Promise((resolve) => {
      this.appliedWaiters.push({ index, resolve });
      this.appliedWaiters.sort((a, b) => a.index - b.index);
    });
  }

  /** Where the state machine stands: its applied index, that entry's term, the membership as of it (backups). */
  appliedPoint(): SnapshotMeta {
    return { index: this.o.stateMachine.appliedIndex(), term: this.appliedTerm, membership: this.appliedMembership };
  }

  /** Ask for a snapshot now; resolves with its meta once taken. */
  snapshotNow(): Promise<SnapshotMeta> {
    this.assertAlive();
    // A snapshot already being written may predate this request: it does not answer it.
    const atLeast = this.o.stateMachine.appliedIndex();
    const p = new Promise<SnapshotMeta>((resolve) => this.snapshotWaiters.push({ atLeast, resolve }));
    this.core.requestSnapshot();
    this.kick();
    return p;
  }

  /** A chunk of a snapshot from the leader (peer API). Steps the core when the last one arrives. */
  receiveSnapshotChunk(envelope: Extract<Message, { type: 'snapshot' }>, offset: number, data: Uint8Array, done: boolean, size: number, checksum: number): Promise<StepRefusal | null> {
    const handled = this.chunkQueue.then(() => this.receiveChunkNow(envelope, offset, data, done, size, checksum));
    this.chunkQueue = handled.catch(() => undefined);
    return handled;
  }

  private async receiveChunkNow(envelope: Extract<Message, { type: 'snapshot' }>, offset: number, data: Uint8Array, done: boolean, size: number, checksum: number): Promise<StepRefusal | null> {
    this.assertAlive();
    const s = this.core.status();
    // Identity first: never write a foreign cluster's snapshot to disk.
    if (envelope.toIncarnation !== '' && envelope.toIncarnation !== this.o.incarnation) {
      return { reason: 'incarnation_mismatch', detail: `addressed to incarnation ${envelope.toIncarnation}` };
    }
    if (s.clusterId !== '' && envelope.clusterId !== s.clusterId) {
      return { reason: 'cluster_mismatch', detail: `snapshot of cluster ${envelope.clusterId}` };
    }
    const same = (m: SnapshotMeta) => m.index === envelope.meta.index && m.term === envelope.meta.term;
    if (offset === 0 && !(this.receiving && this.receiving.receiver.nextOffset === 0 && same(this.receiving.meta))) {
      await this.receiving?.receiver.abort().catch(() => undefined);
      this.receiving = null;
      const receiver = await this.o.snapshots.beginReceive(envelope.meta, { checksum, sizeBytes: size });
      this.receiving = { from: envelope.from, meta: envelope.meta, receiver };
    }
    const rx = this.receiving;
    if (!rx || rx.from !== envelope.from || !same(rx.meta)) {
      throw Object.assign(new Error('no snapshot transfer in progress at this offset'), { expectedOffset: 0 });
    }
    try {
      await rx.receiver.writeChunk(offset, data);
      if (!done) return null;
      this.receiving = null;
      await rx.receiver.finish();
    } catch (err) {
      // A chunk that cannot be written, or a file that fails its checksum (the leader retries).
      // An offset the receiver did not expect is the resume handshake, not a failure.
      if (!(err instanceof SnapshotOffsetError)) this.metrics.snapshotFailed('received');
      throw err;
    }
    this.received = rx.meta;
    return this.step(envelope);
  }

  // ------------------------------------------------------------ the loop

  /** Schedule a pass over the core's actions. Cheap to call often. */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.fatal || this.stopped) return;
    if (this.running) {
      // A batch is waiting for its fsync: replicate new entries now (thesis §10.2.1), persist later;
      // and apply what got committed meanwhile and is durable already (a leader's acknowledgements
      // must not wait for the next fsync).
      for (const m of this.core.takeEarlySends()) this.o.peers.send(m);
      if (this.stateMachineActionsPending === 0) {
        const entries = this.core.takeDurableApplies();
        if (entries.length > 0) this.apply(entries);
      }
      return;
    }
    if (!this.core.hasActions()) return;
    this.running = true;
    void this.runBatches().finally(() => {
      this.running = false;
      if (this.core.hasActions()) this.kick();
    });
  }

  private async runBatches(): Promise<void> {
    try {
      while (!this.stopped && this.core.hasActions()) {
        const batch = this.core.takeActions();
        // hasActions() promised work: an empty batch would loop here without ever yielding.
        if (batch.length === 0) throw new FatalError('the Raft core reported actions but produced none');
        this.stateMachineActionsPending = batch.filter(touchesStateMachine).length;
        for (const a of batch) {
          await this.perform(a);
          if (touchesStateMachine(a)) this.stateMachineActionsPending--;
        }
      }
    } catch (err) {
      this.die(err);
    } finally {
      this.stateMachineActionsPending = 0;
    }
  }

  private async perform(a: Action): Promise<void> {
    switch (a.kind) {
      case 'send':
        this.o.peers.send(a.msg);
        return;
      case 'persist': {
        const t0 = this.o.clock.monotonicMs();
        await this.o.log.write({ hardState: a.hardState, entries: a.entries });
        this.metrics.observeFsync((this.o.clock.monotonicMs() - t0) / 1000);
        const last = a.entries.at(-1);
        if (last) this.core.persisted(last.index, last.term);
        return;
      }
      case 'install-snapshot':
        await this.installSnapshot(a.meta);
        return;
      case 'apply':
        this.apply(a.entries);
        return;
      case 'send-snapshot':
        void this.sendSnapshot(a.to, a.toIncarnation, a.meta);
        return;
      case 'take-snapshot':
        this.takeSnapshot(a.index);
        return;
      case 'compact-log': {
        const snap = this.o.snapshots.latest()?.meta;
        if (snap) await this.o.log.purge(Math.min(a.index, snap.index), snap);
        return;
      }
      case 'read-ready':
        this.readsWaitingApply.push({ index: a.index, id: a.id });
        this.readsWaitingApply.sort((x, y) => x.index - y.index);
        this.releaseReads();
        return;
      case 'read-failed': {
        const r = this.reads.get(a.id);
        if (r) {
          this.reads.delete(a.id);
          clearTimeout(r.timer);
          r.reject(this.notLeader(this.core.status().leaderId));
        }
        return;
      }
      case 'adopt-cluster-id':
        await this.o.adoptClusterId?.(a.clusterId);
        this.log.info('joined cluster', { clusterId: a.clusterId });
        return;
      case 'event':
        this.onEvent(a.event);
        return;
    }
  }

  private apply(entries: Entry[]): void {
    const t0 = this.o.clock.monotonicMs();
    const results = this.o.stateMachine.apply(entries);
    this.metrics.observeApply((this.o.clock.monotonicMs() - t0) / 1000, entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      this.appliedTerm = e.term;
      if (e.kind === 'config') this.appliedMembership = decodeMembership(e.data);
      const p = this.proposals.get(e.index);
      if (!p) continue;
      this.proposals.delete(e.index);
      clearTimeout(p.timer);
      if (p.term === e.term) {
        this.metrics.proposal('committed');
        p.resolve(results[i] as R);
      } else {
        // Another leader's entry took the slot: ours was never committed and never will be.
        this.metrics.proposal('dropped');
        p.reject(new ProposalDroppedError());
      }
    }
    this.releaseReads();
    const applied = this.o.stateMachine.appliedIndex();
    while (this.appliedWaiters.length > 0 && this.appliedWaiters[0]!.index <= applied) this.appliedWaiters.shift()!.resolve();
  }

  private releaseReads(): void {
    const applied = this.o.stateMachine.appliedIndex();
    while (this.readsWaitingApply.length > 0 && this.readsWaitingApply[0]!.index <= applied) {
      const { id } = this.readsWaitingApply.shift()!;
      const r = this.reads.get(id);
      if (!r) continue;
      this.reads.delete(id);
      clearTimeout(r.timer);
      r.resolve();
    }
  }

  /**
   * Captures the state machine now (StateMachine.snapshot: applies that run later do not change
   * the image) and writes the file in the background, so that commits, applies and answers do not
   * wait for a snapshot to be encoded and fsynced (a 64 KiB-value store's image is tens of MB).
   * Safe because the core compacts nothing before `snapshotTaken` and asks for no other snapshot
   * meanwhile; stop() waits for the write; a failure stops the node as before.
   */
  private takeSnapshot(index: number): void {
    const applied = this.o.stateMachine.appliedIndex();
    const meta: SnapshotMeta = { index: applied, term: this.appliedTerm, membership: this.appliedMembership };
    if (applied < index) throw new FatalError(`snapshot requested at ${index} but only ${applied} is applied`);
    const image = this.o.stateMachine.snapshot(meta);
    const t0 = this.o.clock.monotonicMs();
    const save = async (): Promise<void> => {
      let bytes = 0;
      try {
        bytes = (await this.o.snapshots.save(meta, image)).sizeBytes;
        this.metrics.snapshot('taken', bytes, (this.o.clock.monotonicMs() - t0) / 1000);
        this.log.info('snapshot taken', { index: meta.index, term: meta.term, bytes });
      } catch (err) {
        // A newer snapshot (received from the leader) was published meanwhile: it covers this one.
        if (!(err instanceof StaleSnapshotError)) throw err;
        this.log.info('snapshot superseded by a newer one', { index: meta.index, latest: err.latestIndex });
      }
      if (this.stopped) return;
      this.core.snapshotTaken(meta, bytes);
      this.answerSnapshotWaiters(meta);
      this.kick();
    };
    this.snapshotSaving = save()
      .catch((err: unknown) => {
        if (!this.stopped) this.die(err);
      })
      .finally(() => {
        this.snapshotSaving = null;
      });
  }

  private answerSnapshotWaiters(meta: SnapshotMeta): void {
    const waiting = this.snapshotWaiters;
    this.snapshotWaiters = waiting.filter((w) => w.atLeast > meta.index);
    for (const w of waiting) if (w.atLeast <= meta.index) w.resolve(meta);
    // Those left asked during this write: the core takes another one for them.
    if (this.snapshotWaiters.length > 0) this.core.requestSnapshot();
  }

  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const latest = this.o.snapshots.latest();
    if (!latest || latest.meta.index !== meta.index || latest.meta.term !== meta.term) {
      throw new FatalError(`asked to install snapshot ${meta.index}/${meta.term} but the latest file is ${latest?.meta.index ?? 'none'}`);
    }
    this.received = null;
    const t0 = this.o.clock.monotonicMs();
    // The file is already published (durable); a crash from here on is reconciled at start, where
    // a snapshot newer than the log's record wins. Then the state machine, then the log.
    const reader = await this.o.snapshots.openReader(latest);
    try {
      await this.o.stateMachine.restore(meta, reader.chunks(0));
    } finally {
      await reader.close();
    }
    await this.o.log.installSnapshot(meta);
    this.appliedTerm = meta.term;
    this.appliedMembership = meta.membership;
    this.metrics.snapshot('installed', latest.sizeBytes, (this.o.clock.monotonicMs() - t0) / 1000);
    this.log.info('snapshot installed', { index: meta.index, term: meta.term, bytes: latest.sizeBytes });
    this.releaseReads();
  }

  private async sendSnapshot(to: NodeId, toIncarnation: string, meta: SnapshotMeta): Promise<void> {
    if (this.snapshotSends.has(to)) return;
    this.snapshotSends.add(to);
    let ok = false;
    const t0 = this.o.clock.monotonicMs();
    try {
      const status = this.core.status();
      await this.o.peers.sendSnapshot(
        to,
        toIncarnation,
        {
          clusterId: status.clusterId,
          from: status.id,
          fromIncarnation: this.o.incarnation,
          to,
          toIncarnation,
          term: status.term,
          meta,
        },
        this.o.snapshots,
      );
      ok = true;
      this.metrics.snapshot('sent', this.o.snapshots.latest()?.sizeBytes ?? 0, (this.o.clock.monotonicMs() - t0) / 1000);
      this.log.info('snapshot sent', { to, index: meta.index });
    } catch (err) {
      this.metrics.snapshotFailed('sent');
      this.log.warn('snapshot send failed', { to, index: meta.index, error: String(err) });
    } finally {
      this.snapshotSends.delete(to);
      this.core.reportSnapshot(to, ok);
      this.kick();
    }
  }

  private onEvent(event: RaftEvent): void {
    switch (event.type) {
      case 'leader-changed':
        this.metrics.leaderChanged();
        this.log.info('leader changed', { term: event.term, leaderId: event.leaderId });
        break;
      case 'role-changed':
        this.log.info('role changed', { role: event.role, term: event.term });
        break;
      case 'membership-changed':
        this.log.info('membership changed', { index: event.index, members: event.membership.members.map((m) => `${m.id}:${m.role}`) });
        break;
      case 'removed':
        this.log.warn('this node was removed from the cluster', { index: event.index });
        break;
      case 'message-refused': {
        // A misplaced peer retries every heartbeat: log the first refusal and then every 100th.
        const key = `${event.from}/${event.reason}`;
        const n = (this.refusals.get(key) ?? 0) + 1;
        this.refusals.set(key, n);
        if (n === 1 || n % 100 === 0) this.log.warn('peer message refused', { from: event.from, reason: event.reason, detail: event.detail, count: n });
        break;
      }
    }
    this.o.onEvent?.(event);
  }

  // ------------------------------------------------------------ helpers

  private notLeader(leaderId: NodeId | null): NotLeaderError {
    const leader = leaderId ? this.core.status().membership.members.find((m) => m.id === leaderId) : undefined;
    return new NotLeaderError(leaderId, leader?.clientURL ?? null);
  }

  private assertAlive(): void {
    if (this.fatal) throw this.fatal;
  }

  private die(err: unknown): void {
    const fatal = err instanceof FatalError ? err : new FatalError(`storage failure: ${String((err as Error)?.message ?? err)}`, { cause: err });
    this.fatal = fatal;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.log.error('fatal: the node stops', { error: fatal.message });
    for (const [, p] of this.proposals) {
      clearTimeout(p.timer);
      p.reject(new OutcomeUnknownError('the node failed while the write was in flight; it may still be applied'));
    }
    this.proposals.clear();
    for (const [, r] of this.reads) {
      clearTimeout(r.timer);
      r.reject(fatal);
    }
    this.reads.clear();
    this.o.onFatal?.(fatal);
  }
}
