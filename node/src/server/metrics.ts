// Prometheus metrics of one node (design section 3, "Health and metrics"). One Registry per
// NodeMetrics, never prom-client's global one, so that several nodes (tests, benchmarks) can live
// in one process.
//
// Two kinds of updates: events the driver reports as they happen (fsync and apply latency,
// proposals, leader changes, snapshots) and gauges refreshed at scrape time from the node
// (term, indexes, keys, watchers, replication lag): reading them on demand costs nothing per write.
import { statfs } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MembersView, NodeStatus } from './node-api.js';

export type ProposalResult = 'committed' | 'refused' | 'dropped' | 'timeout';
export type SnapshotKind = 'taken' | 'sent' | 'installed';
/** Snapshot work that can fail without stopping the node: a transfer to a follower, a transfer received from the leader. */
export type SnapshotFailureKind = 'sent' | 'received';

/** What scrape-time gauges read; a ConfluxNodeApi satisfies it. */
export interface MetricsSource {
  status(): NodeStatus;
  members(): MembersView;
  isLeader(): boolean;
  readonly store: { revision(): number; keyCount(): number; liveBytes(): number; historyBytes(): number };
  readonly watches: { activeCount(): number };
}

export interface NodeMetricsOptions {
  /** Process metrics (CPU, memory, event loop, GC): on in a node, off in most tests. */
  processMetrics?: boolean;
  /**
   * The node's data directory: free and total bytes of the filesystem holding it are read at
   * scrape time (statfs), so that an alert fires before a full disk stops the log's fsyncs.
   */
  dataDir?: string;
  /** The node's `--quota-bytes`, exported next to the live data so that an alert can compare them. */
  quotaBytes?: number;
}

