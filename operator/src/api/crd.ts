// The ConfluxCluster CustomResourceDefinition, built from the constants and types of types.ts.
// crds/confluxclusters.yaml is this object written by write-crd.ts (`make crds`); a test fails when
// the committed file differs. Objects here are in wire format (`default`, `$ref`...), not in
// @kubernetes/client-node's model names (`_default`), so they are typed by JSONSchemaProps below.
import {
  API_VERSION,
  BACKUP_FILE_PATTERN,
  BACKUP_RETAIN,
  BACKUP_SIZE_DEFAULT,
  CATEGORIES,
  CONDITION_STATUSES,
  CONDITION_TYPES,
  CRON_PATTERN,
  ELECTION_TICKS_NODE_DEFAULT,
  GROUP,
  IMAGE_PULL_POLICIES,
  KIND,
  LIST_KIND,
  LOG_LEVEL_DEFAULT,
  LOG_LEVELS,
  MAX_VALUE_BYTES,
  QUOTA_BYTES,
  HISTORY_RETENTION,
  MEMBER_ROLES,
  NAME,
  PHASES,
  PLURAL,
  PVC_NAME,
  PVC_RETENTION_DEFAULT,
  PVC_RETENTION_POLICIES,
  QUANTITY_PATTERN,
  RAFT_INT_TUNABLES,
  REPLICAS,
  SHORT_NAMES,
  SINGULAR,
  STORAGE_SIZE_DEFAULT,
  VERSION,
  type AuthSpec,
  type BackupSpec,
  type BackupStatus,
  type ConfluxClusterSpec,
  type HistorySpec,
  type ConfluxClusterStatus,
  type MemberStatus,
  type PodTemplateOverrides,
  type RaftSpec,
  type RestoreSpec,
  type RestoreStatus,
  type StorageSpec,
} from './types.js';

/** The subset of OpenAPI v3 (structural schema) the CRD uses. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  enum?: readonly (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: { rule: string; message: string }[];
}

export interface PrinterColumn {
  name: string;
  type: 'integer' | 'string' | 'date' | 'number' | 'boolean';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources: {
        status: Record<string, never>;
        scale: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
      };
      additionalPrinterColumns: PrinterColumn[];
    }[];
  };
}

/** Every key of T, required, mapped to a schema: a field missing on either side does not compile. */
type SchemaOf<T> = { [K in keyof Required<T>]: JSONSchemaProps };

const str = (description: string, extra: JSONSchemaProps = {}): JSONSchemaProps => ({ type: 'string', description, ...extra });
const int = (description: string, extra: JSONSchemaProps = {}): JSONSchemaProps => ({ type: 'integer', description, ...extra });
const stringMap = (description: string): JSONSchemaProps => ({ type: 'object', description, additionalProperties: { type: 'string' } });
/** A Kubernetes type the API server validates when the pod is created; kept as is here. */
const opaque = (description: string): JSONSchemaProps => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
const opaqueList = (description: string): JSONSchemaProps => ({
  type: 'array',
  description,
  items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
});
const quantity: JSONSchemaProps = {
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  'x-kubernetes-int-or-string': true,
  pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
};

const storageSchema: SchemaOf<StorageSpec> = {
  size: str('PVC size of each pod. Immutable.', { default: STORAGE_SIZE_DEFAULT, pattern: QUANTITY_PATTERN, 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'storage.size is immutable' }] }),
  storageClassName: str('Storage class of the PVCs (the cluster default when absent). Immutable.', { minLength: 1 }),
  retention: {
    type: 'object',
    description: 'What happens to a PVC when its pod is scaled away or the ConfluxCluster is deleted.',
    default: {},
    properties: {
      whenScaled: str('Retain or Delete the PVC of a pod removed by scaling down.', { enum: PVC_RETENTION_POLICIES, default: PVC_RETENTION_DEFAULT.whenScaled }),
      whenDeleted: str('Retain or Delete the PVCs when the ConfluxCluster is deleted.', { enum: PVC_RETENTION_POLICIES, default: PVC_RETENTION_DEFAULT.whenDeleted }),
    },
  },
};

const authSchema: SchemaOf<AuthSpec> = {
  secretName: str('Secret with keys admin-token and peer-token; the operator creates <name>-auth with random tokens when absent.', {
    minLength: 1,
    maxLength: 253,
  }),
  clientTokensKey: str('Key of the Secret holding client tokens, one "TOKEN read|readwrite PREFIX" per line.', { minLength: 1, maxLength: 253 }),
};

const historySchema: SchemaOf<HistorySpec> = Object.fromEntries(
  Object.entries(HISTORY_RETENTION).map(([k, t]) => [k, int(t.description, { minimum: t.minimum, maximum: t.maximum })]),
) as SchemaOf<HistorySpec>;

const raftSchema: SchemaOf<RaftSpec> = {
  ...(Object.fromEntries(
    Object.entries(RAFT_INT_TUNABLES).map(([k, t]) => [k, int(t.description, { minimum: t.minimum, maximum: t.maximum })]),
  ) as SchemaOf<Omit<RaftSpec, 'leaseReads'>>),
  leaseReads: { type: 'boolean', description: 'Serve linearizable reads under a leader lease (assumes bounded clock drift).' },
};

