// The reconcile against FakeKube and FakeConflux (fake-world.ts): a new cluster, scaling 3 -> 5 ->
// 3, a wiped volume, no leader, learners that lag, rollouts, foreign objects, and crashes between
// any two steps.
import { describe, expect, it } from 'vitest';
import { AdminError } from '../../operator/src/conflux-admin.js';
import { KubeError } from '../../operator/src/kube.js';
import { reconcile } from '../../operator/src/reconcile/reconcile.js';
import { STEPS } from '../../operator/src/reconcile/steps.js';
import type { ReconcileContext, Step, StepResult } from '../../operator/src/reconcile/types.js';
import { ordinalOf } from '../../operator/src/specs/names.js';
import { World } from './fake-world.js';

const ref = { namespace: 'conflux', name: 'demo' };

/** Members whose ordinal is at or above the StatefulSet's replicas: must never exist after a pass. */
function checkInvariants(w: World): void {
  const sts = w.statefulSet();
  if (sts === undefined) return;
  const replicas = sts.spec!.replicas!;
  const beyond = w.conflux.config_.filter((m) => (ordinalOf(w.cluster(), m.id) ?? -1) >= replicas && w.conflux.running.has(m.id) === false);
  // A member beyond the StatefulSet has no pod: the StatefulSet shrank before its removal.
  expect(beyond.filter((m) => m.role === 'voter'), `voters without pods beyond ${replicas}`).toEqual([]);
}

/** Runs passes (with the StatefulSet controller in between) until a pass changes nothing. */
async function converge(w: World, ctx: ReconcileContext = w.ctx(), maxPasses = 80): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (let i = 0; i < maxPasses; i++) {
    w.sync();
    const before = w.kube.writes().length + w.conflux.changes.length;
    const r = await reconcile(ctx, ref);
    results.push(r);
    checkInvariants(w);
    w.nowMs += 1000;
    w.sync();
    if (r.kind === 'done' && w.kube.writes().length + w.conflux.changes.length === before) return results;
  }
  throw new Error(`no convergence after ${maxPasses} passes: ${JSON.stringify(results.slice(-3))}; config ${w.conflux.config_.map((m) => m.id)}`);
}

const condition = (w: World, type: string) => w.cluster().status?.conditions?.find((c) => c.type === type);

async function newCluster(replicas = 3): Promise<World> {
  const w = new World({ replicas });
  await converge(w);
  return w;
}

describe('a new cluster', () => {
  it('bootstraps pod 0, adds and promotes the others one at a time, and reports Available', async () => {
    const w = await newCluster(3);
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1', 'add demo-2', 'promote demo-2']);
    expect(w.conflux.config_.map((m) => `${m.id}:${m.role}`)).toEqual(['demo-0:voter', 'demo-1:voter', 'demo-2:voter']);
    const status = w.cluster().status!;
    expect(status).toMatchObject({
      phase: 'Running',
      clusterId: w.conflux.clusterId,
      leader: 'demo-0',
      replicas: 3,
      readyReplicas: 3,
      observedGeneration: 1,
      selector: 'app.kubernetes.io/name=conflux,app.kubernetes.io/instance=demo,app.kubernetes.io/component=node',
      members: [
        { name: 'demo-0', role: 'voter', healthy: true },
        { name: 'demo-1', role: 'voter', healthy: true },
        { name: 'demo-2', role: 'voter', healthy: true },
      ],
    });
    expect(condition(w, 'Available')).toMatchObject({ status: 'True', reason: 'QuorumHealthy', observedGeneration: 1 });
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(w.kube.eventReasons()).toEqual(
      expect.arrayContaining(['AuthSecretCreated', 'StatefulSetCreated', 'Bootstrapped', 'MemberAdded', 'MemberPromoted', 'Available']),
    );
    expect(w.kube.eventReasons().filter((r) => r === 'MemberAdded')).toHaveLength(2);
  });

  it('creates every owned object with an owner reference, and uses the generated admin token', async () => {
    const w = await newCluster(3);
    const uid = w.cluster().metadata.uid;
    for (const [kind, name] of [
      ['Secret', 'demo-auth'],
      ['Service', 'demo-peer'],
      ['Service', 'demo'],
      ['StatefulSet', 'demo'],
      ['PodDisruptionBudget', 'demo'],
    ] as const) {
      const obj = w.kube.peek(kind, 'conflux', name);
      expect(obj, `${kind} ${name}`).toBeDefined();
      expect(obj!.metadata!.ownerReferences).toEqual([expect.objectContaining({ uid, controller: true })]);
    }
    expect(w.kube.peek('PodDisruptionBudget', 'conflux', 'demo')!.spec!.maxUnavailable).toBe(1);
    expect([...w.conflux.tokens]).toEqual(['token-1']);
  });

  it('never bootstraps while a running pod does not answer (it may hold data)', async () => {
    const w = new World({ replicas: 3 });
    w.sync();
    await reconcile(w.ctx(), ref);
    w.sync();
    w.conflux.silent.add('demo-2');
    for (let i = 0; i < 3; i++) {
      const r = await reconcile(w.ctx(), ref);
      expect(r).toMatchObject({ kind: 'requeue' });
      w.sync();
    }
    expect(w.conflux.changes).toEqual([]);
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'True', reason: 'WaitingForPods' });
    expect(w.cluster().status!.phase).toBe('Bootstrapping');
    w.conflux.silent.clear();
    await converge(w);
    expect(w.conflux.changes[0]).toBe('bootstrap demo-0');
  });

  it('waits for pod 0 when it is pending', async () => {
    const w = new World({ replicas: 1 });
    w.pending.add('demo-0');
    await reconcile(w.ctx(), ref);
    w.sync();
    const r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ kind: 'requeue', reason: expect.stringContaining('demo-0') });
    expect(condition(w, 'Progressing')).toMatchObject({ reason: 'Creating' });
    w.pending.clear();
    await converge(w);
    expect(w.conflux.config_.map((m) => m.id)).toEqual(['demo-0']);
  });
});

