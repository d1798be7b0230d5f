// The ConfluxCluster resource (design section 5), as TypeScript types and the constants the CRD
// schema is built from (crd.ts). Both sides read the same constants, and crd.ts maps every spec
// field to a schema with `satisfies`, so a field added here without a schema does not compile.
import type {
  V1Affinity,
  V1LocalObjectReference,
  V1ObjectMeta,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1Toleration,
  V1TopologySpreadConstraint,
} from '@kubernetes/client-node';
import { cronProblem } from './cron.js';

export const GROUP = 'conflux.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ConfluxCluster';
export const LIST_KIND = 'ConfluxClusterList';
export const PLURAL = 'confluxclusters';
export const SINGULAR = 'confluxcluster';
export const SHORT_NAMES = ['cfx'] as const;
export const CATEGORIES = ['conflux'] as const;

/** Replicas are Raft voters: 1 (no fault tolerance) up to 9 (beyond that, commits get slow). */
export const REPLICAS = { default: 3, minimum: 1, maximum: 9 } as const;
/**
 * Names become StatefulSet pod names, Service names (DNS-1035 labels) and label values; the
 * StatefulSet adds `-<ordinal>` to pods and a 10-character hash to revision labels (<= 63).
 */
export const NAME = { maxLength: 47, pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$' } as const;
export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export const STORAGE_SIZE_DEFAULT = '1Gi';
/** A Kubernetes quantity (the apimachinery regular expression, simplified to what storage uses). */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';
/** What happens to a pod's volume when the pod is scaled away or the cluster is deleted. */
export const PVC_RETENTION_POLICIES = ['Retain', 'Delete'] as const;
/**
 * Default volume policy. Scaled: Delete, because a removed member's data is of no use (a pod that
 * comes back at that ordinal is added as a new member; a stale log would only have to be
 * replaced). Deleted: Retain, because deleting the resource by mistake must not lose the data.
 */
export const PVC_RETENTION_DEFAULT = { whenScaled: 'Delete', whenDeleted: 'Retain' } as const;
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export const LOG_LEVEL_DEFAULT = 'info';
export const MAX_VALUE_BYTES = { minimum: 1, maximum: 64 * 1024 * 1024 } as const;
/** `--quota-bytes`: the live data bound (node default 2 GiB). */
export const QUOTA_BYTES = { minimum: 1024 * 1024, maximum: 1024 * 1024 * 1024 * 1024 } as const;
export const TERMINATION_GRACE_SECONDS_DEFAULT = 30;

/**
 * Raft tunables: the spec field, the `conflux-node` flag it becomes, and its bounds. The node
 * validates them too (node/src/cli/node-flags.ts); the bounds here keep obvious mistakes out of
 * the API server.
 */
export const RAFT_INT_TUNABLES = {
  heartbeatIntervalMs: { flag: 'heartbeat-interval-ms', minimum: 10, maximum: 10_000, description: 'Raft tick and heartbeat interval in ms (node default 100).' },
  electionTicksMin: { flag: 'election-ticks-min', minimum: 2, maximum: 1000, description: 'Election timeout lower bound, in ticks (node default 10).' },
  electionTicksMax: { flag: 'election-ticks-max', minimum: 3, maximum: 2000, description: 'Election timeout upper bound, in ticks (node default 20); above electionTicksMin.' },
  snapshotEntries: { flag: 'snapshot-entries', minimum: 1, maximum: 100_000_000, description: 'Snapshot every this many applied entries (node default 100000).' },
  snapshotBytes: {
    flag: 'snapshot-bytes',
    minimum: 1024,
    maximum: 64 * 1024 * 1024 * 1024,
    description: "Or once the entries applied since the last snapshot hold this many bytes, or the last snapshot's size if larger (node default 64 MiB).",
  },
  compactionKeepEntries: { flag: 'compaction-keep-entries', minimum: 0, maximum: 100_000_000, description: 'Entries kept behind a snapshot, up to snapshotBytes of them (node default 1000).' },
  maxInflightAppends: { flag: 'max-inflight-appends', minimum: 1, maximum: 1024, description: 'AppendEntries in flight per follower (node default 4).' },
  maxEntriesPerAppend: { flag: 'max-entries-per-append', minimum: 1, maximum: 1_000_000, description: 'Entries per AppendEntries (node default 1024).' },
  maxBytesPerAppend: { flag: 'max-bytes-per-append', minimum: 1024, maximum: 1024 * 1024 * 1024, description: 'Bytes per AppendEntries (node default 4 MiB).' },
} as const;
export type RaftIntTunable = keyof typeof RAFT_INT_TUNABLES;

/** History retention: the spec field under `spec.history`, its `conflux-node` flag and bounds. */
export const HISTORY_RETENTION = {
  retainRevisions: { flag: 'history-retain-revisions', minimum: 1, maximum: 1_000_000_000, description: 'Keep the newest N revisions of history (node default 10000).' },
  retainMs: { flag: 'history-retain-ms', minimum: 1, maximum: 365 * 24 * 3600 * 1000, description: 'Keep history younger than this many ms instead of a count.' },
  retainBytes: {
    flag: 'history-retain-bytes',
    minimum: 1024,
    maximum: 1024 * 1024 * 1024 * 1024,
    description: 'And never more than this many bytes of history, held in memory and in every snapshot (node default 256 MiB).',
  },
} as const;
export type HistoryRetentionField = keyof typeof HISTORY_RETENTION;
/** The node's own election defaults, for the rule electionTicksMax > electionTicksMin when one is absent. */
export const ELECTION_TICKS_NODE_DEFAULT = { min: 10, max: 20 } as const;

/** Backups kept on the backup volume (the newest ones; older files of this cluster are deleted). */
export const BACKUP_RETAIN = { default: 7, minimum: 1, maximum: 1000 } as const;
/** Size of the backup PVC the operator creates when spec.backup.volumeClaimName is absent. */
export const BACKUP_SIZE_DEFAULT = '1Gi';
/**
 * A 5-field cron schedule (minute hour day-of-month month day-of-week) or a macro, as the CronJob
 * controller reads it. The schema checks the shape; cron.ts checks the ranges.
 */
export const CRON_PATTERN =
  '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9A-Za-z*?,/-]+)( +[0-9A-Za-z*?,/-]+){4})$';
/** A file name on the backup volume: no directories, no leading dot. */
export const BACKUP_FILE_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
/** A DNS-1123 subdomain (PVC names). */
export const PVC_NAME = { maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } as const;

export type LogLevel = (typeof LOG_LEVELS)[number];
export type PvcRetentionPolicy = (typeof PVC_RETENTION_POLICIES)[number];
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

export interface StorageSpec {
  /** PVC size per pod, e.g. `1Gi`. Immutable (a StatefulSet's claim templates cannot change). */
  size: string;
  /** Storage class of the PVCs; the cluster default when absent. Immutable. */
  storageClassName?: string;
  /** What happens to a pod's PVC (StatefulSet persistentVolumeClaimRetentionPolicy). */
  retention?: { whenScaled?: PvcRetentionPolicy; whenDeleted?: PvcRetentionPolicy };
}

export interface AuthSpec {
  /**
   * A Secret holding `admin-token` and `peer-token` (and optionally the client tokens file under
   * `clientTokensKey`). When absent the operator creates `<name>-auth` with random tokens.
   */
  secretName?: string;
  /** Key of the Secret holding client tokens (`TOKEN read|readwrite PREFIX` lines). */
  clientTokensKey?: string;
}

/** How much history (old versions, for `?revision=`, rollbacks and watches) the nodes keep. */
export type HistorySpec = { [K in HistoryRetentionField]?: number };

export type RaftSpec = { [K in RaftIntTunable]?: number } & {
  /** Linearizable reads under a leader lease (assumes bounded clock drift). */
  leaseReads?: boolean;
};

/** The parts of the pod a user may set; everything else is the operator's. */
export interface PodTemplateOverrides {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    nodeSelector?: Record<string, string>;
    tolerations?: V1Toleration[];
    affinity?: V1Affinity;
    topologySpreadConstraints?: V1TopologySpreadConstraint[];
    priorityClassName?: string;
    serviceAccountName?: string;
    securityContext?: V1PodSecurityContext;
    imagePullSecrets?: V1LocalObjectReference[];
    terminationGracePeriodSeconds?: number;
  };
}

