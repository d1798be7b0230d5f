// Deciding the next membership change, as a pure function of what one pass observed (design
// section 5; style point 14). Level-based: the decision depends only on the pods, the leader's
// configuration and the spec, never on what the operator did before, so re-running it after a
// crash gives the same answer and never a second copy of a change already made. At most one
// change per pass; the order below is the priority:
//
//   1. a new cluster: bootstrap pod 0 (or adopt the cluster the pods' data belongs to);
//   2. no leader answers: change nothing (Degraded);
//   3. a member whose pod came back with a new data directory (incarnation differs): remove it;
//   4. members that should not be there (scale-down: highest ordinal first; learners before
//      voters): move leadership away from it first, keep a healthy majority;
//   5. a caught-up learner: promote it;
//   6. a running pod that is not a member: add it as a learner (one learner at a time).
import type { ConfluxCluster } from '../api/types.js';
import type { MemberView, NewMember } from '../conflux-admin.js';
import type { Issue, Observed, PodInfo } from './types.js';
import { ordinalOf } from '../specs/names.js';

export type MembershipAction =
  | { kind: 'none' }
  | { kind: 'adopt'; clusterId: string }
  | { kind: 'bootstrap'; pod: PodInfo }
  | { kind: 'add-learner'; pod: PodInfo; member: NewMember }
  | { kind: 'promote'; id: string }
  | { kind: 'remove'; id: string; why: 'scale-down' | 'new-incarnation' | 'not-a-pod' }
  | { kind: 'leader-transfer'; from: string; to: string }
  /** Nothing to do until something changes (pods starting, a learner catching up). */
  | { kind: 'wait'; reason: string; message: string }
  /** Something is wrong; nothing may change until it is not. */
  | { kind: 'degraded'; reason: string; message: string };

export interface MembershipPlan {
  action: MembershipAction;
  /** Problems worth reporting even when an action is taken (a pod with foreign data). */
  degraded: Issue[];
}

export interface PlanInput {
  cluster: ConfluxCluster;
  specReplicas: number;
  /** Replicas of the StatefulSet now (0 when it does not exist). */
  statefulSetReplicas: number;
  /** Recorded in status (or learned this pass); undefined for a new cluster. */
  clusterId: string | undefined;
  /** spec.restore: pod 0 starts from a backup; an empty cluster is never bootstrapped instead. */
  restoring?: boolean;
  observed: Observed;
  /** The URLs a pod advertises (names.ts memberURLs). */
  urlsOf(pod: string): { peerURL: string; clientURL: string };
}

export const majority = (voters: number): number => Math.floor(voters / 2) + 1;