describe('scaling', () => {
  it('3 -> 5 -> 3: grows the StatefulSet, adds and promotes; removes the highest ordinals, then shrinks', async () => {
    const w = await newCluster(3);
    const start = w.conflux.changes.length;
    w.setSpec({ replicas: 5 });
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual(['add demo-3', 'promote demo-3', 'add demo-4', 'promote demo-4']);
    expect(w.conflux.config_).toHaveLength(5);
    expect(w.statefulSet()!.spec!.replicas).toBe(5);
    expect(w.kube.peek('PodDisruptionBudget', 'conflux', 'demo')!.spec!.maxUnavailable).toBe(2);
    expect(w.cluster().status).toMatchObject({ phase: 'Running', readyReplicas: 5, observedGeneration: 2 });

    const mid = w.conflux.changes.length;
    w.setSpec({ replicas: 3 });
    // Pass by pass: the StatefulSet never shrinks past a member.
    const replicasSeen: number[] = [];
    for (let i = 0; i < 30; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
      replicasSeen.push(w.statefulSet()!.spec!.replicas!);
      const maxMember = Math.max(...w.conflux.config_.map((m) => ordinalOf(w.cluster(), m.id)!));
      expect(w.statefulSet()!.spec!.replicas!).toBeGreaterThan(maxMember);
      w.nowMs += 1000;
    }
    expect(w.conflux.changes.slice(mid)).toEqual(['remove demo-4', 'remove demo-3']);
    expect(replicasSeen.at(-1)).toBe(3);
    expect(w.podNames()).toEqual(['demo-0', 'demo-1', 'demo-2']);
    // whenScaled: Delete: the removed pods' volumes are gone.
    expect([...w.conflux.volumes.keys()].sort()).toEqual(['demo-0', 'demo-1', 'demo-2']);
    expect(w.kube.peek('PodDisruptionBudget', 'conflux', 'demo')!.spec!.maxUnavailable).toBe(1);
    expect(w.kube.eventReasons()).toEqual(expect.arrayContaining(['StatefulSetGrown', 'StatefulSetShrunk', 'MemberRemoved']));
    expect(w.cluster().status).toMatchObject({ phase: 'Running', replicas: 3, observedGeneration: 3 });
  });

  it('moves leadership away from the highest ordinal before removing it', async () => {
    const w = await newCluster(5);
    await w.conflux.transferLeader({ url: w.conflux.running.get('demo-0')! }, 'demo-4');
    const start = w.conflux.changes.length;
    w.setSpec({ replicas: 3 });
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual(['transfer demo-0', 'remove demo-4', 'remove demo-3']);
    expect(w.kube.eventReasons()).toContain('LeaderTransferred');
    expect(w.cluster().status!.leader).toBe('demo-0');
  });

  it('shrinks only once the leader has committed the removal', async () => {
    const w = await newCluster(4);
    w.setSpec({ replicas: 3 });
    w.sync();
    await reconcile(w.ctx(), ref); // removes demo-3
    expect(w.conflux.changes.at(-1)).toBe('remove demo-3');
    w.conflux.commitLag = 1;
    for (let i = 0; i < 3; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
      expect(w.statefulSet()!.spec!.replicas).toBe(4);
    }
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'True', reason: 'ScalingDown', message: expect.stringContaining('commit') });
    w.conflux.commitLag = 0;
    await converge(w);
    expect(w.statefulSet()!.spec!.replicas).toBe(3);
  });

  it('does not grow the StatefulSet while a pod is not yet a voter', async () => {
    const w = await newCluster(3);
    w.wipe('demo-2');
    w.setSpec({ replicas: 5 });
    w.sync();
    await reconcile(w.ctx(), ref);
    expect(w.statefulSet()!.spec!.replicas).toBe(3);
    expect(w.conflux.changes.at(-1)).toBe('remove demo-2');
    expect(condition(w, 'Progressing')).toMatchObject({ reason: 'ScalingUp', message: expect.stringContaining('once demo-2 is a healthy voter') });
    await converge(w);
    expect(w.conflux.changes.slice(-7)).toEqual(['remove demo-2', 'add demo-2', 'promote demo-2', 'add demo-3', 'promote demo-3', 'add demo-4', 'promote demo-4']);
    expect(w.conflux.config_.map((m) => `${m.id}:${m.role}`)).toEqual(['demo-0:voter', 'demo-1:voter', 'demo-2:voter', 'demo-3:voter', 'demo-4:voter']);
  });

  it('does not grow the StatefulSet while a voter is down', async () => {
    const w = await newCluster(3);
    w.deletePod('demo-1');
    w.pending.add('demo-1');
    w.setSpec({ replicas: 5 });
    for (let i = 0; i < 3; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
    }
    expect(w.statefulSet()!.spec!.replicas).toBe(3);
    expect(condition(w, 'Progressing')).toMatchObject({ reason: 'ScalingUp', message: expect.stringContaining('once demo-1 is a healthy voter') });
    w.pending.clear();
    await converge(w);
    expect(w.statefulSet()!.spec!.replicas).toBe(5);
    expect(w.conflux.config_).toHaveLength(5);
  });

  it('waits for a learner to catch up before promoting it', async () => {
    const w = new World({ replicas: 2 });
    w.conflux.catchUp.set('demo-1', 2);
    const results = await converge(w);
    expect(results.some((r) => r.kind === 'requeue' && r.reason === 'learner not caught up')).toBe(true);
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1']);
    expect(w.kube.eventReasons()).not.toContain('MembershipChangeFailed');
  });

  it('keeps a healthy majority: refuses to remove a healthy voter when too few are healthy', async () => {
    const w = await newCluster(5);
    w.deletePod('demo-1');
    w.deletePod('demo-2');
    w.pending.add('demo-1');
    w.pending.add('demo-2');
    w.setSpec({ replicas: 3 });
    const start = w.conflux.changes.length;
    for (let i = 0; i < 3; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
    }
    expect(w.conflux.changes.slice(start)).toEqual([]);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'WouldLoseQuorum' });
    w.pending.clear();
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual(['remove demo-4', 'remove demo-3']);
  });
});

