// Rolling updates. The StatefulSet uses OnDelete, so a pod runs a new template only when the
// operator deletes it, one pod at a time, in the order that keeps the cluster writable:
//
//   1. stale pods that take no part in the quorum (not running, not a member, a learner, a voter
//      the leader does not hear from): restarting them costs nothing, and it is the only way a pod
//      stuck on a broken template (unschedulable, crash-looping) gets the fixed one. This runs
//      before the membership step, which may wait on such a pod forever;
//   2. once every pod is ready and every member a healthy voter (the last restarted pod rejoined
//      and caught up): followers, highest ordinal first;
//   3. the leader last, after moving leadership to an updated, healthy voter.
//
// Nothing is restarted without a leader once the cluster exists (QuorumLost or NoLeader: no
// destructive action); before the bootstrap only pods without data are.
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { AdminTarget } from '../conflux-admin.js';
import { isNotFound } from '../kube.js';
import { metaNamespace } from '../specs/names.js';
import { recordEvent } from './events.js';
import { errorMessage } from './status.js';
import { CONTINUE, requeue, type Observed, type PodInfo, type ReconcileContext, type ReconcileState, type Step, type StepResult } from './types.js';

function staleOf(state: ReconcileState): { revision: string; observed: Observed; stale: PodInfo[] } | null {
  const sts: V1StatefulSet | null | undefined = state.statefulSet;
  const observed = state.observed;
  const revision = sts?.status?.updateRevision;
  if (!revision || observed === undefined) return null;
  const stale = observed.pods.filter((p) => p.revision !== undefined && p.revision !== revision && !p.terminating);
  return stale.length === 0 ? null : { revision, observed, stale };
}

/** Why a stale pod takes no part in the quorum, or null when it does (or that cannot be told). */
export function idleReason(state: ReconcileState, observed: Observed, pod: PodInfo): string | null {
  const running = pod.pod.status?.phase === 'Running';
  const leader = observed.leader;
  if (leader === null) {
    if (state.clusterId !== undefined) return null;
    // Before the bootstrap: a pod without a process, or one that says it holds no data.
    if (observed.pods.some((p) => p.status !== undefined && p.status.clusterId !== '')) return null;
    if (!running) return `${pod.pod.status?.phase ?? 'Pending'}`;
    return pod.status?.role === 'joining' && pod.status.clusterId === '' ? 'waiting to join' : null;
  }
  if (!running) return pod.pod.status?.phase ?? 'Pending';
  const member = leader.view.members.find((m) => m.id === pod.name);
  if (member === undefined) return 'not a member';
  if (member.role === 'learner') return 'a learner';
  // Both the leader's view and the pod's readiness: right after an election a new leader may not
  // have heard from a follower yet, and restarting a serving voter then could cost the quorum.
  if (!member.healthy && !pod.ready) return 'a voter the leader does not hear from';
  return null;
}

const RANK = (why: string) => (why === 'a voter the leader does not hear from' ? 2 : why === 'not a member' || why === 'a learner' || why === 'waiting to join' ? 1 : 0);

export const restartIdleStalePods: Step = {
  name: 'restartIdleStalePods',
  async run(ctx, state) {
    const s = staleOf(state);
    if (s === null) return CONTINUE;
    const idle = s.stale
      .map((pod) => ({ pod, why: idleReason(state, s.observed, pod) }))
      .filter((x): x is { pod: PodInfo; why: string } => x.why !== null)
      .sort((a, b) => RANK(a.why) - RANK(b.why) || b.pod.ordinal - a.pod.ordinal);
    const first = idle[0];
    if (first === undefined) {
      // The membership step stops the pass without a leader: say here why nothing rolls.
      if (s.observed.leader === null && state.clusterId !== undefined) {
        state.issues.Progressing.push({ reason: 'RollingUpdate', message: `${s.stale.length} pods wait for the new template until a leader answers` });
      }
      return CONTINUE;
    }
    return restartPod(ctx, state, first.pod, s.revision, first.why);
  },
};

export const rollOutPods: Step = {
  name: 'rollOutPods',
  async run(ctx, state) {
    const s = staleOf(state);
    if (s === null) return CONTINUE;
    const { observed, stale, revision } = s;
    const leader = observed.leader;
    const members = leader?.view.members ?? [];
    const settled =
      leader !== null &&
      observed.pods.every((p) => p.ready && !p.terminating) &&
      observed.pods.length === state.spec.replicas &&
      members.length === state.spec.replicas &&
      members.every((m) => m.role === 'voter' && m.healthy);
    if (!settled) {
      const why = leader === null ? 'a leader answers' : 'every pod is ready and every member a healthy voter';
      state.issues.Progressing.push({ reason: 'RollingUpdate', message: `${stale.length} pods wait for the new template until ${why}` });
      return requeue(ctx.options.waitMs, 'rollout waits for a settled cluster');
    }
    // Followers first, highest ordinal first; the leader last, after handing leadership over.
    const followers = stale.filter((p) => p.name !== leader.status.id).sort((a, b) => b.ordinal - a.ordinal);
    if (followers.length > 0) return restartPod(ctx, state, followers[0]!, revision, 'a follower');
    const updated = new Set(observed.pods.filter((p) => p.revision === revision).map((p) => p.name));
    const to = members
      .filter((m) => m.id !== leader.status.id && m.role === 'voter' && m.healthy && updated.has(m.id))
      .sort((a, b) => a.lag - b.lag)[0];
    if (to === undefined) {
      // A single voter: restarting it is an outage either way.
      return restartPod(ctx, state, stale[0]!, revision, 'the only voter');
    }
    state.issues.Progressing.push({ reason: 'RollingUpdate', message: `moving leadership to ${to.id} before restarting ${leader.status.id}` });
    const t: AdminTarget = state.token !== undefined ? { url: leader.pod.url!, token: state.token } : { url: leader.pod.url! };
    try {
      await ctx.admin.transferLeader(t, to.id);
      ctx.metrics?.membershipChange('leader-transfer', 'ok');
    } catch (err) {
      ctx.metrics?.membershipChange('leader-transfer', 'error');
      return requeue(ctx.options.waitMs, `leader transfer failed: ${errorMessage(err)}`);
    }
    await recordEvent(ctx, state.cluster, 'Normal', 'LeaderTransferred', `moved leadership from ${leader.status.id} to ${to.id} before restarting it`);
    return requeue(ctx.options.afterChangeMs, 'leadership moved for the rollout');
  },
};

async function restartPod(ctx: ReconcileContext, state: ReconcileState, pod: PodInfo, revision: string, why: string): Promise<StepResult> {
  state.issues.Progressing.push({ reason: 'RollingUpdate', message: `restarting ${pod.name} (${why}) with revision ${revision}` });
  try {
    const uid = pod.pod.metadata?.uid;
    await ctx.kube.delete('Pod', metaNamespace(state.cluster), pod.name, uid !== undefined ? { uid } : undefined);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await recordEvent(ctx, state.cluster, 'Normal', 'PodRestarted', `deleted ${pod.name} (${why}) so that it restarts with revision ${revision}`);
  return requeue(ctx.options.waitMs, `restarted ${pod.name}`);
}