export function planMembership(input: PlanInput): MembershipPlan {
  const degraded: Issue[] = [];
  const plan = (action: MembershipAction): MembershipPlan => ({ action, degraded });
  const { cluster, observed, clusterId } = input;
  const answered = observed.pods.filter((p) => p.status !== undefined && !p.terminating);
  const ordinal = (id: string): number | null => ordinalOf(cluster, id);
  const wanted = (id: string): boolean => {
    const o = ordinal(id);
    return o !== null && o < input.specReplicas;
  };

  // 1. A cluster the operator has not recorded yet.
  if (clusterId === undefined) {
    const reported = [...new Set(answered.map((p) => p.status!.clusterId).filter((id) => id !== ''))];
    if (reported.length > 1) {
      return plan({ kind: 'degraded', reason: 'ConflictingClusterIds', message: `pods hold data of clusters ${reported.join(', ')}` });
    }
    if (reported.length === 1) {
      const leader = observed.leader;
      if (leader !== null && leader.status.clusterId === reported[0]) return plan({ kind: 'adopt', clusterId: reported[0]! });
      return plan({ kind: 'degraded', reason: 'NoLeader', message: `pods hold data of cluster ${reported[0]} but no leader answers` });
    }
    const pod0 = observed.pods.find((p) => p.ordinal === 0);
    if (input.restoring === true) {
      const how = pod0?.status === undefined ? `to answer${pod0?.error ? ` (${pod0.error})` : ''}` : `(it answers as ${pod0.status.role} without data: did it start from the file? see its log)`;
      return plan({ kind: 'wait', reason: 'Restoring', message: `waiting for pod ${input.cluster.metadata.name}-0 to start from the backup ${how}` });
    }
    if (pod0 === undefined || pod0.status === undefined || pod0.terminating) {
      return plan({ kind: 'wait', reason: 'Creating', message: `waiting for pod ${input.cluster.metadata.name}-0 to answer${pod0?.error ? ` (${pod0.error})` : ''}` });
    }
    // Never bootstrap while a running pod is silent: it may hold an existing cluster's data.
    const silent = observed.pods.filter((p) => p.url !== null && p.status === undefined);
    if (silent.length > 0) {
      return plan({ kind: 'wait', reason: 'WaitingForPods', message: `waiting for ${silent.map((p) => p.name).join(', ')} to answer before bootstrapping` });
    }
    if (pod0.status.role !== 'joining') {
      return plan({ kind: 'wait', reason: 'Creating', message: `pod ${pod0.name} is ${pod0.status.role}, not waiting to join` });
    }
    return plan({ kind: 'bootstrap', pod: pod0 });
  }

  const foreign = new Set<string>();
  for (const p of answered) {
    if (p.status!.clusterId !== '' && p.status!.clusterId !== clusterId) {
      foreign.add(p.name);
      degraded.push({ reason: 'ForeignData', message: `pod ${p.name} holds data of cluster ${p.status!.clusterId}, not ${clusterId}; delete its PVC to replace it` });
    }
  }

  // 2. Never act on a guess.
  const leader = observed.leader;
  if (leader === null) {
    return plan({ kind: 'degraded', reason: 'NoLeader', message: `no leader answers${observed.noLeaderReason ? ` (${observed.noLeaderReason})` : ''}; membership is left alone` });
  }
  if (leader.status.clusterId !== clusterId) {
    return plan({ kind: 'degraded', reason: 'ForeignData', message: `the leader ${leader.status.id} belongs to cluster ${leader.status.clusterId}, not ${clusterId}` });
  }
  const leaderId = leader.status.id;
  const members = leader.view.members;
  const memberIds = new Set(members.map((m) => m.id));
  const pods = new Map(observed.pods.map((p) => [p.name, p]));
  const voters = members.filter((m) => m.role === 'voter');
  const healthyVoters = voters.filter((m) => m.healthy);
  const byOrdinal = (a: MemberView, b: MemberView) => (ordinal(a.id) ?? -1) - (ordinal(b.id) ?? -1);

  // 3. A pod answering with another incarnation than its member: its data directory is new.
  for (const m of [...members].sort(byOrdinal)) {
    const p = pods.get(m.id);
    if (p?.status === undefined || p.terminating || foreign.has(p.name) || m.incarnation === '' || m.id === leaderId) continue;
    if (p.status.incarnation !== m.incarnation) return plan({ kind: 'remove', id: m.id, why: 'new-incarnation' });
  }

  // 4. Members that should not be there: learners first, then ids that are not our pods, then the
  // highest ordinal.
  const rank = (m: MemberView) => [m.role === 'learner' ? 0 : 1, ordinal(m.id) === null ? 0 : 1, -(ordinal(m.id) ?? 0)] as const;
  const unwanted = members
    .filter((m) => !wanted(m.id))
    .sort((a, b) => {
      const [x, y] = [rank(a), rank(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
  if (unwanted.length > 0) {
    const m = unwanted[0]!;
    const why = ordinal(m.id) === null ? 'not-a-pod' : 'scale-down';
    if (m.id === leaderId) {
      const target = voters
        .filter((v) => v.id !== m.id && v.healthy && wanted(v.id))
        .sort((a, b) => a.lag - b.lag || byOrdinal(a, b))[0];
      if (target === undefined) {
        return plan({ kind: 'wait', reason: 'ScalingDown', message: `no healthy voter to take leadership from ${m.id}` });
      }
      return plan({ kind: 'leader-transfer', from: m.id, to: target.id });
    }
    if (m.role === 'voter' && m.healthy && healthyVoters.length - 1 < majority(voters.length - 1)) {
      // Removing a healthy voter would leave too few healthy ones; an unhealthy one may go.
      const sick = unwanted.find((u) => u.role === 'voter' && !u.healthy && u.id !== leaderId);
      if (sick !== undefined) return plan({ kind: 'remove', id: sick.id, why: ordinal(sick.id) === null ? 'not-a-pod' : 'scale-down' });
      return plan({
        kind: 'degraded',
        reason: 'WouldLoseQuorum',
        message: `removing ${m.id} would leave ${healthyVoters.length - 1} healthy of ${voters.length - 1} voters`,
      });
    }
    return plan({ kind: 'remove', id: m.id, why });
  }

  // 5. Promote a learner that caught up (the leader refuses with not_caught_up otherwise).
  const learners = members.filter((m) => m.role === 'learner').sort(byOrdinal);
  for (const l of learners) {
    const p = pods.get(l.id);
    if (p?.status === undefined || p.terminating) continue;
    if (l.incarnation !== '' && p.status.incarnation !== l.incarnation) continue;
    if (l.healthy) return plan({ kind: 'promote', id: l.id });
  }
  const answeringLearners = learners.filter((l) => pods.get(l.id)?.status !== undefined);
  if (answeringLearners.length > 0) {
    return plan({ kind: 'wait', reason: 'PromotingLearner', message: `learner ${answeringLearners[0]!.id} is catching up` });
  }

  // 6. Add a running pod that waits to join.
  const limit = Math.min(input.specReplicas, input.statefulSetReplicas);
  // A pod with this cluster's data that is not a member: a removed member whose volume was kept
  // (retention Retain). Volumes are never reused for a new member (the simulator's rule too): a
  // human deletes the PVC, and the pod comes back empty and is added.
  for (const p of observed.pods) {
    if (p.ordinal < limit && !p.terminating && !memberIds.has(p.name) && p.status?.clusterId === clusterId && p.status.incarnation !== '') {
      degraded.push({ reason: 'StaleData', message: `pod ${p.name} holds data of a removed member of this cluster; delete its PVC and the pod to add it as a new member` });
    }
  }
  const joining = observed.pods
    .filter((p) => p.ordinal < limit && !p.terminating && !memberIds.has(p.name) && !foreign.has(p.name))
    .filter((p) => p.status?.role === 'joining' && p.status.clusterId === '');
  const next = joining[0];
  if (next !== undefined) {
    return plan({ kind: 'add-learner', pod: next, member: { id: next.name, ...input.urlsOf(next.name), incarnation: next.status!.incarnation } });
  }

  const missing: string[] = [];
  for (let i = 0; i < input.specReplicas; i++) {
    const id = `${cluster.metadata.name}-${i}`;
    if (!voters.some((v) => v.id === id)) missing.push(id);
  }
  if (missing.length > 0) {
    return plan({ kind: 'wait', reason: 'ScalingUp', message: `waiting for ${missing.join(', ')} to run and answer` });
  }
  return plan({ kind: 'none' });
}
