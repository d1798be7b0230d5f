// A small simulated world for reconcile tests: FakeKube as the API server, a StatefulSet
// controller and kubelet that turn the StatefulSet into pods with addresses and volumes, and
// FakeConflux, the Conflux nodes behind the admin API with a Raft configuration that changes
// only through admin calls. Volumes outlive pods (PVCs), so a pod that comes back keeps its data
// and incarnation unless its volume was deleted.
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { ConfluxCluster } from '../../operator/src/api/types.js';
import {
  AdminError,
  type AdminClient,
  type AdminTarget,
  type MembersView,
  type MemberView,
  type NewMember,
  type NodeStatus,
} from '../../operator/src/conflux-admin.js';
import { silentLogger } from '../../operator/src/logger.js';
import { DEFAULT_RECONCILE_OPTIONS, type ReconcileContext, type ReconcileOptions } from '../../operator/src/reconcile/types.js';
import { REVISION_LABEL, SPEC_HASH_ANNOTATION } from '../../operator/src/specs/names.js';
import { FakeKube } from './fake-kube.js';
import { makeCluster } from './fixtures.js';

interface Volume {
  incarnation: string;
  clusterId: string;
}

interface Member {
  id: string;
  incarnation: string;
  peerURL: string;
  clientURL: string;
  role: 'voter' | 'learner';
}

/** The Conflux nodes: one per running pod, with the data of its volume. */
export class FakeConflux implements AdminClient {
  clusterId = '';
  config_: Member[] = [];
  leaderId: string | null = null;
  term = 0;
  /** Log positions of the leader; `commitLag` > 0 makes the last entries uncommitted for a while. */
  lastLogIndex = 0;
  commitLag = 0;
  readonly volumes = new Map<string, Volume>();
  /** Pods whose node process runs, by pod name -> URL. */
  readonly running = new Map<string, string>();
  /** Membership changes that took effect, in order: 'add demo-1', 'promote demo-1', ... */
  readonly changes: string[] = [];
  /** Every admin call, in order. */
  readonly calls: string[] = [];
  /** The tokens admin calls carried. */
  readonly tokens = new Set<string | undefined>();
  /** Pods whose admin API does not answer (status, members), by name. */
  readonly silent = new Set<string>();
  /** No leader can be elected (a partition). */
  partitioned = false;
  /** Promotions refused with not_caught_up this many more times, by member id. */
  readonly catchUp = new Map<string, number>();
  private readonly failures: { method: string; error: Error }[] = [];
  private nextIncarnation = 0;

  copyFrom(o: FakeConflux): void {
    this.clusterId = o.clusterId;
    this.config_ = structuredClone(o.config_);
    this.leaderId = o.leaderId;
    this.term = o.term;
    this.lastLogIndex = o.lastLogIndex;
    this.commitLag = o.commitLag;
    for (const [k, v] of o.volumes) this.volumes.set(k, { ...v });
    for (const [k, v] of o.running) this.running.set(k, v);
    this.changes.push(...o.changes);
    this.nextIncarnation = o.nextIncarnation;
  }

  failNext(method: string, error: Error): void {
    this.failures.push({ method, error });
  }

  newVolume(pod: string): Volume {
    const v = { incarnation: `inc-${pod}-${++this.nextIncarnation}`, clusterId: '' };
    this.volumes.set(pod, v);
    return v;
  }

  private nodeAt(t: AdminTarget | string, method: string): string {
    const url = typeof t === 'string' ? t : t.url;
    if (typeof t !== 'string') this.tokens.add(t.token);
    this.calls.push(`${method} ${url}`);
    const f = this.failures.findIndex((x) => x.method === method);
    if (f >= 0) throw this.failures.splice(f, 1)[0]!.error;
    const name = [...this.running.entries()].find(([, u]) => u === url)?.[0];
    if (name === undefined || this.silent.has(name)) throw new AdminError(0, 'unreachable', `${method} ${url}: ECONNREFUSED`);
    return name;
  }

  /** A member is healthy when its pod runs with the member's data. */
  healthy(m: Member): boolean {
    const v = this.volumes.get(m.id);
    return this.running.has(m.id) && v !== undefined && v.clusterId === this.clusterId && (m.incarnation === '' || v.incarnation === m.incarnation);
  }

