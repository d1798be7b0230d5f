// QuorumLost: reported (Degraded, reason QuorumLost, one Warning event per transition) when fewer
// than a majority of the voters can take part, and nothing is changed: no membership change, no
// pod deleted, even with a pending template change.
import { describe, expect, it } from 'vitest';
import type { AdminClient, MembersView } from '../../operator/src/conflux-admin.js';
import { World } from './fake-world.js';
import { converge, passes, ref } from './passes.js';

const condition = (w: World, type: string) => w.cluster().status?.conditions?.find((c) => c.type === type);

/** The fake nodes' admin API with `members` answered by `members`. */
function withMembers(w: World, members: AdminClient['members']): AdminClient {
  const c = w.conflux;
  return {
    status: (t) => c.status(t),
    members,
    bootstrap: (t) => c.bootstrap(t),
    addLearner: (t, m) => c.addLearner(t, m),
    promote: (t, id) => c.promote(t, id),
    remove: (t, id) => c.remove(t, id),
    transferLeader: (t, to) => c.transferLeader(t, to),
  };
}

describe('quorum loss', () => {
  it('is reported at once when fewer than a majority of voters answer, and nothing is changed', async () => {
    const w = new World({ replicas: 3 });
    await converge(w);
    w.deletePod('demo-1');
    w.deletePod('demo-2');
    w.pending.add('demo-1');
    w.pending.add('demo-2');
    // A template change is pending too: it must not roll anything without a quorum.
    w.setSpec({ image: 'conflux:0.2.0' });
    const changes = w.conflux.changes.length;
    const uid0 = w.kube.peek('Pod', 'conflux', 'demo-0')!.metadata!.uid;
    await passes(w, 5);
    const degraded = condition(w, 'Degraded')!;
    expect(degraded).toMatchObject({ status: 'True', reason: 'QuorumLost' });
    expect(degraded.message).toContain('only 1 of 3 voters answer (missing: demo-1, demo-2)');
    expect(degraded.message).toContain('docs/runbooks.md');
    expect(w.cluster().status!.phase).toBe('Degraded');
    expect(w.conflux.changes.length).toBe(changes);
    expect(w.kube.calls.filter((c) => c.op === 'delete')).toEqual([]);
    expect(w.kube.peek('Pod', 'conflux', 'demo-0')!.metadata!.uid).toBe(uid0);
    // One event for the transition, not one per pass.
    expect(w.kube.events.filter((e) => e.reason === 'QuorumLost')).toHaveLength(1);
    expect(w.kube.events.find((e) => e.reason === 'QuorumLost')!.type).toBe('Warning');

    // The pods come back with their volumes: the quorum is back, the rollout may go on.
    w.pending.clear();
    await converge(w);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(w.pods().every((p) => p.spec!.containers[0]!.image === 'conflux:0.2.0')).toBe(true);
    expect(w.conflux.changes.slice(changes).filter((c) => !c.startsWith('transfer'))).toEqual([]);
  });

  it('no leader while a majority answers is NoLeader first, QuorumLost after quorumLostAfterMs', async () => {
    const w = new World({ replicas: 3 });
    await converge(w);
    w.conflux.partitioned = true;
    const ctx = w.ctx({}, { quorumLostAfterMs: 30_000 });
    await passes(w, 3, ctx);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'NoLeader' });
    w.nowMs += 30_000;
    await passes(w, 1, ctx);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'QuorumLost', message: expect.stringContaining('although 3 of 3 voters answer') });
    expect(w.kube.events.filter((e) => e.reason === 'QuorumLost')).toHaveLength(1);
    w.conflux.partitioned = false;
    await converge(w, ctx);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False' });
    expect(condition(w, 'Available')).toMatchObject({ status: 'True' });
  });

  it('reads the configuration from a reachable member when there is no leader', async () => {
    const w = new World({ replicas: 3 });
    await converge(w);
    // The members' view (as a follower answers it) names seven voters; status only knew three.
    const seven: MembersView = {
      leaderId: null,
      members: ['demo-0', 'demo-1', 'demo-2', 'demo-3', 'demo-4', 'demo-5', 'demo-6'].map((id) => ({ id, incarnation: '', peerURL: '', clientURL: '', role: 'voter' as const, matchIndex: 0, lag: 0, healthy: false })),
    };
    const admin = withMembers(w, async (t) => (w.conflux.leaderId === null ? seven : w.conflux.members(t)));
    w.conflux.partitioned = true;
    await passes(w, 2, w.ctx({ admin }));
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'QuorumLost', message: expect.stringContaining('only 3 of 7 voters answer (missing: demo-3, demo-4, demo-5, demo-6); 4 are needed') });
  });

  it('a leader that hears from fewer than a majority is reported', async () => {
    const w = new World({ replicas: 3 });
    await converge(w);
    const admin = withMembers(w, async (t) => {
      const v = await w.conflux.members(t);
      return { ...v, members: v.members.map((m) => (m.id === v.leaderId ? m : { ...m, healthy: false })) };
    });
    const changes = w.conflux.changes.length;
    await passes(w, 2, w.ctx({ admin }));
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'QuorumLost', message: expect.stringContaining('hears from 1 of 3 voters (not: demo-1, demo-2)') });
    expect(w.conflux.changes.length).toBe(changes);
  });

  it('is not reported for a new cluster or a healthy one', async () => {
    const w = new World({ replicas: 3 });
    await passes(w, 2);
    expect(condition(w, 'Degraded')?.reason).not.toBe('QuorumLost');
    await converge(w);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(w.kube.eventReasons()).not.toContain('QuorumLost');
  });
});