describe('repairs', () => {
  it('a pod with a new data directory is removed and added again, then promoted', async () => {
    const w = await newCluster(3);
    const old = w.conflux.config_.find((m) => m.id === 'demo-1')!.incarnation;
    const start = w.conflux.changes.length;
    w.wipe('demo-1');
    w.sync();
    await reconcile(w.ctx(), ref);
    expect(w.conflux.changes.slice(start)).toEqual(['remove demo-1']);
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'True', reason: 'ReplacingMember' });
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual(['remove demo-1', 'add demo-1', 'promote demo-1']);
    const now = w.conflux.config_.find((m) => m.id === 'demo-1')!;
    expect(now.incarnation).not.toBe(old);
    expect(now.role).toBe('voter');
    expect(condition(w, 'Available')).toMatchObject({ status: 'True' });
  });

  it('a pod that comes back with its volume is left alone (same member)', async () => {
    const w = await newCluster(3);
    const start = w.conflux.changes.length;
    w.deletePod('demo-0'); // the leader
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual([]);
    expect(w.cluster().status!.members!.every((m) => m.healthy)).toBe(true);
  });

  it('removes a member that is not one of the pods', async () => {
    const w = await newCluster(3);
    w.conflux.config_.push({ id: 'stranger', incarnation: 'x', peerURL: 'p', clientURL: 'c', role: 'learner' });
    await converge(w);
    expect(w.conflux.changes.at(-1)).toBe('remove stranger');
  });

  it('never adds a pod that holds another cluster\'s data', async () => {
    const w = await newCluster(2);
    w.setSpec({ replicas: 3 });
    w.sync();
    w.conflux.volumes.set('demo-2', { incarnation: 'alien', clusterId: 'other-cluster' });
    w.deletePod('demo-2');
    const start = w.conflux.changes.length;
    for (let i = 0; i < 4; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
    }
    expect(w.conflux.changes.slice(start)).toEqual([]);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'ForeignData', message: expect.stringContaining('demo-2') });
  });

  it('adopts the cluster its pods belong to when the resource is re-created (volumes retained)', async () => {
    const w = await newCluster(3);
    const clusterId = w.conflux.clusterId;
    // Delete the ConfluxCluster: the garbage collector takes the owned objects and the pods.
    for (const [kind, name] of [['Secret', 'demo-auth'], ['Service', 'demo-peer'], ['Service', 'demo'], ['StatefulSet', 'demo'], ['PodDisruptionBudget', 'demo'], ['ConfluxCluster', 'demo']] as const) {
      w.kube.remove(kind, 'conflux', name);
    }
    for (const p of w.podNames()) w.deletePod(p);
    const fresh = new World({ replicas: 3 }).cluster();
    w.kube.put('ConfluxCluster', { ...fresh, metadata: { name: 'demo', namespace: 'conflux', uid: 'second-uid' } });
    const start = w.conflux.changes.length;
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual([]);
    expect(w.cluster().status).toMatchObject({ clusterId, phase: 'Running' });
    expect(w.kube.eventReasons()).toContain('ClusterAdopted');
  });
});