  /** Elects the lowest healthy voter when the leader is gone and a majority of voters is healthy. */
  elect(): void {
    const voters = this.config_.filter((m) => m.role === 'voter');
    const healthy = voters.filter((m) => this.healthy(m));
    const current = this.config_.find((m) => m.id === this.leaderId);
    if (this.partitioned || healthy.length < Math.floor(voters.length / 2) + 1) {
      this.leaderId = null;
      return;
    }
    if (current !== undefined && current.role === 'voter' && this.healthy(current)) return;
    this.leaderId = healthy.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))[0]!.id;
    this.term++;
    this.lastLogIndex++;
  }

  private requireLeader(): void {
    this.elect();
    if (this.leaderId === null) throw new AdminError(503, 'no_leader', 'no leader');
  }

  private append(): void {
    this.lastLogIndex++;
  }

  private view(): MembersView {
    return {
      leaderId: this.leaderId,
      members: this.config_.map(
        (m): MemberView => ({ ...m, matchIndex: this.healthy(m) ? this.lastLogIndex : 0, lag: this.healthy(m) ? 0 : this.lastLogIndex, healthy: this.healthy(m) }),
      ),
    };
  }

  async status(t: AdminTarget): Promise<NodeStatus> {
    const name = this.nodeAt(t, 'status');
    this.elect();
    const v = this.volumes.get(name)!;
    const member = this.config_.find((m) => m.id === name && m.incarnation === v.incarnation);
    const ours = v.clusterId !== '' && v.clusterId === this.clusterId;
    const role: NodeStatus['role'] = v.clusterId === '' ? 'joining' : !ours ? 'follower' : this.leaderId === name ? 'leader' : member?.role === 'learner' ? 'learner' : 'follower';
    const commit = Math.max(0, this.lastLogIndex - this.commitLag);
    return {
      id: name,
      incarnation: v.incarnation,
      clusterId: v.clusterId,
      role,
      term: ours ? this.term : 0,
      leaderId: ours && member !== undefined ? this.leaderId : null,
      commitIndex: ours ? commit : 0,
      appliedIndex: ours ? commit : 0,
      lastLogIndex: ours ? this.lastLogIndex : 0,
      snapshotIndex: 0,
    };
  }

  async members(t: AdminTarget): Promise<MembersView> {
    this.nodeAt(t, 'members');
    this.requireLeader();
    return this.view();
  }

  async bootstrap(t: AdminTarget): Promise<{ clusterId: string }> {
    const name = this.nodeAt(t, 'bootstrap');
    const v = this.volumes.get(name)!;
    if (v.clusterId !== '') throw new AdminError(409, 'conflict', 'this node already has state');
    this.clusterId = `cluster-${this.changes.length + 1}`;
    v.clusterId = this.clusterId;
    this.config_ = [{ id: name, incarnation: v.incarnation, peerURL: `peer://${name}`, clientURL: `client://${name}`, role: 'voter' }];
    this.leaderId = name;
    this.term = 1;
    this.lastLogIndex = 1;
    this.changes.push(`bootstrap ${name}`);
    return { clusterId: this.clusterId };
  }

  async addLearner(t: AdminTarget, m: NewMember): Promise<MembersView> {
    this.nodeAt(t, 'addLearner');
    this.requireLeader();
    const existing = this.config_.find((x) => x.id === m.id);
    if (existing !== undefined) {
      if (existing.peerURL === m.peerURL && existing.clientURL === m.clientURL && (m.incarnation === undefined || m.incarnation === existing.incarnation)) return this.view();
      throw new AdminError(400, 'invalid_member', `member ${m.id} exists with other URLs or incarnation; remove it first`);
    }
    this.config_.push({ id: m.id, incarnation: m.incarnation ?? '', peerURL: m.peerURL, clientURL: m.clientURL, role: 'learner' });
    // The node receives the log: its volume now belongs to the cluster.
    const v = this.volumes.get(m.id);
    if (v !== undefined && v.clusterId === '' && (m.incarnation === undefined || v.incarnation === m.incarnation)) v.clusterId = this.clusterId;
    this.append();
    this.changes.push(`add ${m.id}`);
    return this.view();
  }

  async promote(t: AdminTarget, id: string): Promise<MembersView> {
    this.nodeAt(t, 'promote');
    this.requireLeader();
    const m = this.config_.find((x) => x.id === id);
    if (m === undefined) throw new AdminError(404, 'unknown_member', `no member ${id}`);
    const left = this.catchUp.get(id) ?? 0;
    if (left > 0 || !this.healthy(m)) {
      this.catchUp.set(id, left - 1);
      throw new AdminError(409, 'not_caught_up', `learner ${id} is 42 entries behind`, { lag: 42 });
    }
    if (m.role === 'learner') {
      m.role = 'voter';
      this.append();
      this.changes.push(`promote ${id}`);
    }
    return this.view();
  }

  async remove(t: AdminTarget, id: string): Promise<MembersView> {
    this.nodeAt(t, 'remove');
    this.requireLeader();
    const m = this.config_.find((x) => x.id === id);
    if (m === undefined) throw new AdminError(404, 'unknown_member', `no member ${id}`);
    if (m.role === 'voter' && this.config_.filter((x) => x.role === 'voter').length === 1) throw new AdminError(400, 'invalid_member', 'cannot remove the last voter');
    this.config_ = this.config_.filter((x) => x.id !== id);
    if (this.leaderId === id) {
      this.leaderId = null;
      this.elect();
    }
    this.append();
    this.changes.push(`remove ${id}`);
    return this.view();
  }

  async transferLeader(t: AdminTarget, to?: string): Promise<{ leaderId: string }> {
    this.nodeAt(t, 'transferLeader');
    this.requireLeader();
    const target = this.config_.find((m) => m.id === to && m.role === 'voter' && this.healthy(m));
    if (target === undefined) throw new AdminError(400, 'invalid_member', `${to} is not a healthy voter`);
    this.leaderId = target.id;
    this.term++;
    this.append();
    this.changes.push(`transfer ${to}`);
    return { leaderId: target.id };
  }

  /** Voters and learners as `id:role`, sorted by ordinal, for assertions. */
  config(): string[] {
    return [...this.config_].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })).map((m) => `${m.id}:${m.role}`);
  }
}

