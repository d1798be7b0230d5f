// The reconcile of one ConfluxCluster as a list of small named steps (style point 12). Each step
// is idempotent and reads what it needs from the API server or the pods; `state` only carries
// what this pass already read. A step returns `continue` (next step), `requeue` (stop here and
// come back later) or `done`. The status is written by reconcile.ts in a `finally`.
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { ConfluxCluster } from '../api/types.js';
import { AdminError, type AdminTarget } from '../conflux-admin.js';
import { isNotFound, type JsonPatchOp } from '../kube.js';
import { buildAuthSecret, secretValue } from '../specs/secret.js';
import { buildClientService, buildPeerService } from '../specs/services.js';
import { buildPodDisruptionBudget } from '../specs/pdb.js';
import { buildStatefulSet } from '../specs/statefulset.js';
import {
  generatedSecretName,
  isOwnedBy,
  memberURLs,
  metaName,
  metaNamespace,
  namesOf,
  ordinalOf,
  podHost,
  PORTS,
  REVISION_LABEL,
  SECRET_KEYS,
  selectorString,
  SPEC_HASH_ANNOTATION,
} from '../specs/names.js';
import { planMembership, type MembershipAction } from './membership.js';
import { ensureOwned } from './objects.js';
import { errorMessage } from './status.js';
import { recordEvent } from './events.js';
import { ensureBackup } from './backup.js';
import { detectQuorumLoss } from './quorum.js';
import { ensureRestore } from './restore.js';
import { restartIdleStalePods, rollOutPods } from './rollout.js';
import {
  CONTINUE,
  requeue,
  type LeaderInfo,
  type MembershipChangeKind,
  type Observed,
  type PodInfo,
  type ReconcileContext,
  type ReconcileState,
  type Step,
  type StepResult,
} from './types.js';

export { recordEvent };

// ---------------------------------------------------------------------------------------------
// Owned objects

export const ensureAuthSecret: Step = {
  name: 'ensureAuthSecret',
  async run(ctx, state) {
    const { cluster, spec } = state;
    const ns = metaNamespace(cluster);
    if (spec.auth.secretName !== undefined) {
      // A user's Secret: read it, never change it.
      const secret = await ctx.kube.get('Secret', ns, spec.auth.secretName);
      const keys = [SECRET_KEYS.admin, SECRET_KEYS.peer, ...(spec.auth.clientTokensKey !== undefined ? [spec.auth.clientTokensKey] : [])];
      const missing = secret === null ? [] : keys.filter((k) => !secretValue(secret, k));
      if (secret === null || missing.length > 0) {
        const what = secret === null ? `Secret ${spec.auth.secretName} not found` : `Secret ${spec.auth.secretName} lacks ${missing.join(', ')}`;
        state.issues.Degraded.push({ reason: 'AuthSecretInvalid', message: what });
        return requeue(ctx.options.slowMs, what);
      }
      state.token = secretValue(secret, SECRET_KEYS.admin);
      return CONTINUE;
    }
    const name = generatedSecretName(cluster);
    let secret = await ctx.kube.get('Secret', ns, name);
    if (secret === null) {
      const ensured = await ensureOwned(ctx, state, 'Secret', buildAuthSecret(cluster, { admin: ctx.randomToken(), peer: ctx.randomToken() }));
      if (ensured.kind === 'stop') return ensured.result;
      secret = ensured.object;
      await recordEvent(ctx, cluster, 'Normal', 'AuthSecretCreated', `created Secret ${name} with new admin and peer tokens`);
    } else if (!isOwnedBy(secret, cluster)) {
      state.issues.Degraded.push({ reason: 'ObjectConflict', message: `Secret ${name} exists and is not owned by this ConfluxCluster` });
      return requeue(ctx.options.slowMs, `Secret ${name} is not ours`);
    } else {
      // Pods cannot start without both keys: add a missing one; never replace a present one.
      const missing = [SECRET_KEYS.admin, SECRET_KEYS.peer].filter((k) => !secretValue(secret!, k));
      if (missing.length > 0) {
        const data = Object.fromEntries(missing.map((k) => [k, Buffer.from(ctx.randomToken()).toString('base64')]));
        secret = await ctx.kube.patch('Secret', ns, name, { type: 'merge', body: { data } });
        await recordEvent(ctx, cluster, 'Warning', 'AuthSecretRepaired', `Secret ${name} lacked ${missing.join(', ')}: generated`);
      }
    }
    state.token = secretValue(secret, SECRET_KEYS.admin);
    return CONTINUE;
  },
};