describe('no leader', () => {
  it('changes nothing, reports Degraded and requeues', async () => {
    const w = await newCluster(3);
    w.setSpec({ replicas: 5 });
    w.conflux.partitioned = true;
    const writes = w.kube.writes().filter((c) => c.op !== 'patchStatus').length;
    const changes = w.conflux.changes.length;
    for (let i = 0; i < 3; i++) {
      w.sync();
      const r = await reconcile(w.ctx(), ref);
      expect(r.kind).toBe('requeue');
    }
    expect(w.conflux.changes.length).toBe(changes);
    expect(w.kube.writes().filter((c) => c.op !== 'patchStatus').length).toBe(writes);
    expect(w.statefulSet()!.spec!.replicas).toBe(3);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'NoLeader' });
    expect(condition(w, 'Available')).toMatchObject({ status: 'False', reason: 'NoLeader' });
    expect(w.cluster().status!.phase).toBe('Degraded');
    expect(w.cluster().status!.leader).toBeUndefined();
    expect(w.cluster().status!.members!.every((m) => !m.healthy)).toBe(true);
    expect(w.kube.events.filter((e) => e.type === 'Warning').map((e) => e.reason)).toContain('NoLeader');
    w.conflux.partitioned = false;
    await converge(w);
    expect(w.conflux.config_).toHaveLength(5);
  });

  it('does not adopt data without a leader', async () => {
    const w = new World({ replicas: 1 });
    await reconcile(w.ctx(), ref);
    w.sync();
    w.conflux.volumes.get('demo-0')!.clusterId = 'elsewhere';
    const r = await reconcile(w.ctx(), ref);
    expect(r.kind).toBe('requeue');
    expect(w.cluster().status!.clusterId).toBeUndefined();
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'NoLeader' });
  });
});