const LATENCY_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Snapshots take from milliseconds (a small store) to minutes (gigabytes over the network). */
const SNAPSHOT_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class NodeMetrics {
  readonly registry = new Registry();
  private source: MetricsSource | null = null;

  private readonly leaderChanges: Counter;
  private readonly proposals: Counter<'result'>;
  private readonly fsyncSeconds: Histogram;
  private readonly applySeconds: Histogram;
  private readonly applyEntries: Counter;
  private readonly snapshots: Counter<'kind'>;
  private readonly snapshotBytes: Gauge<'kind'>;
  private readonly snapshotSeconds: Histogram<'kind'>;
  private readonly snapshotFailures: Counter<'kind'>;
  private readonly connectionsDropped: Counter<'port'>;
  private readonly httpSeconds: Histogram<'route' | 'method' | 'code'>;
  /** Children of httpSeconds by "route method code": routes are patterns, so this stays small. */
  private readonly httpChildren = new Map<string, { observe(value: number): void }>();

  constructor(options: NodeMetricsOptions = {}) {
    const registers = [this.registry];
    // Gauges read at scrape time are held by the registry alone; nothing else writes them.
    // `collect` callbacks run with the gauge as `this`; they reach the source through `self`.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const fromSource = (pick: (s: MetricsSource) => number) =>
      function (this: Gauge) {
        const s = self.source;
        if (s !== null) this.set(pick(s));
      };
    const fromStatus = (pick: (s: NodeStatus) => number) => fromSource((s) => pick(s.status()));

    new Gauge({ name: 'conflux_raft_term', help: 'Current Raft term.', registers, collect: fromStatus((s) => s.term) });
    new Gauge({
      name: 'conflux_raft_commit_index',
      help: 'Highest log index known committed.',
      registers,
      collect: fromStatus((s) => s.commitIndex),
    });
    new Gauge({
      name: 'conflux_raft_applied_index',
      help: 'Highest log index applied to the store.',
      registers,
      collect: fromStatus((s) => s.appliedIndex),
    });
    new Gauge({
      name: 'conflux_raft_is_leader',
      help: '1 if this node is the leader, else 0.',
      registers,
      collect: fromSource((s) => (s.isLeader() ? 1 : 0)),
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
    new Gauge({
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
    this.snapshotSeconds = new Histogram({
      name: 'conflux_snapshot_duration_seconds',
      help: 'Time to take a snapshot (write the file), send it to a follower, or install one from the leader.',
      labelNames: ['kind'],
      buckets: SNAPSHOT_BUCKETS_SECONDS,
      registers,
    });
    this.snapshotFailures = new Counter({
      name: 'conflux_snapshot_failures_total',
      help: 'Snapshot transfers that failed: sent (to a follower, after retries) and received (a transfer from the leader that could not be written or verified).',
      labelNames: ['kind'],
      registers,
    });
    this.connectionsDropped = new Counter({
      name: 'conflux_connections_dropped_total',
      help: 'Connections closed at once because the port was at its limit (--max-connections, or the open-files limit).',
      labelNames: ['port'],
      registers,
    });
    new Gauge({
      name: 'conflux_member_healthy',
      help: 'The leader\'s view of each member, as in GET /admin/members: 1 if it answered recently or holds every committed entry, else 0 (reported by the leader only).',
      labelNames: ['member', 'role'],
      registers,
      collect() {
        this.reset();
        const s = self.source;
        if (s === null || !s.isLeader()) return;
        for (const m of s.members().members) this.set({ member: m.id, role: m.role }, m.healthy ? 1 : 0);
      },
    });
    if (options.dataDir !== undefined) registerDiskGauges(options.dataDir, registers);
    this.httpSeconds = new Histogram({
      name: 'conflux_http_request_duration_seconds',
      help: 'Client-port request latency by route pattern, method and status code.',
      labelNames: ['route', 'method', 'code'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    new Gauge({ name: 'conflux_watchers', help: 'Open watchers.', registers, collect: fromSource((s) => s.watches.activeCount()) });
    new Gauge({ name: 'conflux_keys', help: 'Live keys in the store.', registers, collect: fromSource((s) => s.store.keyCount()) });
    new Gauge({
      name: 'conflux_store_revision',
      help: 'Revision of the last change applied to the store.',
      registers,
      collect: fromSource((s) => s.store.revision()),
    });
    new Gauge({
      name: 'conflux_store_live_bytes',
      help: 'Bytes held by the live keys and values (what --quota-bytes bounds).',
      registers,
      collect: fromSource((s) => s.store.liveBytes()),
    });
    new Gauge({
      name: 'conflux_store_history_bytes',
      help: 'Bytes held by the retained history (what --history-retain-bytes bounds).',
      registers,
      collect: fromSource((s) => s.store.historyBytes()),
    });
    // Only with a quota: a 0 would read as "over quota" to the alert that divides by it.
    if (options.quotaBytes !== undefined) new Gauge({ name: 'conflux_store_quota_bytes', help: 'The live-data quota (--quota-bytes).', registers }).set(options.quotaBytes);
    // Zero series for every known label value, so that rate() works from the first scrape.
    for (const result of ['committed', 'refused', 'dropped', 'timeout'] as const) this.proposals.inc({ result }, 0);
    for (const kind of ['taken', 'sent', 'installed'] as const) this.snapshots.inc({ kind }, 0);
    for (const kind of ['sent', 'received'] as const) this.snapshotFailures.inc({ kind }, 0);
    for (const port of ['client', 'peer'] as const) this.connectionsDropped.inc({ port }, 0);
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

  snapshot(kind: SnapshotKind, bytes: number, seconds?: number): void {
    this.snapshots.inc({ kind });
    this.snapshotBytes.set({ kind }, bytes);
    if (seconds !== undefined) this.snapshotSeconds.observe({ kind }, seconds);
  }

  connectionDropped(port: 'client' | 'peer'): void {
    this.connectionsDropped.inc({ port });
  }

  snapshotFailed(kind: SnapshotFailureKind): void {
    this.snapshotFailures.inc({ kind });
  }

  // ---- reported by the HTTP layer -------------------------------------------------------------

  observeHttpRequest(route: string, method: string, code: number, seconds: number): void {
    // prom-client hashes the label object on every observe; a request is served in tens of
    // microseconds, so the child of each (route, method, code) is looked up once and kept.
    const key = `${route} ${method} ${code}`;
    let child = this.httpChildren.get(key);
    if (child === undefined) {
      child = this.httpSeconds.labels(route, method, String(code));
      this.httpChildren.set(key, child);
    }
    child.observe(seconds);
  }

  /** Prometheus text exposition, gauges refreshed from the source first. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Free and total bytes of the filesystem holding the data directory, read by statfs at scrape time
 * (one cheap syscall per gauge), labelled with the directory. Registered only when the node has a
 * data directory; a failed statfs leaves no sample (never a false 0-byte disk).
 */
function registerDiskGauges(dataDir: string, registers: Registry[]): void {
  const labels = { path: dataDir };
  const filesystem = async () => {
    try {
      const st = await statfs(dataDir);
      return { available: st.bavail * st.bsize, capacity: st.blocks * st.bsize };
    } catch {
      return null;
    }
  };
  new Gauge({
    name: 'conflux_disk_available_bytes',
    help: 'Bytes available to the node on the filesystem holding its data directory.',
    labelNames: ['path'],
    registers,
    async collect() {
      const fs = await filesystem();
      if (fs === null) this.reset();
      else this.set(labels, fs.available);
    },
  });
  new Gauge({
    name: 'conflux_disk_capacity_bytes',
    help: 'Size in bytes of the filesystem holding the data directory.',
    labelNames: ['path'],
    registers,
    async collect() {
      const fs = await filesystem();
      if (fs === null) this.reset();
      else this.set(labels, fs.capacity);
    },
  });
}