/** FakeKube + FakeConflux + the StatefulSet controller and kubelet between them. */
export class World {
  readonly kube = new FakeKube();
  readonly conflux = new FakeConflux();
  readonly ns = 'conflux';
  readonly name = 'demo';
  nowMs = Date.UTC(2025, 0, 1);
  /** Pods that stay Pending (no address), by name. */
  readonly pending = new Set<string>();
  private nextIp = 1;
  private readonly ips = new Map<string, string>();

  constructor(spec: Partial<ConfluxCluster['spec']> = {}) {
    const cluster = makeCluster(spec, this.name, this.ns);
    delete (cluster.metadata as { uid?: string }).uid;
    this.kube.put('ConfluxCluster', cluster);
  }

  /** An independent copy of this world (objects, nodes, volumes, addresses), without logs. */
  fork(): World {
    const w = new World();
    w.kube.copyFrom(this.kube);
    w.conflux.copyFrom(this.conflux);
    w.nowMs = this.nowMs;
    w.nextIp = this.nextIp;
    for (const [k, v] of this.ips) w.ips.set(k, v);
    for (const p of this.pending) w.pending.add(p);
    return w;
  }

  ctx(overrides: Partial<ReconcileContext> = {}, options: Partial<ReconcileOptions> = {}): ReconcileContext {
    let tokens = 0;
    return {
      kube: this.kube,
      admin: this.conflux,
      nowMs: () => this.nowMs,
      sleep: async (ms) => {
        this.nowMs += ms;
      },
      logger: silentLogger,
      options: { ...DEFAULT_RECONCILE_OPTIONS, ...options },
      randomToken: () => `token-${++tokens}`,
      ...overrides,
    };
  }

  cluster(): ConfluxCluster {
    return this.kube.peek('ConfluxCluster', this.ns, this.name)!;
  }

  setSpec(spec: Partial<ConfluxCluster['spec']>): void {
    const c = this.cluster();
    this.kube.put('ConfluxCluster', { ...c, spec: { ...c.spec, ...spec } });
  }