describe('recovery after quorum loss (docs/runbooks.md, "Quorum lost on Kubernetes")', () => {
  it('once demo-0 was forced into a new cluster, the other PVCs emptied and status.clusterId cleared, the operator adopts it and adds the others', async () => {
    const w = new World({ replicas: 3 });
    await converge(w);
    const oldId = w.conflux.clusterId;
    // demo-1 and demo-2 lose their disks for good: quorum lost, nothing changes.
    w.deletePod('demo-1');
    w.deletePod('demo-2');
    w.pending.add('demo-1');
    w.pending.add('demo-2');
    await passes(w, 3);
    expect(condition(w, 'Degraded')).toMatchObject({ reason: 'QuorumLost' });
    const changes = w.conflux.changes.length;
    // The runbook, with the operator stopped: the StatefulSet scaled to 1, the PVCs of demo-1 and
    // demo-2 deleted, demo-0 restarted with CONFLUX_FORCE_NEW_CLUSTER=true: it keeps its data and
    // is the only voter of a new cluster.
    const sts = w.statefulSet()!;
    w.kube.put('StatefulSet', { ...sts, spec: { ...sts.spec!, replicas: 1 } });
    w.conflux.volumes.delete('demo-1');
    w.conflux.volumes.delete('demo-2');
    w.pending.clear();
    const v0 = w.conflux.volumes.get('demo-0')!;
    v0.clusterId = 'forced-1';
    w.conflux.clusterId = 'forced-1';
    w.conflux.config_ = w.conflux.config_.filter((m) => m.id === 'demo-0');
    w.conflux.leaderId = null;
    w.sync();
    // Before the recorded id is cleared the operator refuses the new cluster as foreign data.
    await passes(w, 2);
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'True', reason: 'ForeignData' });
    expect(w.conflux.changes.length).toBe(changes);
    // kubectl patch confluxcluster demo --subresource=status --type=merge -p '{"status":{"clusterId":null}}'
    await w.kube.patchStatus('conflux', 'demo', { clusterId: null });
    await converge(w);
    expect(w.cluster().status).toMatchObject({ clusterId: 'forced-1', phase: 'Running' });
    expect(w.cluster().status!.clusterId).not.toBe(oldId);
    expect(w.conflux.changes.slice(changes)).toEqual(['add demo-1', 'promote demo-1', 'add demo-2', 'promote demo-2']);
    expect(w.kube.eventReasons()).toContain('ClusterAdopted');
    expect(condition(w, 'Degraded')).toMatchObject({ status: 'False' });
  });
});