export const ensureHeadlessService: Step = {
  name: 'ensureHeadlessService',
  async run(ctx, state) {
    const r = await ensureOwned(ctx, state, 'Service', buildPeerService(state.cluster));
    return r.kind === 'stop' ? r.result : CONTINUE;
  },
};

export const ensureClientService: Step = {
  name: 'ensureClientService',
  async run(ctx, state) {
    const r = await ensureOwned(ctx, state, 'Service', buildClientService(state.cluster));
    return r.kind === 'stop' ? r.result : CONTINUE;
  },
};

// ---------------------------------------------------------------------------------------------
// Observation

export function podURL(ctx: ReconcileContext, cluster: ConfluxCluster, pod: V1Pod): string | null {
  if (pod.metadata?.deletionTimestamp) return null;
  if (pod.status?.phase !== 'Running') return null;
  if (ctx.options.podAddress === 'dns') return `http://${podHost(cluster, pod.metadata!.name!, ctx.options)}:${PORTS.client}`;
  const ip = pod.status?.podIP;
  if (!ip) return null;
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${PORTS.client}`;
}

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Lists the pods, asks each running one for /admin/status, then asks the leader for the
 * configuration. Never fails the pass: what did not answer is recorded as such.
 */
export const observeMembers: Step = {
  name: 'observeMembers',
  async run(ctx, state) {
    const { cluster } = state;
    const ns = metaNamespace(cluster);
    const [pods, sts] = await Promise.all([
      ctx.kube.list('Pod', ns, selectorString(cluster)),
      ctx.kube.get('StatefulSet', ns, namesOf(cluster).statefulSet),
    ]);
    state.statefulSet = sts;
    const infos: PodInfo[] = [];
    for (const pod of pods) {
      const name = pod.metadata?.name ?? '';
      const ordinal = ordinalOf(cluster, name);
      if (ordinal === null) continue;
      const info: PodInfo = {
        name,
        ordinal,
        pod,
        url: podURL(ctx, cluster, pod),
        ready: isReady(pod),
        terminating: Boolean(pod.metadata?.deletionTimestamp),
      };
      const revision = pod.metadata?.labels?.[REVISION_LABEL];
      if (revision !== undefined) info.revision = revision;
      infos.push(info);
    }
    infos.sort((a, b) => a.ordinal - b.ordinal);
    await Promise.all(
      infos.map(async (info) => {
        if (info.url === null) {
          info.error = info.terminating ? 'terminating' : `pod ${info.pod.status?.phase ?? 'Pending'} without an address`;
          return;
        }
        try {
          info.status = await ctx.admin.status(target(state, info.url));
        } catch (err) {
          info.error = errorMessage(err);
        }
      }),
    );
    state.observed = await findLeader(ctx, state, infos);
    return CONTINUE;
  },
};

function target(state: ReconcileState, url: string): AdminTarget {
  return state.token !== undefined ? { url, token: state.token } : { url };
}

async function findLeader(ctx: ReconcileContext, state: ReconcileState, pods: PodInfo[]): Promise<Observed> {
  const candidates = pods
    .filter((p) => p.status?.role === 'leader' && p.url !== null)
    .sort((a, b) => b.status!.term - a.status!.term);
  if (candidates.length === 0) {
    const named = pods.find((p) => p.status?.leaderId)?.status?.leaderId;
    const reason = pods.every((p) => p.status === undefined)
      ? 'no pod answers'
      : named
        ? `pods name ${named} as leader but it does not answer as one`
        : 'no pod knows a leader';
    return { pods, leader: null, noLeaderReason: reason };
  }
  const pod = candidates[0]!;
  try {
    const view = await ctx.admin.members(target(state, pod.url!));
    if (view.leaderId !== pod.status!.id) {
      return { pods, leader: null, noLeaderReason: `${pod.name} lost leadership to ${view.leaderId ?? 'nobody'} while observed` };
    }
    return { pods, leader: { pod, status: pod.status!, view } };
  } catch (err) {
    return { pods, leader: null, noLeaderReason: `leader ${pod.name} did not list members: ${errorMessage(err)}` };
  }
}

// ---------------------------------------------------------------------------------------------
// StatefulSet

const memberOrdinals = (cluster: ConfluxCluster, leader: LeaderInfo | null): number[] =>
  (leader?.view.members ?? []).map((m) => ordinalOf(cluster, m.id)).filter((o): o is number => o !== null);

/**
 * The replicas the StatefulSet may have now. It grows once every existing pod is a healthy voter
 * (the new pods are then added one at a time); it shrinks only past ordinals that are no longer members,
 * once the leader has committed their removal.
 */
export async function decideReplicas(ctx: ReconcileContext, state: ReconcileState): Promise<{ replicas: number; note?: { reason: string; message: string } }> {
  const want = state.spec.replicas;
  const current = state.statefulSet?.spec?.replicas ?? null;
  const leader = state.observed?.leader ?? null;
  if (current === null) {
    if (state.clusterId === undefined) return { replicas: want };
    const ords = memberOrdinals(state.cluster, leader);
    return { replicas: Math.max(want, ...ords.map((o) => o + 1)) };
  }
  // Before the bootstrap there is no membership to protect.
  if (state.clusterId === undefined) return { replicas: want };
  if (want > current) {
    if (leader === null) return { replicas: current, note: { reason: 'ScalingUp', message: `waiting for a leader before growing to ${want} pods` } };
    const members = new Map(leader.view.members.map((m) => [m.id, m]));
    const pods = new Map((state.observed?.pods ?? []).map((p) => [p.name, p]));
    const pending: string[] = [];
    for (let i = 0; i < current; i++) {
      const name = `${metaName(state.cluster)}-${i}`;
      const m = members.get(name);
      const incarnation = pods.get(name)?.status?.incarnation;
      if (m?.role !== 'voter' || !m.healthy || (incarnation !== undefined && m.incarnation !== '' && m.incarnation !== incarnation)) pending.push(name);
    }
    if (pending.length > 0) {
      return { replicas: current, note: { reason: 'ScalingUp', message: `growing to ${want} pods once ${pending.join(', ')} ${pending.length === 1 ? 'is a healthy voter' : 'are healthy voters'}` } };
    }
    return { replicas: want };
  }
  if (want < current) {
    if (leader === null) return { replicas: current, note: { reason: 'ScalingDown', message: `waiting for a leader before shrinking to ${want} pods` } };
    const target = Math.min(current, Math.max(want, ...memberOrdinals(state.cluster, leader).map((o) => o + 1)));
    if (target >= current) return { replicas: current, note: { reason: 'ScalingDown', message: `removing members before shrinking to ${want} pods` } };
    if (!(await removalCommitted(ctx, state, leader))) {
      return { replicas: current, note: { reason: 'ScalingDown', message: 'waiting for the leader to commit the removal' } };
    }
    return { replicas: target };
  }
  return { replicas: current };
}

/**
 * True once the leader has committed everything it had appended when the configuration was read
 * (same leader, same term): the configuration that no longer names the removed members is then
 * committed, and cannot be undone by a new leader. Pods are deleted only after that.
 */
async function removalCommitted(ctx: ReconcileContext, state: ReconcileState, leader: LeaderInfo): Promise<boolean> {
  const t = target(state, leader.pod.url!);
  const deadline = ctx.nowMs() + ctx.options.commitWaitMs;
  try {
    let s = await ctx.admin.status(t);
    const appended = s.lastLogIndex;
    for (;;) {
      if (s.role !== 'leader' || s.term !== leader.status.term) return false;
      if (s.commitIndex >= appended) return true;
      if (ctx.nowMs() >= deadline) return false;
      await ctx.sleep(50);
      s = await ctx.admin.status(t);
    }
  } catch (err) {
    ctx.logger.info('cannot confirm the removal is committed', { error: errorMessage(err) });
    return false;
  }
}

export const ensureStatefulSet: Step = {
  name: 'ensureStatefulSet',
  async run(ctx, state) {
    const { cluster } = state;
    const { replicas, note } = await decideReplicas(ctx, state);
    if (note !== undefined) state.issues.Progressing.push(note);
    const desired = buildStatefulSet(cluster, replicas, ctx.options);
    const existing = state.statefulSet ?? null;
    if (existing === null) {
      const r = await ensureOwned(ctx, state, 'StatefulSet', desired);
      if (r.kind === 'stop') return r.result;
      state.statefulSet = r.object;
      state.issues.Progressing.push({ reason: 'Creating', message: `created StatefulSet with ${replicas} pods` });
      await recordEvent(ctx, cluster, 'Normal', 'StatefulSetCreated', `created StatefulSet ${desired.metadata!.name} with ${replicas} replicas`);
      return requeue(ctx.options.afterChangeMs, 'StatefulSet created');
    }
    if (!isOwnedBy(existing, cluster)) {
      state.issues.Degraded.push({ reason: 'ObjectConflict', message: `StatefulSet ${desired.metadata!.name} exists and is not owned by this ConfluxCluster` });
      return requeue(ctx.options.slowMs, 'StatefulSet is not ours');
    }
    // Whole-value replacement of what the operator manages: a removed override must go away too.
    const ops: JsonPatchOp[] = [];
    const hash = desired.metadata!.annotations![SPEC_HASH_ANNOTATION];
    if (existing.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== hash) {
      ops.push(
        { op: 'add', path: '/metadata/labels', value: { ...existing.metadata?.labels, ...desired.metadata!.labels } },
        { op: 'add', path: '/metadata/annotations', value: { ...existing.metadata?.annotations, [SPEC_HASH_ANNOTATION]: hash } },
        { op: 'replace', path: '/spec/template', value: desired.spec!.template },
        { op: 'add', path: '/spec/updateStrategy', value: desired.spec!.updateStrategy },
        { op: 'add', path: '/spec/persistentVolumeClaimRetentionPolicy', value: desired.spec!.persistentVolumeClaimRetentionPolicy },
      );
    }
    const current = existing.spec?.replicas ?? 0;
    if (current !== replicas) ops.push({ op: 'add', path: '/spec/replicas', value: replicas });
    if (ops.length === 0) return CONTINUE;
    state.statefulSet = await ctx.kube.patch('StatefulSet', metaNamespace(cluster), desired.metadata!.name!, { type: 'json', ops });
    if (current !== replicas) {
      const grow = replicas > current;
      state.issues.Progressing.push({ reason: grow ? 'ScalingUp' : 'ScalingDown', message: `StatefulSet ${current} -> ${replicas} pods` });
      await recordEvent(ctx, cluster, 'Normal', grow ? 'StatefulSetGrown' : 'StatefulSetShrunk', `StatefulSet ${current} -> ${replicas} replicas`);
      ctx.logger.info('statefulset scaled', { from: current, to: replicas });
      await ctx.afterChange?.('statefulset-scaled', cluster);
      return requeue(ctx.options.afterChangeMs, `StatefulSet scaled to ${replicas}`);
    }
    return CONTINUE;
  },
};

export const ensurePodDisruptionBudget: Step = {
  name: 'ensurePodDisruptionBudget',
  async run(ctx, state) {
    const leader = state.observed?.leader ?? null;
    const existing = await ctx.kube.get('PodDisruptionBudget', metaNamespace(state.cluster), namesOf(state.cluster).podDisruptionBudget);
    // Without a leader the voter count is a guess: leave an existing budget alone.
    if (leader === null && existing !== null) return CONTINUE;
    const voters = leader === null ? 1 : leader.view.members.filter((m) => m.role === 'voter').length;
    const r = await ensureOwned(ctx, state, 'PodDisruptionBudget', buildPodDisruptionBudget(state.cluster, Math.min(voters, state.spec.replicas)));
    return r.kind === 'stop' ? r.result : CONTINUE;
  },
};

// ---------------------------------------------------------------------------------------------
// Membership

const CHANGE_REASONS: Record<string, string> = {
  bootstrap: 'Bootstrapped',
  'add-learner': 'MemberAdded',
  promote: 'MemberPromoted',
  remove: 'MemberRemoved',
  'leader-transfer': 'LeaderTransferred',
};

function describe(action: MembershipAction): string {
  switch (action.kind) {
    case 'bootstrap':
      return `bootstrapped a new cluster on ${action.pod.name}`;
    case 'add-learner':
      return `added ${action.member.id} as a learner (incarnation ${action.member.incarnation})`;
    case 'promote':
      return `promoted learner ${action.id} to voter`;
    case 'remove':
      return `removed member ${action.id} (${action.why === 'new-incarnation' ? 'its pod has a new data directory' : action.why === 'not-a-pod' ? 'not one of the pods' : 'scale-down'})`;
    case 'leader-transfer':
      return `moved leadership from ${action.from} to ${action.to} before removing ${action.from}`;
    default:
      return action.kind;
  }
}

function progressReason(action: MembershipAction): string {
  switch (action.kind) {
    case 'bootstrap':
      return 'Creating';
    case 'add-learner':
      return 'ScalingUp';
    case 'promote':
      return 'PromotingLearner';
    case 'remove':
      return action.why === 'new-incarnation' ? 'ReplacingMember' : 'ScalingDown';
    default:
      return 'ScalingDown';
  }
}

/** One membership change per pass, through the leader (or pod 0 for the bootstrap). */
export const reconcileMembership: Step = {
  name: 'reconcileMembership',
  async run(ctx, state) {
    const { cluster } = state;
    const observed = state.observed;
    if (observed === undefined) return requeue(ctx.options.waitMs, 'nothing observed');
    const plan = planMembership({
      cluster,
      specReplicas: state.spec.replicas,
      statefulSetReplicas: state.statefulSet?.spec?.replicas ?? 0,
      clusterId: state.clusterId,
      restoring: state.spec.restore !== undefined,
      observed,
      urlsOf: (pod) => memberURLs(cluster, pod, ctx.options),
    });
    state.issues.Degraded.push(...plan.degraded);
    const action = plan.action;
    switch (action.kind) {
      case 'none':
        return CONTINUE;
      case 'wait':
        state.issues.Progressing.push({ reason: action.reason, message: action.message });
        return requeue(ctx.options.waitMs, action.message);
      case 'degraded':
        state.issues.Degraded.push({ reason: action.reason, message: action.message });
        return requeue(ctx.options.waitMs, action.message);
      case 'adopt':
        state.clusterId = action.clusterId;
        if (state.restore?.copiedTime !== undefined && state.restore.restoredTime === undefined) {
          state.restore = { ...state.restore, restoredTime: new Date(ctx.nowMs()).toISOString() };
          await recordEvent(ctx, cluster, 'Normal', 'Restored', `pod ${metaName(cluster)}-0 started from ${state.restore.file}: new cluster ${action.clusterId}; the other pods join it`);
        } else {
          await recordEvent(ctx, cluster, 'Normal', 'ClusterAdopted', `the pods' data belongs to cluster ${action.clusterId}; recorded it`);
        }
        return requeue(ctx.options.afterChangeMs, 'adopted cluster id');
    }
    const kind: MembershipChangeKind = action.kind;
    const message = describe(action);
    state.issues.Progressing.push({ reason: progressReason(action), message });
    try {
      if (action.kind === 'bootstrap') {
        const r = await ctx.admin.bootstrap(target(state, action.pod.url!));
        state.clusterId = r.clusterId;
      } else {
        const t = target(state, observed.leader!.pod.url!);
        if (action.kind === 'add-learner') await ctx.admin.addLearner(t, action.member);
        else if (action.kind === 'promote') await ctx.admin.promote(t, action.id);
        else if (action.kind === 'remove') await ctx.admin.remove(t, action.id);
        else await ctx.admin.transferLeader(t, action.to);
      }
    } catch (err) {
      ctx.metrics?.membershipChange(kind, 'error');
      state.issues.Progressing.pop();
      return membershipFailed(ctx, state, action, err);
    }
    ctx.metrics?.membershipChange(kind, 'ok');
    ctx.logger.info('membership changed', { change: kind, message });
    const withId = action.kind === 'bootstrap' ? `${message} (cluster ${state.clusterId})` : message;
    await recordEvent(ctx, cluster, 'Normal', CHANGE_REASONS[kind]!, withId);
    await ctx.afterChange?.(kind, cluster);
    return requeue(ctx.options.afterChangeMs, message);
  },
};