  statefulSet(): V1StatefulSet | undefined {
    return this.kube.peek('StatefulSet', this.ns, this.name);
  }

  pods(): V1Pod[] {
    return this.kube
      .all('Pod', this.ns)
      .sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!, 'en', { numeric: true }));
  }

  podNames(): string[] {
    return this.pods().map((p) => p.metadata!.name!);
  }

  /**
   * One round of the StatefulSet controller and the kubelet: pods for ordinals below replicas
   * (with a volume, new or kept), none above (their volumes deleted when whenScaled is Delete),
   * status with addresses and readiness, and the StatefulSet's status.
   */
  sync(): void {
    const sts = this.statefulSet();
    const replicas = sts?.spec?.replicas ?? 0;
    const revision = sts === undefined ? '' : `${this.name}-${sts.metadata!.annotations![SPEC_HASH_ANNOTATION]!.slice(0, 10)}`;
    // Pods deleted through the API (a rollout) stop their process.
    for (const name of [...this.conflux.running.keys()]) if (this.kube.peek('Pod', this.ns, name) === undefined) this.conflux.running.delete(name);
    for (const pod of this.pods()) {
      const name = pod.metadata!.name!;
      const ordinal = Number(name.slice(this.name.length + 1));
      if (ordinal >= replicas) {
        this.deletePod(name);
        if (sts?.spec?.persistentVolumeClaimRetentionPolicy?.whenScaled === 'Delete') this.conflux.volumes.delete(name);
      }
    }
    for (let i = 0; i < replicas; i++) {
      const name = `${this.name}-${i}`;
      const existing = this.kube.peek('Pod', this.ns, name);
      if (existing === undefined) {
        this.kube.put('Pod', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: this.ns, labels: { ...sts!.spec!.template.metadata!.labels, [REVISION_LABEL]: revision } },
          spec: structuredClone(sts!.spec!.template.spec!),
          status: { phase: 'Pending' },
        });
      }
      this.startPod(name);
    }
    this.refreshReadiness();
    if (sts !== undefined) {
      const pods = this.pods();
      const status = {
        replicas: pods.length,
        readyReplicas: pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length,
        updateRevision: revision,
        currentRevision: revision,
      };
      if (JSON.stringify(status) !== JSON.stringify(sts.status)) this.kube.put('StatefulSet', { ...sts, status });
    }
  }

  private startPod(name: string): void {
    const pod = this.kube.peek('Pod', this.ns, name)!;
    if (this.pending.has(name) || pod.status?.phase === 'Running') return;
    if (!this.conflux.volumes.has(name)) this.conflux.newVolume(name);
    let ip = this.ips.get(name);
    if (ip === undefined) {
      ip = `10.0.0.${this.nextIp++}`;
      this.ips.set(name, ip);
    }
    this.conflux.running.set(name, `http://${ip}:7070`);
    this.kube.put('Pod', { ...pod, status: { phase: 'Running', podIP: ip } });
  }

  /** Readiness as /readyz: a member (with this data) that knows a leader. */
  refreshReadiness(): void {
    this.conflux.elect();
    for (const pod of this.pods()) {
      const name = pod.metadata!.name!;
      if (pod.status?.phase !== 'Running') continue;
      const v = this.conflux.volumes.get(name);
      const member = this.conflux.config_.find((m) => m.id === name && m.incarnation === v?.incarnation);
      const ready = member !== undefined && this.conflux.leaderId !== null && v?.clusterId === this.conflux.clusterId;
      const status = ready ? 'True' : 'False';
      if (pod.status?.conditions?.[0]?.status === status) continue;
      this.kube.put('Pod', { ...pod, status: { ...pod.status, conditions: [{ type: 'Ready', status }] } });
    }
  }

  /** The pod and its process go away (its volume stays). */
  deletePod(name: string): void {
    this.kube.remove('Pod', this.ns, name);
    this.conflux.running.delete(name);
  }

  /** The pod loses its PVC: it comes back empty with a new incarnation. */
  wipe(name: string): void {
    this.deletePod(name);
    this.conflux.volumes.delete(name);
  }
}