describe('admin errors', () => {
  it('a change in progress is retried without a warning', async () => {
    const w = new World({ replicas: 2 });
    w.conflux.failNext('addLearner', new AdminError(409, 'change_in_progress', 'busy'));
    const results = await converge(w);
    expect(results.some((r) => r.kind === 'requeue' && r.reason === 'change in progress')).toBe(true);
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1']);
    expect(w.kube.eventReasons()).not.toContain('MembershipChangeFailed');
  });

  it('an unconfirmed outcome (504) or no answer is looked at again without a warning', async () => {
    const w = new World({ replicas: 3 });
    w.conflux.failNext('addLearner', new AdminError(504, 'outcome_unknown', 'the leader changed'));
    w.conflux.failNext('promote', new AdminError(0, 'timeout', 'no answer'));
    const results = await converge(w);
    expect(results.some((r) => r.kind === 'requeue' && r.reason === 'add-learner demo-1: outcome_unknown')).toBe(true);
    expect(results.some((r) => r.kind === 'requeue' && r.reason === 'promote demo-1: timeout')).toBe(true);
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1', 'add demo-2', 'promote demo-2']);
    expect(w.kube.eventReasons()).not.toContain('MembershipChangeFailed');
  });

  it('another failure records a Warning event and Degraded, then succeeds on a later pass', async () => {
    const w = new World({ replicas: 2 });
    w.conflux.failNext('promote', new AdminError(400, 'invalid_member', 'nope'));
    await converge(w);
    expect(w.kube.eventReasons()).toContain('MembershipChangeFailed');
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1']);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('a leader that cannot list members counts as no leader', async () => {
    const w = await newCluster(3);
    w.conflux.failNext('members', new AdminError(0, 'timeout', 'no answer'));
    w.sync();
    await reconcile(w.ctx(), ref);
    expect(condition(w, 'Available')).toMatchObject({ status: 'False', reason: 'NoLeader', message: expect.stringContaining('did not list members') });
  });
});

describe('rolling update (OnDelete)', () => {
  it('restarts followers highest first, then moves leadership and restarts the old leader', async () => {
    const w = await newCluster(3);
    const start = w.conflux.changes.length;
    const uids = new Map(w.pods().map((p) => [p.metadata!.name!, p.metadata!.uid]));
    w.setSpec({ image: 'conflux:0.2.0' });
    await converge(w);
    expect(w.pods().every((p) => p.spec!.containers[0]!.image === 'conflux:0.2.0')).toBe(true);
    expect(w.pods().every((p) => p.metadata!.uid !== uids.get(p.metadata!.name!))).toBe(true);
    expect(w.conflux.changes.slice(start)).toEqual(['transfer demo-1']);
    const restarted = w.kube.events.filter((e) => e.reason === 'PodRestarted').map((e) => e.message!.split(' ')[1]);
    expect(restarted).toEqual(['demo-2', 'demo-1', 'demo-0']);
    expect(w.cluster().status!.phase).toBe('Running');
  });

  it('waits while the cluster is not settled', async () => {
    const w = await newCluster(3);
    w.setSpec({ image: 'conflux:0.2.0' });
    w.sync();
    await reconcile(w.ctx(), ref); // patches the template
    w.deletePod('demo-1');
    w.pending.add('demo-1');
    w.sync();
    const r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ kind: 'requeue', reason: 'rollout waits for a settled cluster' });
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingUpdate' });
    expect(w.kube.eventReasons()).not.toContain('PodRestarted');
  });
});

