// The few Kubernetes calls the operator makes, as a small interface: kube-client.ts implements it
// on @kubernetes/client-node, test/operator/fake-kube.ts in memory for the unit tests. Reconcile
// code depends on this file only, never on the client library's API classes.
import type {
  CoreV1Event,
  V1CronJob,
  V1Job,
  V1Lease,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { ConfluxCluster, ConfluxClusterStatus } from './api/types.js';

export interface KindMap {
  Secret: V1Secret;
  Service: V1Service;
  StatefulSet: V1StatefulSet;
  PodDisruptionBudget: V1PodDisruptionBudget;
  Pod: V1Pod;
  Lease: V1Lease;
  ConfluxCluster: ConfluxCluster;
  CronJob: V1CronJob;
  Job: V1Job;
  PersistentVolumeClaim: V1PersistentVolumeClaim;
}
export type Kind = keyof KindMap;
/** Kinds the operator creates and owns (owner reference to the ConfluxCluster). */
export type OwnedKind = 'Secret' | 'Service' | 'StatefulSet' | 'PodDisruptionBudget' | 'CronJob' | 'Job';
export type ListableKind = 'Pod' | 'ConfluxCluster' | 'Job';

export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** JSON merge patch (RFC 7386: null deletes, arrays replace) or JSON patch (RFC 6902). */
export type Patch = { type: 'merge'; body: Record<string, unknown> } | { type: 'json'; ops: JsonPatchOp[] };

export interface Kube {
  /** null when the object does not exist (404). */
  get<K extends Kind>(kind: K, namespace: string, name: string): Promise<KindMap[K] | null>;
  /** `namespace` undefined lists every namespace. `labelSelector` is `k=v,k2=v2`. */
  list<K extends ListableKind>(kind: K, namespace: string | undefined, labelSelector?: string): Promise<KindMap[K][]>;
  /** KubeError 409 (AlreadyExists) when the name is taken. */
  create<K extends Kind>(kind: K, obj: KindMap[K]): Promise<KindMap[K]>;
  patch<K extends Kind>(kind: K, namespace: string, name: string, patch: Patch): Promise<KindMap[K]>;
  /** PUT: KubeError 409 (Conflict) when metadata.resourceVersion is not the current one. */
  replace<K extends 'Lease'>(kind: K, obj: KindMap[K]): Promise<KindMap[K]>;
  /** false when it was already gone. `uid` makes the delete conditional (409 when it differs). */
  delete(kind: Kind, namespace: string, name: string, options?: { uid?: string }): Promise<boolean>;
  /** Merge-patches the status subresource; `null` members delete fields. */
  patchStatus(namespace: string, name: string, status: NullablePartial<ConfluxClusterStatus>): Promise<ConfluxCluster>;
  createEvent(event: CoreV1Event): Promise<void>;
}

export type NullablePartial<T> = { [K in keyof T]?: T[K] | null };

/** An API error: `code` is the HTTP status (404 NotFound, 409 AlreadyExists/Conflict, 422 Invalid...). */
export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeError && err.code === 409;
