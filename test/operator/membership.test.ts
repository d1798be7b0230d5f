// planMembership on hand-made observations: the corners the simulated world does not reach easily.
import { describe, expect, it } from 'vitest';
import type { MemberView, NodeStatus } from '../../operator/src/conflux-admin.js';
import { majority, planMembership, type PlanInput } from '../../operator/src/reconcile/membership.js';
import type { Observed, PodInfo } from '../../operator/src/reconcile/types.js';
import { makeCluster } from './fixtures.js';

const cluster = makeCluster();

function pod(ordinal: number, status?: Partial<NodeStatus>): PodInfo {
  const name = `demo-${ordinal}`;
  const info: PodInfo = { name, ordinal, pod: { metadata: { name } }, url: `http://10.0.0.${ordinal + 1}:7070`, ready: true, terminating: false };
  if (status !== undefined) {
    info.status = { id: name, incarnation: `inc-${ordinal}`, clusterId: 'c1', role: 'follower', term: 2, leaderId: 'demo-0', commitIndex: 9, appliedIndex: 9, lastLogIndex: 9, snapshotIndex: 0, ...status };
  }
  return info;
}

const member = (id: string, extra: Partial<MemberView> = {}): MemberView => ({
  id,
  incarnation: `inc-${id.split('-')[1]}`,
  peerURL: 'p',
  clientURL: 'c',
  role: 'voter',
  matchIndex: 9,
  lag: 0,
  healthy: true,
  ...extra,
});

function input(observed: Observed, extra: Partial<PlanInput> = {}): PlanInput {
  return { cluster, specReplicas: 3, statefulSetReplicas: 3, clusterId: 'c1', observed, urlsOf: (p) => ({ peerURL: `http://${p}:7071`, clientURL: `http://${p}:7070` }), ...extra };
}

function withLeader(pods: PodInfo[], members: MemberView[], leader = 0): Observed {
  const p = pods.find((x) => x.ordinal === leader)!;
  p.status = { ...p.status!, role: 'leader' };
  return { pods, leader: { pod: p, status: p.status, view: { leaderId: p.name, members } } };
}

describe('planMembership', () => {
  it('majority', () => {
    expect([1, 2, 3, 4, 5].map(majority)).toEqual([1, 2, 2, 3, 3]);
  });

  it('refuses to pick between pods of different clusters', () => {
    const obs: Observed = { pods: [pod(0, { clusterId: 'a' }), pod(1, { clusterId: 'b' })], leader: null };
    expect(planMembership(input(obs, { clusterId: undefined })).action).toMatchObject({ kind: 'degraded', reason: 'ConflictingClusterIds' });
  });

  it('bootstraps only a joining pod 0', () => {
    const fresh = (o: number, role: NodeStatus['role'] = 'joining') => pod(o, { clusterId: '', role, leaderId: null, term: 0 });
    expect(planMembership(input({ pods: [fresh(0), fresh(1)], leader: null }, { clusterId: undefined })).action).toMatchObject({ kind: 'bootstrap', pod: { name: 'demo-0' } });
    expect(planMembership(input({ pods: [fresh(0, 'candidate')], leader: null }, { clusterId: undefined })).action).toMatchObject({ kind: 'wait', reason: 'Creating' });
    expect(planMembership(input({ pods: [fresh(1)], leader: null }, { clusterId: undefined })).action).toMatchObject({ kind: 'wait', reason: 'Creating' });
    const terminating = { ...fresh(0), terminating: true };
    expect(planMembership(input({ pods: [terminating], leader: null }, { clusterId: undefined })).action.kind).toBe('wait');
  });

  it('does not follow a leader of another cluster', () => {
    const pods = [pod(0, { clusterId: 'zz' })];
    expect(planMembership(input(withLeader(pods, [member('demo-0')]))).action).toMatchObject({ kind: 'degraded', reason: 'ForeignData' });
  });

  it('removes learners before voters, strangers before pods, highest ordinal first', () => {
    const pods = [0, 1, 2, 3, 4].map((o) => pod(o, {}));
    const members = [member('demo-0'), member('demo-1'), member('demo-2'), member('demo-3'), member('demo-4', { role: 'learner' }), member('x')];
    const plan = (ms: MemberView[]) => planMembership(input(withLeader(pods, ms))).action;
    expect(plan(members)).toEqual({ kind: 'remove', id: 'demo-4', why: 'scale-down' });
    expect(plan(members.filter((m) => m.id !== 'demo-4'))).toEqual({ kind: 'remove', id: 'x', why: 'not-a-pod' });
    expect(plan(members.filter((m) => m.id !== 'demo-4' && m.id !== 'x'))).toEqual({ kind: 'remove', id: 'demo-3', why: 'scale-down' });
  });

  it('moves leadership to the most caught-up wanted voter, or waits when there is none', () => {
    const pods = [0, 1, 2, 3].map((o) => pod(o, {}));
    const members = [member('demo-0', { lag: 5 }), member('demo-1', { lag: 1 }), member('demo-2', { healthy: false }), member('demo-3')];
    expect(planMembership(input(withLeader(pods, members, 3))).action).toEqual({ kind: 'leader-transfer', from: 'demo-3', to: 'demo-1' });
    const alone = [member('demo-0', { healthy: false }), member('demo-3')];
    expect(planMembership(input(withLeader(pods, alone, 3), { specReplicas: 1 })).action).toMatchObject({ kind: 'wait', reason: 'ScalingDown' });
  });

  it('removes an unhealthy unwanted voter when removing a healthy one would cost the majority', () => {
    const pods = [0, 1, 2, 3, 4].map((o) => pod(o, {}));
    const members = [member('demo-0'), member('demo-1', { healthy: false }), member('demo-2', { healthy: false }), member('demo-3', { healthy: false }), member('demo-4')];
    expect(planMembership(input(withLeader(pods, members))).action).toEqual({ kind: 'remove', id: 'demo-3', why: 'scale-down' });
  });

  it('does not let a silent learner block adding the next pod, but waits for an answering one', () => {
    const pods = [pod(0, {}), pod(1), pod(2, { clusterId: '', role: 'joining' })];
    const members = [member('demo-0'), member('demo-1', { role: 'learner', healthy: false })];
    expect(planMembership(input(withLeader(pods, members))).action).toMatchObject({ kind: 'add-learner', member: { id: 'demo-2', incarnation: 'inc-2', peerURL: 'http://demo-2:7071' } });
    pods[1] = pod(1, { role: 'learner' });
    expect(planMembership(input(withLeader(pods, members))).action).toMatchObject({ kind: 'wait', reason: 'PromotingLearner' });
  });

  it('adds only pods the StatefulSet and the spec both want', () => {
    const pods = [pod(0, {}), pod(1, { clusterId: '', role: 'joining' })];
    const members = [member('demo-0')];
    expect(planMembership(input(withLeader(pods, members), { statefulSetReplicas: 1 })).action).toMatchObject({ kind: 'wait', reason: 'ScalingUp' });
    expect(planMembership(input(withLeader(pods, members), { specReplicas: 1 })).action).toEqual({ kind: 'none' });
  });
});