describe('objects', () => {
  it('never touches an object with an owned name that another owner controls', async () => {
    const w = new World({ replicas: 1 });
    w.kube.put('Service', { metadata: { name: 'demo-peer', namespace: 'conflux' }, spec: { clusterIP: '10.0.0.1' } });
    const r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ kind: 'requeue' });
    expect(w.kube.peek('Service', 'conflux', 'demo-peer')!.spec).toEqual({ clusterIP: '10.0.0.1' });
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'ObjectConflict' });
    expect(w.statefulSet()).toBeUndefined();
  });

  it('puts back a drifted Service and a changed template, and recreates a deleted one', async () => {
    const w = await newCluster(3);
    const svc = w.kube.peek('Service', 'conflux', 'demo')!;
    w.kube.put('Service', { ...svc, spec: { ...svc.spec, ports: [{ name: 'client', port: 80 }] } });
    w.kube.remove('Service', 'conflux', 'demo-peer');
    await converge(w);
    expect(w.kube.peek('Service', 'conflux', 'demo')!.spec!.ports![0]!.port).toBe(7070);
    expect(w.kube.peek('Service', 'conflux', 'demo-peer')!.spec!.publishNotReadyAddresses).toBe(true);
    // A removed override disappears from the template (whole-template replacement).
    w.setSpec({ podTemplate: { spec: { nodeSelector: { disk: 'ssd' } } } });
    await converge(w);
    expect(w.statefulSet()!.spec!.template.spec!.nodeSelector).toEqual({ disk: 'ssd' });
    w.setSpec({ podTemplate: {} });
    await converge(w);
    expect(w.statefulSet()!.spec!.template.spec!.nodeSelector).toBeUndefined();
  });

  it('reads a user Secret and reports it when missing or incomplete', async () => {
    const w = new World({ replicas: 1, auth: { secretName: 'mine' } });
    let r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ kind: 'requeue', reason: 'Secret mine not found' });
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'AuthSecretInvalid' });
    w.kube.put('Secret', { metadata: { name: 'mine', namespace: 'conflux' }, data: { 'admin-token': Buffer.from('adm\n').toString('base64') } });
    r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ reason: 'Secret mine lacks peer-token' });
    w.kube.put('Secret', { metadata: { name: 'mine', namespace: 'conflux' }, stringData: { 'admin-token': 'adm', 'peer-token': 'p' } });
    await converge(w);
    expect([...w.conflux.tokens]).toEqual(['adm']);
    expect(w.kube.peek('Secret', 'conflux', 'demo-auth')).toBeUndefined();
  });

  it('repairs a generated Secret that lost a key, and refuses a foreign one', async () => {
    const w = await newCluster(1);
    const s = w.kube.peek('Secret', 'conflux', 'demo-auth')!;
    w.kube.put('Secret', { ...s, data: { 'admin-token': s.data!['admin-token']! } });
    await converge(w);
    expect(Object.keys(w.kube.peek('Secret', 'conflux', 'demo-auth')!.data!).sort()).toEqual(['admin-token', 'peer-token']);
    expect(w.kube.eventReasons()).toContain('AuthSecretRepaired');
    w.kube.put('Secret', { metadata: { name: 'demo-auth', namespace: 'conflux' }, data: {} });
    const r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ reason: 'Secret demo-auth is not ours' });
  });

  it('requeues when an object appears while it is being created', async () => {
    const w = new World({ replicas: 1 });
    w.kube.failOn({ op: 'create', kind: 'Service' }, new KubeError(409, 'exists', 'AlreadyExists'));
    const r = await reconcile(w.ctx(), ref);
    expect(r).toMatchObject({ kind: 'requeue', reason: expect.stringContaining('appeared') });
  });

  it('rethrows an API error after writing the status', async () => {
    const w = new World({ replicas: 1 });
    w.kube.failOn({ op: 'list', kind: 'Pod' }, new KubeError(500, 'etcd is sad'));
    await expect(reconcile(w.ctx(), ref)).rejects.toThrow('etcd is sad');
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileError', message: 'etcd is sad' });
  });

  it('a failed status write is reported when nothing else failed', async () => {
    const w = new World({ replicas: 1 });
    w.kube.failOn({ op: 'patchStatus' }, new KubeError(409, 'conflict'));
    await expect(reconcile(w.ctx(), ref)).rejects.toThrow('conflict');
  });

  it('does nothing for a missing or deleted cluster, and reports an invalid spec', async () => {
    const w = new World({ replicas: 1 });
    expect(await reconcile(w.ctx(), { namespace: 'conflux', name: 'nope' })).toEqual({ kind: 'done' });
    const c = w.cluster();
    w.kube.put('ConfluxCluster', { ...c, metadata: { ...c.metadata, deletionTimestamp: new Date() } });
    expect(await reconcile(w.ctx(), ref)).toEqual({ kind: 'done' });
    expect(w.kube.writes()).toEqual([]);
    w.kube.put('ConfluxCluster', { ...c, spec: { ...c.spec, replicas: 0 } });
    expect(await reconcile(w.ctx(), ref)).toEqual({ kind: 'done' });
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(w.statefulSet()).toBeUndefined();
  });
});