async function membershipFailed(ctx: ReconcileContext, state: ReconcileState, action: MembershipAction, err: unknown): Promise<StepResult> {
  const what = `${action.kind}${'id' in action ? ` ${action.id}` : action.kind === 'add-learner' ? ` ${action.member.id}` : action.kind === 'bootstrap' ? ` on ${action.pod.name}` : action.kind === 'leader-transfer' ? ` to ${action.to}` : ''}`;
  if (err instanceof AdminError && err.code === 'not_caught_up') {
    const lag = typeof err.details.lag === 'number' ? ` (${err.details.lag} entries behind)` : '';
    state.issues.Progressing.push({ reason: 'PromotingLearner', message: `waiting for the learner to catch up${lag}` });
    return requeue(ctx.options.afterChangeMs * 2, 'learner not caught up');
  }
  if (err instanceof AdminError && err.code === 'change_in_progress') {
    state.issues.Progressing.push({ reason: progressReason(action), message: 'another membership change is in flight' });
    return requeue(ctx.options.afterChangeMs, 'change in progress');
  }
  if (err instanceof AdminError && err.transient) {
    // No answer, no leader right now, or an outcome the leader could not confirm (504): the next
    // pass observes what happened and decides again; nothing to warn a human about yet.
    ctx.logger.info('membership change not confirmed; will look again', { change: action.kind, error: errorMessage(err) });
    state.issues.Progressing.push({ reason: progressReason(action), message: `${what}: ${err.code}, retrying` });
    return requeue(ctx.options.afterChangeMs * 2, `${what}: ${err.code}`);
  }
  const message = `${what} failed: ${errorMessage(err)}`;
  ctx.logger.warn('membership change failed', { change: action.kind, error: errorMessage(err) });
  await recordEvent(ctx, state.cluster, 'Warning', 'MembershipChangeFailed', message);
  state.issues.Degraded.push({ reason: 'ReconcileError', message });
  return requeue(ctx.options.waitMs, message);
}

/** The steps, in order. */
export const STEPS: readonly Step[] = [
  ensureAuthSecret,
  ensureHeadlessService,
  ensureClientService,
  ensureBackup,
  ensureRestore,
  observeMembers,
  detectQuorumLoss,
  ensureStatefulSet,
  ensurePodDisruptionBudget,
  restartIdleStalePods,
  reconcileMembership,
  rollOutPods,
];