/**
 * Scheduled backups: a CronJob the operator owns runs `conflux snapshot save` against the pods and
 * keeps the newest `retain` files on a volume.
 */
export interface BackupSpec {
  /** 5-field cron schedule in the kube-controller-manager's time zone (usually UTC), e.g. `0 3 * * *`. */
  schedule: string;
  /** An existing PVC to write backups to; when absent the operator creates `<name>-backups`. */
  volumeClaimName?: string;
  /** Size of the PVC the operator creates (ignored with volumeClaimName). */
  size?: string;
  /** Storage class of the PVC the operator creates (ignored with volumeClaimName). */
  storageClassName?: string;
  /** Backups kept (the newest). */
  retain?: number;
  /** Stops scheduling new backups (the CronJob's suspend); existing files stay. */
  suspend?: boolean;
}

/** A new cluster started from a backup file (set at creation; immutable). */
export interface RestoreSpec {
  /** PVC holding the backup file (e.g. another cluster's `<name>-backups`). */
  volumeClaimName: string;
  /** File name on that volume, e.g. `demo-backup-29406180.cfxsnap`. */
  file: string;
}

export interface ConfluxClusterSpec {
  /** Number of voters. Scaling changes Raft membership one member at a time. */
  replicas: number;
  /** Image with `conflux-node` on its PATH. */
  image: string;
  imagePullPolicy?: ImagePullPolicy;
  storage: StorageSpec;
  resources?: V1ResourceRequirements;
  auth?: AuthSpec;
  raft?: RaftSpec;
  logLevel?: LogLevel;
  /** Largest value a node accepts (`--max-value-bytes`). */
  maxValueBytes?: number;
  /** Live data bound (`--quota-bytes`): writes that would grow past it get 507. */
  quotaBytes?: number;
  history?: HistorySpec;
  podTemplate?: PodTemplateOverrides;
  backup?: BackupSpec;
  restore?: RestoreSpec;
}

