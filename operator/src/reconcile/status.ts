// The status a pass writes: computed from what the pass observed and decided, never incremented
// (style point 13). Fields the pass did not observe keep their previous value. A condition's
// lastTransitionTime changes only when its status changes.
import {
  REASONS,
  type BackupStatus,
  type Condition,
  type ConditionStatus,
  type ConditionType,
  type ConfluxClusterStatus,
  type MemberStatus,
  type Phase,
} from '../api/types.js';
import { ordinalOf, selectorString } from '../specs/names.js';
import { majority } from './membership.js';
import type { ReconcileState } from './types.js';

const SCALING_REASONS = new Set(['ScalingUp', 'ScalingDown', 'PromotingLearner', 'ReplacingMember', 'WaitingForPods']);

export function computeStatus(state: ReconcileState, nowIso: string): ConfluxClusterStatus {
  const { cluster } = state;
  const previous = cluster.status ?? {};
  const generation = cluster.metadata.generation;
  const obs = state.observed;
  const leader = obs?.leader ?? null;
  const clusterId = state.clusterId;

  let members: MemberStatus[] | undefined = previous.members;
  if (leader !== null) {
    members = leader.view.members
      .map((m) => ({ name: m.id, role: m.role, healthy: m.healthy }))
      .sort((a, b) => (ordinalOf(cluster, a.name) ?? -1) - (ordinalOf(cluster, b.name) ?? -1) || (a.name < b.name ? -1 : 1));
  } else if (obs !== undefined && members !== undefined) {
    // Nobody vouches for their health without a leader.
    members = members.map((m) => ({ ...m, healthy: false }));
  }

  const voters = leader?.view.members.filter((m) => m.role === 'voter') ?? [];
  const healthyVoters = voters.filter((m) => m.healthy).length;

  const conditions = new Map<ConditionType, Omit<Condition, 'lastTransitionTime'>>();
  const set = (type: ConditionType, status: ConditionStatus, reason: string, message: string) =>
    conditions.set(type, { type, status, reason, message, ...(generation !== undefined ? { observedGeneration: generation } : {}) });

  // Available: a leader answers and a majority of the voters is healthy.
  if (clusterId === undefined) set('Available', 'False', 'NotBootstrapped', REASONS.Available.NotBootstrapped);
  else if (obs === undefined) {
    // Not observed this pass (an earlier step stopped it): keep what we knew.
  } else if (leader === null) set('Available', 'False', 'NoLeader', obs.noLeaderReason ? `no leader answers (${obs.noLeaderReason})` : REASONS.Available.NoLeader);
  else if (healthyVoters >= majority(voters.length)) {
    set('Available', 'True', 'QuorumHealthy', `leader ${leader.status.id}, ${healthyVoters} of ${voters.length} voters healthy`);
  } else set('Available', 'False', 'QuorumUnhealthy', `${healthyVoters} of ${voters.length} voters healthy`);

  // Degraded: problems found this pass, an error, or unhealthy members.
  const problems = [...state.issues.Degraded];
  if (state.error !== undefined) problems.push({ reason: 'ReconcileError', message: errorMessage(state.error) });
  // A learner that is not healthy yet is catching up (Progressing), not a problem.
  const unhealthy = voters.filter((m) => !m.healthy).map((m) => m.id);
  if (problems.length > 0) set('Degraded', 'True', problems[0]!.reason, problems.map((p) => p.message).join('; '));
  else if (obs !== undefined && clusterId !== undefined && leader === null) set('Degraded', 'True', 'NoLeader', REASONS.Degraded.NoLeader);
  else if (unhealthy.length > 0) set('Degraded', 'True', 'MembersUnhealthy', `voters not healthy: ${unhealthy.join(', ')}`);
  // A failed backup last: the cluster may serve fine, but someone must look at it.
  else if (state.backupFailure !== undefined) set('Degraded', 'True', state.backupFailure.reason, state.backupFailure.message);
  else if (obs !== undefined) set('Degraded', 'False', 'AsExpected', REASONS.Degraded.AsExpected);

  // Progressing: work found this pass; Stable once a whole pass found none.
  const work = state.issues.Progressing;
  if (work.length > 0) set('Progressing', 'True', work[0]!.reason, work.map((w) => w.message).join('; '));
  else if (obs !== undefined && state.error === undefined && state.issues.Degraded.length === 0) set('Progressing', 'False', 'Stable', REASONS.Progressing.Stable);

  const merged: Condition[] = [];
  for (const type of ['Available', 'Progressing', 'Degraded'] as const) {
    const before = previous.conditions?.find((c) => c.type === type);
    const now = conditions.get(type);
    if (now === undefined) {
      if (before !== undefined) merged.push(before);
      continue;
    }
    const lastTransitionTime = before !== undefined && before.status === now.status ? before.lastTransitionTime : nowIso;
    merged.push({ ...now, lastTransitionTime });
  }

  const status: ConfluxClusterStatus = {
    phase: phaseOf(clusterId, obs?.pods.length ?? 0, merged),
    ...(clusterId !== undefined ? { clusterId } : {}),
    ...(obs === undefined ? (previous.leader !== undefined ? { leader: previous.leader } : {}) : leader !== null ? { leader: leader.status.id } : {}),
    ...(members !== undefined ? { members } : {}),
    replicas: state.statefulSet?.status?.replicas ?? obs?.pods.length ?? previous.replicas ?? 0,
    readyReplicas: obs !== undefined ? obs.pods.filter((p) => p.ready).length : (previous.readyReplicas ?? 0),
    selector: selectorString(cluster),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: merged,
  };
  const backup = state.backup ?? previous.backup;
  if (backup !== undefined && Object.keys(backup).length > 0) status.backup = backup;
  const restore = state.restore ?? previous.restore;
  if (restore !== undefined) status.restore = restore;
  return status;
}

function phaseOf(clusterId: string | undefined, pods: number, conditions: Condition[]): Phase {
  const c = (type: ConditionType) => conditions.find((x) => x.type === type);
  if (clusterId === undefined) return pods === 0 ? 'Pending' : 'Bootstrapping';
  if (c('Available')?.status === 'False' || c('Degraded')?.status === 'True') return 'Degraded';
  const progressing = c('Progressing');
  if (progressing?.status === 'True') {
    if (progressing.reason === 'RollingUpdate') return 'Upgrading';
    if (SCALING_REASONS.has(progressing.reason)) return 'Scaling';
    if (progressing.reason === 'Creating') return 'Bootstrapping';
  }
  return 'Running';
}

const BACKUP_FIELDS_NULL: Record<keyof BackupStatus, null> = {
  lastSuccessfulTime: null,
  lastFile: null,
  lastJob: null,
  lastFailedTime: null,
  lastFailedJob: null,
  lastError: null,
};

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A merge patch of the status subresource that leaves exactly `after` (absent fields become null: deleted). */
export function statusPatch(after: ConfluxClusterStatus): Record<string, unknown> {
  const keys: (keyof ConfluxClusterStatus)[] = [
    'phase',
    'clusterId',
    'leader',
    'members',
    'replicas',
    'readyReplicas',
    'selector',
    'observedGeneration',
    'conditions',
    'backup',
    'restore',
  ];
  const patch: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, after[k] ?? null]));
  // A merge patch keeps nested fields it does not name: name the cleared ones (a failure that a
  // later success made stale) as null.
  if (after.backup !== undefined) patch.backup = { ...BACKUP_FIELDS_NULL, ...after.backup };
  return patch;
}
