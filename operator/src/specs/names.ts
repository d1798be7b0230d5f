// Deterministic names, labels, ports, URLs and owner references of everything the operator
// creates for a ConfluxCluster. Everything that must agree (the pod's flags and the URLs the
// operator gives the leader when it adds the pod) is computed here, once.
import { createHash } from 'node:crypto';
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND, type ConfluxCluster } from '../api/types.js';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
} as const;
export const APP_NAME = 'conflux';
export const MANAGED_BY = 'conflux-operator';
/** Hash of what the operator last wrote; a change of the desired object changes it. */
export const SPEC_HASH_ANNOTATION = 'conflux.io/spec-hash';
/** The StatefulSet controller's label naming the revision a pod was created from. */
export const REVISION_LABEL = 'controller-revision-hash';

export const PORTS = { client: 7070, peer: 7071 } as const;
export const PORT_NAMES = { client: 'client', peer: 'peer' } as const;
export const PATHS = { data: '/var/lib/conflux', dataDir: '/var/lib/conflux/data', auth: '/etc/conflux/auth' } as const;
export const SECRET_KEYS = { admin: 'admin-token', peer: 'peer-token' } as const;
export const CONTAINER_NAME = 'conflux';
export const DATA_VOLUME = 'data';
export const AUTH_VOLUME = 'auth';

export type Component = 'node' | 'peer-service' | 'client-service' | 'auth' | 'disruption-budget' | 'backup' | 'restore';

export interface ClusterNames {
  statefulSet: string;
  peerService: string;
  clientService: string;
  authSecret: string;
  podDisruptionBudget: string;
}

export function namesOf(cluster: ConfluxCluster): ClusterNames {
  const name = metaName(cluster);
  return {
    statefulSet: name,
    peerService: `${name}-peer`,
    clientService: name,
    authSecret: cluster.spec.auth?.secretName ?? `${name}-auth`,
    podDisruptionBudget: name,
  };
}

/** The Secret the operator generates when spec.auth.secretName is absent. */
export function generatedSecretName(cluster: ConfluxCluster): string {
  return `${metaName(cluster)}-auth`;
}

export function metaName(cluster: ConfluxCluster): string {
  const name = cluster.metadata.name;
  if (!name) throw new Error('ConfluxCluster without metadata.name');
  return name;
}

export function metaNamespace(cluster: ConfluxCluster): string {
  return cluster.metadata.namespace ?? 'default';
}

export function podName(cluster: ConfluxCluster, ordinal: number): string {
  return `${metaName(cluster)}-${ordinal}`;
}

/** The ordinal of one of this cluster's pods (or member ids, which are pod names), else null. */
export function ordinalOf(cluster: ConfluxCluster, name: string): number | null {
  const prefix = `${metaName(cluster)}-`;
  if (!name.startsWith(prefix)) return null;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,4})$/.test(rest) ? Number(rest) : null;
}

/** Labels that select the cluster's pods. Immutable once the StatefulSet exists. */
export function selectorLabels(cluster: ConfluxCluster): Record<string, string> {
  return { [LABELS.name]: APP_NAME, [LABELS.instance]: metaName(cluster), [LABELS.component]: 'node' };
}

export function selectorString(cluster: ConfluxCluster): string {
  return Object.entries(selectorLabels(cluster))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function labelsFor(cluster: ConfluxCluster, component: Component): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.instance]: metaName(cluster),
    [LABELS.component]: component,
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.partOf]: APP_NAME,
  };
}

export function ownerReference(cluster: ConfluxCluster): V1OwnerReference {
  const uid = cluster.metadata.uid;
  if (!uid) throw new Error(`ConfluxCluster ${metaName(cluster)} has no uid (not read from the API server?)`);
  return { apiVersion: API_VERSION, kind: KIND, name: metaName(cluster), uid, controller: true, blockOwnerDeletion: true };
}

/** True when `obj` is controlled by this cluster (same uid): the operator only changes its own objects. */
export function isOwnedBy(obj: { metadata?: { ownerReferences?: V1OwnerReference[] } }, cluster: ConfluxCluster): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.controller === true && r.uid === cluster.metadata.uid);
}

export interface AddressOptions {
  /** Cluster DNS domain (kubelet --cluster-domain). */
  clusterDomain: string;
}

/** `<pod>.<peer service>.<namespace>.svc.<domain>`: resolvable before the pod is ready (publishNotReadyAddresses). */
export function podHost(cluster: ConfluxCluster, pod: string, o: AddressOptions): string {
  return `${pod}.${namesOf(cluster).peerService}.${metaNamespace(cluster)}.svc.${o.clusterDomain}`;
}

/** The URLs a node advertises and the operator registers: the same function for both sides. */
export function memberURLs(cluster: ConfluxCluster, pod: string, o: AddressOptions): { peerURL: string; clientURL: string } {
  const host = podHost(cluster, pod, o);
  return { peerURL: `http://${host}:${PORTS.peer}`, clientURL: `http://${host}:${PORTS.client}` };
}

/** Stable JSON (sorted keys) hashed: equal content, equal hash, whatever the key order. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => stableJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Records the hash of the fields the operator manages (spec and labels) in an annotation. */
export function withHash<T extends { metadata?: V1ObjectMeta; spec?: object }>(obj: T): T {
  const metadata: V1ObjectMeta = obj.metadata ?? {};
  metadata.annotations = { ...metadata.annotations, [SPEC_HASH_ANNOTATION]: contentHash({ spec: obj.spec, labels: metadata.labels }) };
  obj.metadata = metadata;
  return obj;
}