export const PHASES = ['Pending', 'Bootstrapping', 'Running', 'Scaling', 'Upgrading', 'Degraded'] as const;
export type Phase = (typeof PHASES)[number];
export const MEMBER_ROLES = ['voter', 'learner'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

export const CONDITION_TYPES = ['Available', 'Progressing', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/** Reasons (CamelCase, stable: alerts and scripts match them). */
export const REASONS = {
  Available: {
    QuorumHealthy: 'a leader answers and a majority of voters are healthy',
    NotBootstrapped: 'the cluster has no members yet',
    NoLeader: 'no pod answers as the leader',
    QuorumUnhealthy: 'fewer than a majority of voters are healthy',
  },
  Progressing: {
    Creating: 'the first pod is being created and bootstrapped',
    ScalingUp: 'pods are being added as learners and promoted',
    ScalingDown: 'members are being removed before the StatefulSet shrinks',
    PromotingLearner: 'a learner is catching up before promotion',
    ReplacingMember: 'a pod with a new data directory is being removed and re-added',
    RollingUpdate: 'pods are being restarted one at a time with the new template',
    WaitingForPods: 'pods are not running or not answering yet',
    Restoring: 'the backup file is being copied to pod 0, which starts from it',
    Stable: 'the cluster matches its spec',
  },
  Degraded: {
    AsExpected: 'every member is healthy',
    NoLeader: 'no leader answers; membership is left alone',
    MembersUnhealthy: 'some voters are not healthy',
    ForeignData: 'a pod holds data of another cluster',
    StaleData: 'a pod holds data of a removed member (a retained volume); it is not added back',
    ConflictingClusterIds: 'pods report different cluster ids',
    WouldLoseQuorum: 'a removal would leave fewer than a majority of healthy voters',
    AuthSecretInvalid: 'the auth Secret is missing or lacks a key',
    ObjectConflict: 'an object with an owned name exists and is not owned by this cluster',
    ReconcileError: 'the last reconcile failed',
    InvalidSpec: 'the spec breaks a rule the schema could not check',
    QuorumLost: 'fewer than a majority of voters answer: no leader can be elected; see docs/runbooks.md (quorum lost)',
    BackupFailed: 'the last scheduled backup failed',
    RestoreFailed: 'the backup file could not be copied for the restore',
  },
} as const;
export type Reason<T extends ConditionType> = keyof (typeof REASONS)[T] & string;

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  /** RFC 3339; changes only when `status` changes. */
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface MemberStatus {
  /** Member id = pod name (`<cluster>-<ordinal>`). */
  name: string;
  role: MemberRole;
  healthy: boolean;
}

export interface BackupStatus {
  /** Completion time (RFC 3339) and file of the newest successful backup Job. */
  lastSuccessfulTime?: string;
  lastFile?: string;
  lastJob?: string;
  /** The newest failed backup Job, when it is newer than the last success (cleared by a success). */
  lastFailedTime?: string;
  lastFailedJob?: string;
  lastError?: string;
}

export interface RestoreStatus {
  volumeClaimName: string;
  file: string;
  /** When the file was copied to pod 0's volume. */
  copiedTime?: string;
  /** When pod 0 answered with the restored cluster (its new cluster id is status.clusterId). */
  restoredTime?: string;
}

export interface ConfluxClusterStatus {
  phase?: Phase;
  /** Set once at bootstrap (or adopted from the pods' data); never changes afterwards. */
  clusterId?: string;
  leader?: string;
  members?: MemberStatus[];
  /** Pods of the StatefulSet (the scale subresource's status replicas). */
  replicas?: number;
  readyReplicas?: number;
  /** Label selector of the pods, as a string (scale subresource). */
  selector?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  backup?: BackupStatus;
  restore?: RestoreStatus;
}

export interface ConfluxCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta;
  spec: ConfluxClusterSpec;
  status?: ConfluxClusterStatus;
}

/** A spec with every default filled in: what the builders and steps read. */
export interface ResolvedSpec extends ConfluxClusterSpec {
  storage: StorageSpec & { retention: { whenScaled: PvcRetentionPolicy; whenDeleted: PvcRetentionPolicy } };
  auth: AuthSpec;
  raft: RaftSpec;
  logLevel: LogLevel;
  podTemplate: PodTemplateOverrides;
  backup?: BackupSpec & { retain: number };
}

/**
 * Fills the schema's defaults. The API server applies them too, but objects written before a
 * default existed, and the tests' fake API server, do not have them.
 */
export function resolveSpec(spec: Partial<ConfluxClusterSpec> | undefined): ResolvedSpec {
  const { backup, ...s } = spec ?? {};
  return {
    ...s,
    replicas: s.replicas ?? REPLICAS.default,
    image: s.image ?? '',
    storage: {
      ...s.storage,
      size: s.storage?.size ?? STORAGE_SIZE_DEFAULT,
      retention: {
        whenScaled: s.storage?.retention?.whenScaled ?? PVC_RETENTION_DEFAULT.whenScaled,
        whenDeleted: s.storage?.retention?.whenDeleted ?? PVC_RETENTION_DEFAULT.whenDeleted,
      },
    },
    auth: s.auth ?? {},
    raft: s.raft ?? {},
    logLevel: s.logLevel ?? LOG_LEVEL_DEFAULT,
    podTemplate: s.podTemplate ?? {},
    ...(backup !== undefined ? { backup: { ...backup, retain: backup.retain ?? BACKUP_RETAIN.default } } : {}),
  };
}

/**
 * What the API server's schema enforces, checked again by the operator (old objects, the fake API
 * server in tests, and rules a schema cannot say). Returns human messages; empty means valid.
 */
export function validateSpec(spec: ResolvedSpec): string[] {
  const problems: string[] = [];
  const integerIn = (path: string, value: number | undefined, bounds: { minimum: number; maximum: number }): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < bounds.minimum || value > bounds.maximum)) {
      problems.push(`${path} must be an integer from ${bounds.minimum} to ${bounds.maximum}`);
    }
  };
  integerIn('spec.replicas', spec.replicas, REPLICAS);
  if (spec.image === '') problems.push('spec.image is required');
  if (spec.maxValueBytes !== undefined && (spec.maxValueBytes < MAX_VALUE_BYTES.minimum || spec.maxValueBytes > MAX_VALUE_BYTES.maximum)) {
    problems.push(`spec.maxValueBytes must be from ${MAX_VALUE_BYTES.minimum} to ${MAX_VALUE_BYTES.maximum}`);
  }
  integerIn('spec.quotaBytes', spec.quotaBytes, QUOTA_BYTES);
  for (const field of Object.keys(HISTORY_RETENTION) as HistoryRetentionField[]) integerIn(`spec.history.${field}`, spec.history?.[field], HISTORY_RETENTION[field]);
  if (!new RegExp(QUANTITY_PATTERN).test(spec.storage.size)) problems.push(`spec.storage.size ${JSON.stringify(spec.storage.size)} is not a quantity`);
  const { electionTicksMin: min, electionTicksMax: max } = spec.raft;
  if ((min ?? ELECTION_TICKS_NODE_DEFAULT.min) >= (max ?? ELECTION_TICKS_NODE_DEFAULT.max)) problems.push('spec.raft.electionTicksMax must be above spec.raft.electionTicksMin');
  if (spec.backup !== undefined) {
    const b = spec.backup;
    const cron = cronProblem(typeof b.schedule === 'string' ? b.schedule : '');
    if (cron !== null) problems.push(`spec.backup.schedule: ${cron}`);
    integerIn('spec.backup.retain', b.retain, BACKUP_RETAIN);
    if (b.volumeClaimName !== undefined && !new RegExp(PVC_NAME.pattern).test(b.volumeClaimName)) problems.push(`spec.backup.volumeClaimName ${JSON.stringify(b.volumeClaimName)} is not a PVC name`);
    if (b.size !== undefined && !new RegExp(QUANTITY_PATTERN).test(b.size)) problems.push(`spec.backup.size ${JSON.stringify(b.size)} is not a quantity`);
  }
  if (spec.restore !== undefined) {
    const r = spec.restore;
    if (typeof r.volumeClaimName !== 'string' || !new RegExp(PVC_NAME.pattern).test(r.volumeClaimName)) problems.push('spec.restore.volumeClaimName must be a PVC name');
    if (typeof r.file !== 'string' || !new RegExp(BACKUP_FILE_PATTERN).test(r.file)) problems.push('spec.restore.file must be a file name on that volume (no directories)');
  }
  return problems;
}
