// The Kube interface on @kubernetes/client-node 1.4. Things to know about 1.x (notes in
// ../shared/notes/kubernetes-tests.md): methods take one object parameter and resolve with the
// body; failures are ApiException with `.code` (HTTP status) and `.body`; patches default to JSON
// Patch, so merge patches need the Content-Type option; Lease times are MicroTime, which the API
// server parses with exactly six fractional digits (V1MicroTime writes them; plain Dates would not).
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  V1MicroTime,
  type CoreV1Event,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type ConfluxCluster, type ConfluxClusterStatus } from './api/types.js';
import { KubeError, type Kind, type KindMap, type Kube, type ListableKind, type NullablePartial, type Patch } from './kube.js';

type Options = ReturnType<typeof setHeaderOptions>;

interface KindOps<T> {
  read(ns: string, name: string): Promise<T>;
  create(ns: string, body: T): Promise<T>;
  patch(ns: string, name: string, body: unknown, options: Options): Promise<T>;
  delete(ns: string, name: string, uid: string | undefined): Promise<unknown>;
}

/** Turns client errors into KubeError (status code, the API's message and reason). */
export function toKubeError(err: unknown): unknown {
  if (!(err instanceof ApiException)) return err;
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not a Status object
    }
  }
  const status = (body ?? {}) as { message?: unknown; reason?: unknown };
  const message = typeof status.message === 'string' ? status.message : `HTTP ${err.code}`;
  return new KubeError(err.code, message, typeof status.reason === 'string' ? status.reason : undefined);
}

async function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw toKubeError(err);
  }
}

const preconditions = (uid: string | undefined) => (uid !== undefined ? { body: { preconditions: { uid } } } : {});

/** Lease times as MicroTime (the API server rejects millisecond precision). */
function leaseForWire(lease: V1Lease): V1Lease {
  const spec = lease.spec === undefined ? undefined : { ...lease.spec };
  if (spec !== undefined) {
    if (spec.acquireTime !== undefined) spec.acquireTime = new V1MicroTime(new Date(spec.acquireTime).getTime());
    if (spec.renewTime !== undefined) spec.renewTime = new V1MicroTime(new Date(spec.renewTime).getTime());
  }
  return { ...lease, ...(spec !== undefined ? { spec } : {}) };
}

/** MicroTime comes back as a string (the serializer does not know the type): make it a Date. */
function leaseFromWire(lease: V1Lease): V1Lease {
  const spec = lease.spec;
  if (spec === undefined) return lease;
  const out = { ...spec };
  if (spec.acquireTime !== undefined) out.acquireTime = new V1MicroTime(new Date(spec.acquireTime).getTime());
  if (spec.renewTime !== undefined) out.renewTime = new V1MicroTime(new Date(spec.renewTime).getTime());
  return { ...lease, spec: out };
}

