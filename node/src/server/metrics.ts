// Prometheus metrics of one node (design section 3, "Health and metrics"). One Registry per
// NodeMetrics, never prom-client's global one, so that several nodes (tests, benchmarks) can live
// in one process.
//
// Two kinds of updates: events the driver reports as they happen (fsync and apply latency,
// proposals, leader changes, snapshots) and gauges refreshed at scrape time from the node
// (term, indexes, keys, watchers, replication lag): reading them on demand costs nothing per write.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MembersView, NodeStatus } from './node-api.js';

export type ProposalResult = 'committed' | 'refused' | 'dropped' | 'timeout';
export type SnapshotKind = 'taken' | 'sent' | 'installed';

/** What scrape-time gauges read; a ConfluxNodeApi satisfies it. */
export interface MetricsSource {
  status(): NodeStatus;
  members(): MembersView;
  isLeader(): boolean;
  readonly store: { revision(): number; keyCount(): number };
  readonly watches: { activeCount(): number };
}

export interface NodeMetricsOptions {
  /** Process metrics (CPU, memory, event loop, GC): on in a node, off in most tests. */
  processMetrics?: boolean;
}

const LATENCY_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export class NodeMetrics {
  readonly registry = new Registry();
  private source: MetricsSource | null = null;

  private readonly term: Gauge;
  private readonly commitIndex: Gauge;
  private readonly appliedIndex: Gauge;
  private readonly isLeader: Gauge;
  private readonly leaderChanges: Counter;
  private readonly proposals: Counter<'result'>;
  private readonly fsyncSeconds: Histogram;
  private readonly applySeconds: Histogram;
  private readonly applyEntries: Counter;
  private readonly replicationLag: Gauge<'peer'>;
  private readonly snapshots: Counter<'kind'>;
  private readonly snapshotBytes: Gauge<'kind'>;
  private readonly httpSeconds: Histogram<'route' | 'method' | 'code'>;
  private readonly watchers: Gauge;
  private readonly keys: Gauge;
  private readonly storeRevision: Gauge;

  constructor(options: NodeMetricsOptions = {}) {
    const registers = [this.registry];
    // `collect` callbacks run with the gauge as `this`; they reach the source through `self`.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const fromStatus = (pick: (s: NodeStatus) => number) =>
      function (this: Gauge) {
        const s = self.source;
        if (s !== null) this.set(pick(s.status()));
      };

    this.term = new Gauge({ name: 'conflux_raft_term', help: 'Current Raft term.', registers, collect: fromStatus((s) => s.term) });
    this.commitIndex = new Gauge({
      name: 'conflux_raft_commit_index',
      help: 'Highest log index known committed.',
      registers,
      collect: fromStatus((s) => s.commitIndex),
    });
    this.appliedIndex = new Gauge({
      name: 'conflux_raft_applied_index',
      help: 'Highest log index applied to the store.',
      registers,
      collect: fromStatus((s) => s.appliedIndex),
    });
    this.isLeader = new Gauge({
      name: 'conflux_raft_is_leader',
      help: '1 if this node is the leader, else 0.',
      registers,
      collect() {
        if (self.source !== null) this.set(self.source.isLeader() ? 1 : 0);
      },
    });
    this.leaderChanges = new Counter({
      name: 'conflux_raft_leader_changes_total',
      help: 'Times this node saw the leader change (including to none).',
      registers,
    });
    this.proposals = new Counter({
      name: 'conflux_proposals_total',
      help: 'Proposals by outcome: committed, refused (not proposed), dropped (lost to a new leader), timeout (outcome unknown).',
      labelNames: ['result'],
      registers,
    });
    this.fsyncSeconds = new Histogram({
      name: 'conflux_fsync_duration_seconds',
      help: 'Latency of one log fsync (one group commit).',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.applySeconds = new Histogram({
      name: 'conflux_apply_duration_seconds',
      help: 'Latency of applying one batch of committed entries to the store.',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.applyEntries = new Counter({
      name: 'conflux_applied_entries_total',
      help: 'Committed entries applied to the store.',
      registers,
    });
    this.replicationLag = new Gauge({
      name: 'conflux_replication_lag_entries',
      help: 'Entries each peer is behind the leader (reported by the leader only).',
      labelNames: ['peer'],
      registers,
      collect() {
        // Reset first: peers that left, or leadership that moved away, must not linger.
        this.reset();
        const s = self.source;
        if (s === null || !s.isLeader()) return;
        const selfId = s.status().id;
        for (const m of s.members().members) {
          if (m.id !== selfId) this.set({ peer: m.id }, m.lag);
        }
      },
    });
    this.snapshots = new Counter({
      name: 'conflux_snapshots_total',
      help: 'Snapshots taken, sent to a follower and installed from the leader.',
      labelNames: ['kind'],
      registers,
    });
    this.snapshotBytes = new Gauge({
      name: 'conflux_snapshot_bytes',
      help: 'Size of the most recent snapshot of each kind.',
      labelNames: ['kind'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'conflux_http_request_duration_seconds',
      help: 'Client-port request latency by route pattern, method and status code.',
      labelNames: ['route', 'method', 'code'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.watchers = new Gauge({
      name: 'conflux_watchers',
      help: 'Open watchers.',
      registers,
      collect() {
        if (self.source !== null) this.set(self.source.watches.activeCount());
      },
    });
    this.keys = new Gauge({
      name: 'conflux_keys',
      help: 'Live keys in the store.',
      registers,
      collect() {
        if (self.source !== null) this.set(self.source.store.keyCount());
      },
    });
    this.storeRevision = new Gauge({
      name: 'conflux_store_revision',
      help: 'Revision of the last change applied to the store.',
      registers,
      collect() {
        if (self.source !== null) this.set(self.source.store.revision());
      },
    });
    // Zero series for every known label value, so that rate() works from the first scrape.
    for (const result of ['committed', 'refused', 'dropped', 'timeout'] as const) this.proposals.inc({ result }, 0);
    for (const kind of ['taken', 'sent', 'installed'] as const) this.snapshots.inc({ kind }, 0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Where scrape-time gauges read from; call once the node exists (main.ts). */
  bindSource(source: MetricsSource): void {
    this.source = source;
  }

  // ---- reported by the driver (the driver's DriverMetrics interface) ---------------------------

  observeFsync(seconds: number): void {
    this.fsyncSeconds.observe(seconds);
  }

  observeApply(seconds: number, entries: number): void {
    this.applySeconds.observe(seconds);
    this.applyEntries.inc(entries);
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  proposal(result: ProposalResult): void {
    this.proposals.inc({ result });
  }

  snapshot(kind: SnapshotKind, bytes: number): void {
    this.snapshots.inc({ kind });
    this.snapshotBytes.set({ kind }, bytes);
  }

  // ---- reported by the HTTP layer -------------------------------------------------------------

  observeHttpRequest(route: string, method: string, code: number, seconds: number): void {
    this.httpSeconds.observe({ route, method, code: String(code) }, seconds);
  }

  /** Prometheus text exposition, gauges refreshed from the source first. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