describe('a crash between any two steps', () => {
  /** Steps that stop the process (all later Kubernetes calls fail) after step `k` of a pass. */
  function crashingAfter(w: World, k: number): Step[] {
    return STEPS.map((step, i) =>
      i !== k
        ? step
        : {
            name: step.name,
            async run(ctx, state) {
              const r = await step.run(ctx, state);
              w.kube.failOn({}, new Error('crashed'), 1000);
              throw new Error('crashed');
            },
          },
    );
  }

  /** Scale 3 -> 5 -> 3 from a converged cluster; returns the world and the passes it took. */
  async function scenario(base: World, crashAt: { pass: number; step: number } | null): Promise<{ w: World; passes: number }> {
    const w = base.fork();
    let pass = 0;
    const run = async () => {
      for (let i = 0; i < 80; i++) {
        w.sync();
        const steps = crashAt !== null && pass === crashAt.pass ? crashingAfter(w, crashAt.step) : STEPS;
        pass++;
        const before = w.kube.writes().length + w.conflux.changes.length;
        let r: StepResult;
        try {
          r = await reconcile(w.ctx(), ref, steps);
        } catch (err) {
          expect((err as Error).message).toBe('crashed');
          // A new process: the API server works again, nothing of the old pass is kept.
          w.kube.clearFailures();
          continue;
        }
        w.nowMs += 1000;
        w.sync();
        if (r.kind === 'done' && w.kube.writes().length + w.conflux.changes.length === before) return;
      }
      throw new Error('no convergence');
    };
    w.setSpec({ replicas: 5 });
    await run();
    w.setSpec({ replicas: 3 });
    await run();
    return { w, passes: pass };
  }

  // Every pass x every step (12 steps): ~50 s alone on 2 cores, longer next to other tests.
  it('gives the same cluster and the same single changes as a run without a crash, wherever the crash', async () => {
    const base = await newCluster(3);
    const reference = await scenario(base, null);
    const expected = reference.w.conflux.changes;
    expect(expected.slice(-6)).toEqual(['add demo-3', 'promote demo-3', 'add demo-4', 'promote demo-4', 'remove demo-4', 'remove demo-3']);
    for (let pass = 0; pass < reference.passes; pass++) {
      for (let step = 0; step < STEPS.length; step++) {
        // A macrotask turn per scenario: the fakes resolve in microtasks only, and a worker that
        // never yields misses vitest's RPC deadline (onTaskUpdate) on a loaded machine.
        await new Promise((r) => setImmediate(r));
        const { w } = await scenario(base, { pass, step });
        expect(w.conflux.changes, `crash after ${STEPS[step]!.name} in pass ${pass}`).toEqual(expected);
        expect(w.conflux.config_).toEqual(reference.w.conflux.config_);
        expect(w.statefulSet()!.spec!.replicas).toBe(3);
        expect(w.cluster().status!.phase).toBe('Running');
      }
    }
  }, 300_000);

  it('after a membership change, before the status is written: the next pass continues from the cluster', async () => {
    const w = new World({ replicas: 2 });
    let crashes = 0;
    const ctx = w.ctx({
      afterChange: (what) => {
        if (what === 'bootstrap' || what === 'add-learner') {
          crashes++;
          w.kube.failOn({}, new Error('crashed'), 1000);
          throw new Error('crashed');
        }
      },
    });
    for (let i = 0; i < 6; i++) {
      w.sync();
      await reconcile(ctx, ref).catch(() => undefined);
      w.kube.clearFailures();
    }
    await converge(w);
    expect(crashes).toBe(2);
    expect(w.conflux.changes).toEqual(['bootstrap demo-0', 'add demo-1', 'promote demo-1']);
    // The bootstrap's cluster id was lost with the crash and adopted from the pods.
    expect(w.cluster().status!.clusterId).toBe(w.conflux.clusterId);
    expect(w.kube.eventReasons()).toContain('ClusterAdopted');
  });
});

describe('retained volumes', () => {
  it('a pod scaled away with whenScaled: Retain is not added back with its old data', async () => {
    const w = new World({ replicas: 3, storage: { size: '1Gi', retention: { whenScaled: 'Retain' } } });
    await converge(w);
    w.setSpec({ replicas: 2 });
    await converge(w);
    expect(w.conflux.volumes.has('demo-2')).toBe(true);
    const start = w.conflux.changes.length;
    w.setSpec({ replicas: 3 });
    for (let i = 0; i < 5; i++) {
      w.sync();
      await reconcile(w.ctx(), ref);
    }
    expect(w.conflux.changes.slice(start)).toEqual([]);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'StaleData', message: expect.stringContaining('demo-2') });
    // A human deletes the PVC: the pod comes back empty and is added.
    w.wipe('demo-2');
    await converge(w);
    expect(w.conflux.changes.slice(start)).toEqual(['add demo-2', 'promote demo-2']);
  });
});