export class ClientNodeKube implements Kube {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly policy: PolicyV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly ops: { [K in Kind]: KindOps<KindMap[K]> };

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    const { core, apps, batch, policy, coordination, custom } = this;
    const cr = { group: GROUP, version: VERSION, plural: PLURAL };
    this.ops = {
      Secret: {
        read: (namespace, name) => core.readNamespacedSecret({ namespace, name }),
        create: (namespace, body) => core.createNamespacedSecret({ namespace, body }),
        patch: (namespace, name, body, o) => core.patchNamespacedSecret({ namespace, name, body }, o),
        delete: (namespace, name, uid) => core.deleteNamespacedSecret({ namespace, name, ...preconditions(uid) }),
      },
      Service: {
        read: (namespace, name) => core.readNamespacedService({ namespace, name }),
        create: (namespace, body) => core.createNamespacedService({ namespace, body }),
        patch: (namespace, name, body, o) => core.patchNamespacedService({ namespace, name, body }, o),
        delete: (namespace, name, uid) => core.deleteNamespacedService({ namespace, name, ...preconditions(uid) }),
      },
      Pod: {
        read: (namespace, name) => core.readNamespacedPod({ namespace, name }),
        create: (namespace, body) => core.createNamespacedPod({ namespace, body }),
        patch: (namespace, name, body, o) => core.patchNamespacedPod({ namespace, name, body }, o),
        delete: (namespace, name, uid) => core.deleteNamespacedPod({ namespace, name, ...preconditions(uid) }),
      },
      StatefulSet: {
        read: (namespace, name) => apps.readNamespacedStatefulSet({ namespace, name }),
        create: (namespace, body) => apps.createNamespacedStatefulSet({ namespace, body }),
        patch: (namespace, name, body, o) => apps.patchNamespacedStatefulSet({ namespace, name, body }, o),
        delete: (namespace, name, uid) => apps.deleteNamespacedStatefulSet({ namespace, name, ...preconditions(uid) }),
      },
      CronJob: {
        read: (namespace, name) => batch.readNamespacedCronJob({ namespace, name }),
        create: (namespace, body) => batch.createNamespacedCronJob({ namespace, body }),
        patch: (namespace, name, body, o) => batch.patchNamespacedCronJob({ namespace, name, body }, o),
        delete: (namespace, name, uid) => batch.deleteNamespacedCronJob({ namespace, name, ...preconditions(uid) }),
      },
      Job: {
        read: (namespace, name) => batch.readNamespacedJob({ namespace, name }),
        create: (namespace, body) => batch.createNamespacedJob({ namespace, body }),
        patch: (namespace, name, body, o) => batch.patchNamespacedJob({ namespace, name, body }, o),
        // Background propagation: the Job's pods go too (the API's default for Jobs orphans them).
        delete: (namespace, name, uid) =>
          batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background', ...preconditions(uid) }),
      },
      PersistentVolumeClaim: {
        read: (namespace, name) => core.readNamespacedPersistentVolumeClaim({ namespace, name }),
        create: (namespace, body) => core.createNamespacedPersistentVolumeClaim({ namespace, body }),
        patch: (namespace, name, body, o) => core.patchNamespacedPersistentVolumeClaim({ namespace, name, body }, o),
        delete: (namespace, name, uid) => core.deleteNamespacedPersistentVolumeClaim({ namespace, name, ...preconditions(uid) }),
      },
      PodDisruptionBudget: {
        read: (namespace, name) => policy.readNamespacedPodDisruptionBudget({ namespace, name }),
        create: (namespace, body) => policy.createNamespacedPodDisruptionBudget({ namespace, body }),
        patch: (namespace, name, body, o) => policy.patchNamespacedPodDisruptionBudget({ namespace, name, body }, o),
        delete: (namespace, name, uid) => policy.deleteNamespacedPodDisruptionBudget({ namespace, name, ...preconditions(uid) }),
      },
      Lease: {
        read: async (namespace, name) => leaseFromWire(await coordination.readNamespacedLease({ namespace, name })),
        create: async (namespace, body) => leaseFromWire(await coordination.createNamespacedLease({ namespace, body: leaseForWire(body) })),
        patch: async (namespace, name, body, o) => leaseFromWire(await coordination.patchNamespacedLease({ namespace, name, body }, o)),
        delete: (namespace, name, uid) => coordination.deleteNamespacedLease({ namespace, name, ...preconditions(uid) }),
      },
      ConfluxCluster: {
        read: (namespace, name) => custom.getNamespacedCustomObject({ ...cr, namespace, name }) as Promise<ConfluxCluster>,
        create: (namespace, body) => custom.createNamespacedCustomObject({ ...cr, namespace, body }) as Promise<ConfluxCluster>,
        patch: (namespace, name, body, o) => custom.patchNamespacedCustomObject({ ...cr, namespace, name, body }, o) as Promise<ConfluxCluster>,
        delete: (namespace, name) => custom.deleteNamespacedCustomObject({ ...cr, namespace, name }),
      },
    };
  }

  async get<K extends Kind>(kind: K, namespace: string, name: string): Promise<KindMap[K] | null> {
    try {
      return await call(() => this.ops[kind].read(namespace, name));
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return null;
      throw err;
    }
  }

  async list<K extends ListableKind>(kind: K, namespace: string | undefined, labelSelector?: string): Promise<KindMap[K][]> {
    const sel = labelSelector !== undefined ? { labelSelector } : {};
    if (kind === 'Pod') {
      const list = await call(() => (namespace === undefined ? this.core.listPodForAllNamespaces(sel) : this.core.listNamespacedPod({ namespace, ...sel })));
      return list.items as KindMap[K][];
    }
    if (kind === 'Job') {
      const list = await call(() => (namespace === undefined ? this.batch.listJobForAllNamespaces(sel) : this.batch.listNamespacedJob({ namespace, ...sel })));
      return list.items as KindMap[K][];
    }
    const cr = { group: GROUP, version: VERSION, plural: PLURAL, ...sel };
    const list = (await call(() =>
      namespace === undefined ? this.custom.listClusterCustomObject(cr) : this.custom.listNamespacedCustomObject({ ...cr, namespace }),
    )) as { items?: ConfluxCluster[] };
    return (list.items ?? []) as KindMap[K][];
  }

  create<K extends Kind>(kind: K, obj: KindMap[K]): Promise<KindMap[K]> {
    const ns = obj.metadata?.namespace ?? 'default';
    return call(() => this.ops[kind].create(ns, obj));
  }

  patch<K extends Kind>(kind: K, namespace: string, name: string, patch: Patch): Promise<KindMap[K]> {
    const [body, strategy] = patch.type === 'merge' ? [patch.body, PatchStrategy.MergePatch] : [patch.ops, PatchStrategy.JsonPatch];
    return call(() => this.ops[kind].patch(namespace, name, body, setHeaderOptions('Content-Type', strategy)));
  }

  async replace<K extends 'Lease'>(_kind: K, obj: KindMap[K]): Promise<KindMap[K]> {
    const meta = obj.metadata!;
    const lease = await call(() =>
      this.coordination.replaceNamespacedLease({ namespace: meta.namespace ?? 'default', name: meta.name!, body: leaseForWire(obj) }),
    );
    return leaseFromWire(lease) as KindMap[K];
  }

  async delete(kind: Kind, namespace: string, name: string, options?: { uid?: string }): Promise<boolean> {
    try {
      await call(() => this.ops[kind].delete(namespace, name, options?.uid));
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return false;
      throw err;
    }
  }

  patchStatus(namespace: string, name: string, status: NullablePartial<ConfluxClusterStatus>): Promise<ConfluxCluster> {
    return call(
      () =>
        this.custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ) as Promise<ConfluxCluster>,
    );
  }

  async createEvent(event: CoreV1Event): Promise<void> {
    await call(() => this.core.createNamespacedEvent({ namespace: event.metadata?.namespace ?? 'default', body: event }));
  }
}
