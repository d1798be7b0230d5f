// The StatefulSet of Conflux nodes. Pods start with neither --initial-cluster nor --bootstrap:
// they wait to be added, and the operator bootstraps pod 0 and adds the others through the
// leader (design section 5). Parallel pod management, because a joining pod is never ready and
// OrderedReady would wait on it forever (and, after a full outage, no pod is ready until a
// majority runs). OnDelete updates, because the operator restarts pods one at a time, leader last.
import type { V1Container, V1EnvVar, V1PodSpec, V1StatefulSet } from '@kubernetes/client-node';
import { HISTORY_RETENTION, RAFT_INT_TUNABLES, resolveSpec, type HistoryRetentionField, TERMINATION_GRACE_SECONDS_DEFAULT, type ConfluxCluster, type RaftIntTunable } from '../api/types.js';
import {
  AUTH_VOLUME,
  contentHash,
  SPEC_HASH_ANNOTATION,
  CONTAINER_NAME,
  DATA_VOLUME,
  labelsFor,
  memberURLs,
  metaNamespace,
  namesOf,
  ownerReference,
  PATHS,
  PORT_NAMES,
  PORTS,
  SECRET_KEYS,
  selectorLabels,
  withHash,
  type AddressOptions,
} from './names.js';
import { restoreWrapperCommand } from './restore.js';
import { storeBounds } from './store-bounds.js';

export interface StatefulSetOptions extends AddressOptions {
  /**
   * Listen on the pod IP instead of 0.0.0.0: for environments where pods share one network
   * namespace (the process kubelet of the e2e tests). `kubectl port-forward` needs 0.0.0.0.
   */
  listenOnPodIP: boolean;
}

export const DEFAULT_STATEFULSET_OPTIONS: StatefulSetOptions = { clusterDomain: 'cluster.local', listenOnPodIP: false };

/** The `conflux-node` command line of every pod (`$(VAR)` is expanded by the kubelet). */
export function nodeArgs(cluster: ConfluxCluster, o: StatefulSetOptions): string[] {
  const spec = resolveSpec(cluster.spec);
  const { peerURL, clientURL } = memberURLs(cluster, '$(POD_NAME)', o);
  const host = o.listenOnPodIP ? '$(POD_IP)' : '0.0.0.0';
  const args = [
    '--id=$(POD_NAME)',
    `--data-dir=${PATHS.dataDir}`,
    `--listen-client=${host}:${PORTS.client}`,
    `--listen-peer=${host}:${PORTS.peer}`,
    `--advertise-client=${clientURL}`,
    `--advertise-peer=${peerURL}`,
    `--admin-token-file=${PATHS.auth}/${SECRET_KEYS.admin}`,
    `--peer-token-file=${PATHS.auth}/${SECRET_KEYS.peer}`,
  ];
  if (spec.auth.clientTokensKey !== undefined) args.push(`--auth-token-file=${PATHS.auth}/${spec.auth.clientTokensKey}`);
  args.push(`--log-level=${spec.logLevel}`, '--log-format=json');
  if (spec.maxValueBytes !== undefined) args.push(`--max-value-bytes=${spec.maxValueBytes}`);
  const bounds = storeBounds(spec);
  if (bounds.quotaBytes !== undefined) args.push(`--quota-bytes=${bounds.quotaBytes}`);
  const history = { ...spec.history, ...(bounds.historyRetainBytes !== undefined ? { retainBytes: bounds.historyRetainBytes } : {}) };
  for (const key of Object.keys(HISTORY_RETENTION) as HistoryRetentionField[]) {
    const value = history[key];
    if (value !== undefined) args.push(`--${HISTORY_RETENTION[key].flag}=${value}`);
  }
  for (const key of Object.keys(RAFT_INT_TUNABLES) as RaftIntTunable[]) {
    const value = spec.raft[key];
    if (value !== undefined) args.push(`--${RAFT_INT_TUNABLES[key].flag}=${value}`);
  }
  if (spec.raft.leaseReads === true) args.push('--lease-reads');
  return args;
}

const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

