// What reconcile steps share: the context (dependencies, passed in) and the state of one pass
// (what was read and decided; dropped at the end of the pass, so nothing here may be needed by
// the next one: a crash between two steps loses nothing).
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { BackupStatus, ConfluxCluster, ConditionType, ResolvedSpec, RestoreStatus } from '../api/types.js';
import type { AdminClient, MembersView, NodeStatus } from '../conflux-admin.js';
import type { Kube } from '../kube.js';
import type { Logger } from '../logger.js';

export type StepResult = { kind: 'continue' } | { kind: 'requeue'; afterMs: number; reason: string } | { kind: 'done' };

export interface Step {
  name: string;
  run(ctx: ReconcileContext, state: ReconcileState): Promise<StepResult>;
}

export const CONTINUE: StepResult = { kind: 'continue' };
export const requeue = (afterMs: number, reason: string): StepResult => ({ kind: 'requeue', afterMs, reason });

export type MembershipChangeKind = 'bootstrap' | 'add-learner' | 'promote' | 'remove' | 'leader-transfer';

/** Counters the reconcile reports; metrics.ts implements them with prom-client. */
export interface ReconcileMetrics {
  membershipChange(kind: MembershipChangeKind, result: 'ok' | 'error'): void;
  step(name: string, result: StepResult['kind'] | 'error', seconds: number): void;
}

export interface ReconcileOptions {
  /** Cluster DNS domain of pod names. */
  clusterDomain: string;
  /** How the operator reaches pods: their IP (default) or their DNS name under the peer Service. */
  podAddress: 'ip' | 'dns';
  /** Pods listen on their pod IP (shared network namespaces, e.g. the e2e process kubelet). */
  listenOnPodIP: boolean;
  /** After a membership change or a Kubernetes write the next pass should see. */
  afterChangeMs: number;
  /** Waiting for pods, a learner, a leader. */
  waitMs: number;
  /** Problems a human must fix (foreign objects, a missing Secret): checked again this often. */
  slowMs: number;
  /** How long to wait for the leader to commit what it appended (before the StatefulSet shrinks). */
  commitWaitMs: number;
  /**
   * No leader for this long while a majority of the voters answers: reported as QuorumLost too
   * (fewer than a majority answering is reported at once).
   */
  quorumLostAfterMs: number;
}

export const DEFAULT_RECONCILE_OPTIONS: ReconcileOptions = {
  clusterDomain: 'cluster.local',
  podAddress: 'ip',
  listenOnPodIP: false,
  afterChangeMs: 1000,
  waitMs: 5000,
  slowMs: 30_000,
  commitWaitMs: 3000,
  quorumLostAfterMs: 60_000,
};

export interface ReconcileContext {
  kube: Kube;
  admin: AdminClient;
  /** Wall clock (ms since the epoch), for condition and event times. */
  nowMs(): number;
  sleep(ms: number): Promise<void>;
  logger: Logger;
  metrics?: ReconcileMetrics;
  options: ReconcileOptions;
  randomToken(): string;
  /**
   * Called after each membership change (and StatefulSet scaling) succeeded; the e2e tests crash
   * the operator here to prove a crash between two steps is harmless.
   */
  afterChange?(what: MembershipChangeKind | 'statefulset-scaled', cluster: ConfluxCluster): void | Promise<void>;
}

export interface PodInfo {
  name: string;
  ordinal: number;
  pod: V1Pod;
  /** Admin URL of the pod, null while it has no address (pending) or is terminating. */
  url: string | null;
  ready: boolean;
  terminating: boolean;
  /** The StatefulSet revision the pod was created from. */
  revision?: string;
  status?: NodeStatus;
  /** Why `status` is missing. */
  error?: string;
}

export interface LeaderInfo {
  pod: PodInfo;
  status: NodeStatus;
  view: MembersView;
}

export interface Observed {
  /** This cluster's pods, by ordinal. */
  pods: PodInfo[];
  leader: LeaderInfo | null;
  /** Why no leader was found, when none was. */
  noLeaderReason?: string;
}

export interface Issue {
  reason: string;
  message: string;
}

export interface ReconcileState {
  cluster: ConfluxCluster;
  spec: ResolvedSpec;
  /** The admin token, from the auth Secret. */
  token?: string;
  statefulSet?: V1StatefulSet | null;
  observed?: Observed;
  /** From status, or learned this pass (bootstrap, adoption). */
  clusterId?: string;
  /** Problems and work found this pass, by condition; the first of each sets the condition's reason. */
  issues: Record<Exclude<ConditionType, 'Available'>, Issue[]>;
  /** Backups as observed this pass (undefined: status.backup stays as it was). */
  backup?: BackupStatus;
  /** A failed backup: Degraded only when nothing more urgent is (the cluster itself may be fine). */
  backupFailure?: Issue;
  /** The restore this cluster was created from, as known this pass. */
  restore?: RestoreStatus;
  error?: unknown;
}

export function newState(cluster: ConfluxCluster, spec: ResolvedSpec): ReconcileState {
  return {
    cluster,
    spec,
    clusterId: cluster.status?.clusterId || undefined,
    issues: { Degraded: [], Progressing: [] },
  };
}