const podTemplateSpecSchema: SchemaOf<NonNullable<PodTemplateOverrides['spec']>> = {
  nodeSelector: stringMap('Node labels the pods must match.'),
  tolerations: opaqueList('Pod tolerations (core/v1 Toleration).'),
  affinity: opaque('Pod affinity (core/v1 Affinity).'),
  topologySpreadConstraints: opaqueList('Pod topology spread constraints (core/v1 TopologySpreadConstraint).'),
  priorityClassName: str('Priority class of the pods.'),
  serviceAccountName: str('Service account of the pods (nodes do not call the Kubernetes API).'),
  securityContext: opaque('Pod security context (core/v1 PodSecurityContext).'),
  imagePullSecrets: {
    type: 'array',
    description: 'Secrets for pulling the image.',
    items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
  },
  terminationGracePeriodSeconds: int('Seconds between SIGTERM and SIGKILL.', { minimum: 1, maximum: 3600 }),
};

const podTemplateSchema: SchemaOf<PodTemplateOverrides> = {
  metadata: {
    type: 'object',
    description: 'Labels and annotations added to the pods.',
    properties: { labels: stringMap('Extra pod labels.'), annotations: stringMap('Extra pod annotations.') },
  },
  spec: { type: 'object', description: 'Pod fields a user may set.', properties: podTemplateSpecSchema },
};

const pvcName = (description: string): JSONSchemaProps => str(description, { minLength: 1, maxLength: PVC_NAME.maxLength, pattern: PVC_NAME.pattern });

const backupSchema: SchemaOf<BackupSpec> = {
  schedule: str('Cron schedule of the backups (5 fields: minute hour day-of-month month day-of-week, or @daily...), in the kube-controller-manager\'s time zone (usually UTC).', { pattern: CRON_PATTERN }),
  volumeClaimName: pvcName('An existing PVC the backups are written to; the operator creates <name>-backups when absent.'),
  size: str(`Size of the PVC the operator creates (default ${BACKUP_SIZE_DEFAULT}).`, { pattern: QUANTITY_PATTERN }),
  storageClassName: str('Storage class of the PVC the operator creates (the cluster default when absent).', { minLength: 1 }),
  retain: int('Backups kept on the volume (the newest).', { default: BACKUP_RETAIN.default, minimum: BACKUP_RETAIN.minimum, maximum: BACKUP_RETAIN.maximum }),
  suspend: { type: 'boolean', description: 'Schedule no new backups (existing files stay).' },
};

const restoreSchema: SchemaOf<RestoreSpec> = {
  volumeClaimName: pvcName('PVC holding the backup file.'),
  file: str('Backup file name on that volume (no directories).', { pattern: BACKUP_FILE_PATTERN, maxLength: 253 }),
};

const specSchema: SchemaOf<ConfluxClusterSpec> = {
  replicas: int('Number of voters. Changed one member at a time through the Raft leader.', {
    default: REPLICAS.default,
    minimum: REPLICAS.minimum,
    maximum: REPLICAS.maximum,
  }),
  image: str('Image with conflux-node on its PATH.', { minLength: 1 }),
  imagePullPolicy: str('Image pull policy of the node container.', { enum: IMAGE_PULL_POLICIES }),
  storage: {
    type: 'object',
    description: 'The PVC of each pod.',
    default: {},
    properties: storageSchema,
    'x-kubernetes-validations': [
      {
        rule: 'has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)',
        message: 'storage.storageClassName is immutable',
      },
    ],
  },
  resources: {
    type: 'object',
    description: 'CPU and memory of the node container (core/v1 ResourceRequirements).',
    properties: {
      limits: { type: 'object', additionalProperties: quantity },
      requests: { type: 'object', additionalProperties: quantity },
    },
  },
  auth: { type: 'object', description: 'Tokens of the admin API, the peers and the clients.', properties: authSchema },
  raft: {
    type: 'object',
    description: 'Raft tunables, passed to every node as flags.',
    properties: raftSchema,
    'x-kubernetes-validations': [
      {
        rule: `(has(self.electionTicksMax) ? self.electionTicksMax : ${ELECTION_TICKS_NODE_DEFAULT.max}) > (has(self.electionTicksMin) ? self.electionTicksMin : ${ELECTION_TICKS_NODE_DEFAULT.min})`,
        message: `electionTicksMax must be above electionTicksMin (node defaults ${ELECTION_TICKS_NODE_DEFAULT.min} and ${ELECTION_TICKS_NODE_DEFAULT.max})`,
      },
    ],
  },
  logLevel: str('Log level of the nodes.', { enum: LOG_LEVELS, default: LOG_LEVEL_DEFAULT }),
  maxValueBytes: int('Largest value a node accepts, in bytes (node default 1 MiB).', MAX_VALUE_BYTES),
  quotaBytes: int('Writes that would grow the live keys and values past this many bytes are refused with 507 (node default 2 GiB).', QUOTA_BYTES),
  history: {
    type: 'object',
    description: 'History kept for reads at old revisions, rollbacks and watches: by count or age, and never beyond retainBytes.',
    properties: historySchema,
  },
  podTemplate: { type: 'object', description: 'Overrides merged into the pods the operator builds.', properties: podTemplateSchema },
  backup: {
    type: 'object',
    description: 'Scheduled backups: a CronJob runs `conflux snapshot save` and keeps the newest `retain` files on a volume.',
    required: ['schedule'],
    properties: backupSchema,
  },
  restore: {
    type: 'object',
    description: 'Create this cluster from a backup file (pod 0 starts from it, the others join). Set at creation only.',
    required: ['volumeClaimName', 'file'],
    properties: restoreSchema,
  },
};