function nodeContainer(cluster: ConfluxCluster, o: StatefulSetOptions): V1Container {
  const spec = resolveSpec(cluster.spec);
  const container: V1Container = {
    name: CONTAINER_NAME,
    image: spec.image,
    // A restore cluster starts pod 0 from the backup file its volume received (restore.ts).
    command: spec.restore !== undefined ? restoreWrapperCommand() : ['conflux-node'],
    args: nodeArgs(cluster, o),
    env: [fieldEnv('POD_NAME', 'metadata.name'), fieldEnv('POD_NAMESPACE', 'metadata.namespace'), fieldEnv('POD_IP', 'status.podIP')],
    ports: [
      { name: PORT_NAMES.client, containerPort: PORTS.client, protocol: 'TCP' },
      { name: PORT_NAMES.peer, containerPort: PORTS.peer, protocol: 'TCP' },
    ],
    // /readyz: a member that knows a leader and caught up; /healthz: the process and its storage.
    readinessProbe: { httpGet: { path: '/readyz', port: PORT_NAMES.client }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: PORT_NAMES.client }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    // Opening a large data directory (snapshot restore) may take a while: liveness waits for it.
    startupProbe: { httpGet: { path: '/healthz', port: PORT_NAMES.client }, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 150 },
    volumeMounts: [
      { name: DATA_VOLUME, mountPath: PATHS.data },
      { name: AUTH_VOLUME, mountPath: PATHS.auth, readOnly: true },
    ],
  };
  if (spec.imagePullPolicy !== undefined) container.imagePullPolicy = spec.imagePullPolicy;
  if (spec.resources !== undefined) container.resources = spec.resources;
  return container;
}

function podSpec(cluster: ConfluxCluster, o: StatefulSetOptions): V1PodSpec {
  const spec = resolveSpec(cluster.spec);
  const user = spec.podTemplate.spec ?? {};
  const authKeys: string[] = [SECRET_KEYS.admin, SECRET_KEYS.peer];
  if (spec.auth.clientTokensKey !== undefined) authKeys.push(spec.auth.clientTokensKey);
  const pod: V1PodSpec = {
    containers: [nodeContainer(cluster, o)],
    // Service links would add a variable per Service of the namespace; nodes need none of them.
    enableServiceLinks: false,
    // Nodes never call the Kubernetes API.
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: user.terminationGracePeriodSeconds ?? TERMINATION_GRACE_SECONDS_DEFAULT,
    volumes: [
      {
        name: AUTH_VOLUME,
        secret: { secretName: namesOf(cluster).authSecret, items: authKeys.map((key) => ({ key, path: key })) },
      },
    ],
  };
  if (user.nodeSelector !== undefined) pod.nodeSelector = user.nodeSelector;
  if (user.tolerations !== undefined) pod.tolerations = user.tolerations;
  if (user.affinity !== undefined) pod.affinity = user.affinity;
  if (user.topologySpreadConstraints !== undefined) pod.topologySpreadConstraints = user.topologySpreadConstraints;
  if (user.priorityClassName !== undefined) pod.priorityClassName = user.priorityClassName;
  if (user.serviceAccountName !== undefined) pod.serviceAccountName = user.serviceAccountName;
  if (user.securityContext !== undefined) pod.securityContext = user.securityContext;
  if (user.imagePullSecrets !== undefined) pod.imagePullSecrets = user.imagePullSecrets;
  return pod;
}

/**
 * `replicas` is decided by the reconcile (it grows only once membership allows and shrinks only
 * after the members are removed); everything else comes from the cluster's spec.
 */
export function buildStatefulSet(cluster: ConfluxCluster, replicas: number, o: StatefulSetOptions = DEFAULT_STATEFULSET_OPTIONS): V1StatefulSet {
  const spec = resolveSpec(cluster.spec);
  const names = namesOf(cluster);
  const userMeta = spec.podTemplate.metadata ?? {};
  const sts: V1StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: names.statefulSet,
      namespace: metaNamespace(cluster),
      labels: labelsFor(cluster, 'node'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      replicas,
      serviceName: names.peerService,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { ...spec.storage.retention },
      selector: { matchLabels: selectorLabels(cluster) },
      template: {
        metadata: {
          // The operator's labels last: a user label cannot change the selector.
          labels: { ...userMeta.labels, ...labelsFor(cluster, 'node') },
          ...(userMeta.annotations !== undefined ? { annotations: { ...userMeta.annotations } } : {}),
        },
        spec: podSpec(cluster, o),
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: DATA_VOLUME, labels: selectorLabels(cluster) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: spec.storage.size } },
            ...(spec.storage.storageClassName !== undefined ? { storageClassName: spec.storage.storageClassName } : {}),
          },
        },
      ],
    },
  };
  // The hash leaves replicas out: scaling is not a template change.
  sts.metadata!.annotations = { [SPEC_HASH_ANNOTATION]: contentHash({ spec: { ...sts.spec, replicas: undefined }, labels: sts.metadata!.labels }) };
  return sts;
}
