// computeStatus on hand-made pass states.
import { describe, expect, it } from 'vitest';
import { resolveSpec, type ConfluxClusterStatus } from '../../operator/src/api/types.js';
import type { MemberView } from '../../operator/src/conflux-admin.js';
import { computeStatus, statusPatch } from '../../operator/src/reconcile/status.js';
import { newState, type ReconcileState } from '../../operator/src/reconcile/types.js';
import { makeCluster } from './fixtures.js';

const T0 = '2025-01-01T00:00:00.000Z';
const T1 = '2025-01-01T00:01:00.000Z';

function state(members: Partial<MemberView>[] | null, status?: ConfluxClusterStatus): ReconcileState {
  const cluster = { ...makeCluster(), ...(status !== undefined ? { status } : {}) };
  const s = newState(cluster, resolveSpec(cluster.spec));
  s.clusterId = 'c1';
  if (members !== null) {
    const view = { leaderId: 'demo-0', members: members.map((m) => ({ id: 'x', incarnation: 'i', peerURL: 'p', clientURL: 'c', role: 'voter' as const, matchIndex: 1, lag: 0, healthy: true, ...m })) };
    const pod = { name: 'demo-0', ordinal: 0, pod: {}, url: 'u', ready: true, terminating: false };
    const nodeStatus = { id: 'demo-0', incarnation: 'i', clusterId: 'c1', role: 'leader' as const, term: 1, leaderId: 'demo-0', commitIndex: 1, appliedIndex: 1, lastLogIndex: 1, snapshotIndex: 0 };
    s.observed = { pods: [pod], leader: { pod, status: nodeStatus, view } };
  }
  return s;
}

const cond = (s: ConfluxClusterStatus, type: string) => s.conditions!.find((c) => c.type === type)!;

describe('computeStatus', () => {
  it('a learner that is not healthy yet is progress, an unhealthy voter is Degraded', () => {
    const learner = computeStatus(state([{ id: 'demo-0' }, { id: 'demo-1', role: 'learner', healthy: false }]), T0);
    expect(cond(learner, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    const voter = computeStatus(state([{ id: 'demo-0' }, { id: 'demo-1', healthy: false }, { id: 'demo-2' }]), T0);
    expect(cond(voter, 'Degraded')).toMatchObject({ status: 'True', reason: 'MembersUnhealthy', message: 'voters not healthy: demo-1' });
    expect(cond(voter, 'Available')).toMatchObject({ status: 'True' });
    expect(voter.phase).toBe('Degraded');
    const lost = computeStatus(state([{ id: 'demo-0' }, { id: 'demo-1', healthy: false }, { id: 'demo-2', healthy: false }]), T0);
    expect(cond(lost, 'Available')).toMatchObject({ status: 'False', reason: 'QuorumUnhealthy' });
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const first = computeStatus(state([{ id: 'demo-0' }]), T0);
    const second = computeStatus(state([{ id: 'demo-0' }, { id: 'demo-1', healthy: false }, { id: 'demo-2' }], first), T1);
    expect(cond(second, 'Available').lastTransitionTime).toBe(T0);
    expect(cond(second, 'Degraded').lastTransitionTime).toBe(T1);
  });

  it('keeps what it did not observe (an early failure) and sorts members by ordinal', () => {
    const first = computeStatus(state([{ id: 'demo-10' }, { id: 'demo-2' }, { id: 'zz' }, { id: 'aa' }, { id: 'demo-0' }]), T0);
    expect(first.members!.map((m) => m.name)).toEqual(['aa', 'zz', 'demo-0', 'demo-2', 'demo-10']);
    const s = state(null, first);
    s.error = new Error('list failed');
    const second = computeStatus(s, T1);
    expect(second).toMatchObject({ leader: 'demo-0', members: first.members, readyReplicas: 1 });
    expect(cond(second, 'Available')).toEqual(cond(first, 'Available'));
    expect(cond(second, 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileError', message: 'list failed' });
    expect(cond(second, 'Progressing')).toEqual(cond(first, 'Progressing'));
  });

  it('writes every field in the patch, null for the absent ones', () => {
    const s = computeStatus(state(null), T0);
    expect(statusPatch(s)).toMatchObject({ leader: null, members: null, clusterId: 'c1', phase: expect.any(String) });
  });
});