const backupStatusSchema: SchemaOf<BackupStatus> = {
  lastSuccessfulTime: str('Completion time of the newest successful backup.', { format: 'date-time' }),
  lastFile: str('File of the newest successful backup, on the backup volume.'),
  lastJob: str('Job of the newest successful backup.'),
  lastFailedTime: str('When the newest failed backup failed (only while it is newer than the last success).', { format: 'date-time' }),
  lastFailedJob: str('Job of the newest failed backup.'),
  lastError: str('Why it failed.'),
};

const restoreStatusSchema: SchemaOf<RestoreStatus> = {
  volumeClaimName: str('PVC the backup was read from.'),
  file: str('Backup file restored.'),
  copiedTime: str('When the file was copied to the volume of pod 0.', { format: 'date-time' }),
  restoredTime: str('When pod 0 answered with the restored data.', { format: 'date-time' }),
};

const conditionSchema: JSONSchemaProps = {
  type: 'object',
  required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  properties: {
    type: str('Available, Progressing or Degraded.', { enum: CONDITION_TYPES }),
    status: str('True, False or Unknown.', { enum: CONDITION_STATUSES }),
    reason: str('CamelCase reason, stable for alerts.', { maxLength: 1024 }),
    message: str('Human readable details.', { maxLength: 32768 }),
    lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
    observedGeneration: int('The generation this condition describes.', { minimum: 0 }),
  },
};

const memberSchema: SchemaOf<MemberStatus> = {
  name: str('Member id (the pod name).'),
  role: str('voter or learner.', { enum: MEMBER_ROLES }),
  healthy: { type: 'boolean', description: 'The leader hears from it.' },
};

const statusSchema: SchemaOf<ConfluxClusterStatus> = {
  phase: str('Pending, Bootstrapping, Running, Scaling, Upgrading or Degraded.', { enum: PHASES }),
  clusterId: str('Raft cluster id, set at bootstrap.'),
  leader: str('Pod name of the current Raft leader.'),
  members: {
    type: 'array',
    description: 'The Raft configuration, as the leader sees it.',
    items: { type: 'object', required: ['name', 'role', 'healthy'], properties: memberSchema },
  },
  replicas: int('Pods of the StatefulSet.'),
  readyReplicas: int('Pods that pass their readiness probe.'),
  selector: str('Label selector of the pods (scale subresource).'),
  observedGeneration: int('The generation the status describes.'),
  conditions: {
    type: 'array',
    description: 'Available, Progressing and Degraded.',
    items: conditionSchema,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  },
  backup: { type: 'object', description: 'The scheduled backups.', properties: backupStatusSchema },
  restore: { type: 'object', description: 'The restore this cluster was created from.', required: ['volumeClaimName', 'file'], properties: restoreStatusSchema },
};

export const CRD_NAME = `${PLURAL}.${GROUP}`;

export function buildCrd(): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME, labels: { 'app.kubernetes.io/name': 'conflux', 'app.kubernetes.io/part-of': 'conflux' } },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: LIST_KIND, plural: PLURAL, singular: SINGULAR, shortNames: [...SHORT_NAMES], categories: [...CATEGORIES] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `A Conflux cluster (${API_VERSION}): a StatefulSet of Raft nodes whose membership the operator changes one member at a time.`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  required: ['image'],
                  properties: specSchema,
                  'x-kubernetes-validations': [
                    {
                      rule: 'has(self.restore) == has(oldSelf.restore) && (!has(self.restore) || self.restore == oldSelf.restore)',
                      message: 'spec.restore is set when the cluster is created and cannot change',
                    },
                  ],
                },
                status: { type: 'object', properties: statusSchema },
              },
              'x-kubernetes-validations': [
                {
                  rule: `size(self.metadata.name) <= ${NAME.maxLength} && self.metadata.name.matches('${NAME.pattern}')`,
                  message: `metadata.name must be a DNS-1035 label of at most ${NAME.maxLength} characters (it names the StatefulSet, its pods and Services)`,
                },
              ],
            },
          },
          subresources: {
            status: {},
            scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
          },
          additionalPrinterColumns: [
            { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Desired voters' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready pods' },
            { name: 'Leader', type: 'string', jsonPath: '.status.leader', description: 'Raft leader' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}
