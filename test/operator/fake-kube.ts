// An in-memory API server behind the operator's Kube interface: objects by kind/namespace/name,
// uid, resourceVersion (one counter for everything), generation (bumped when spec changes),
// AlreadyExists/Conflict/NotFound errors, merge and JSON patches, label selectors, Events.
// No garbage collection, admission or defaulting. Tests can inject failures and read a call log.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { ConfluxCluster, ConfluxClusterStatus } from '../../operator/src/api/types.js';
import { KubeError, type JsonPatchOp, type Kind, type KindMap, type Kube, type ListableKind, type NullablePartial, type Patch } from '../../operator/src/kube.js';

type Obj = { metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string>; creationTimestamp?: Date }; spec?: unknown; status?: unknown };

export interface Call {
  op: 'get' | 'list' | 'create' | 'patch' | 'replace' | 'delete' | 'patchStatus' | 'createEvent';
  kind: Kind | 'Event';
  name?: string;
}

const clone = <T>(v: T): T => structuredClone(v);

export class FakeKube implements Kube {
  private readonly objects = new Map<string, Obj>();
  private rv = 0;
  private uid = 0;
  readonly events: CoreV1Event[] = [];
  readonly calls: Call[] = [];
  private readonly failures: { match: (c: Call) => boolean; error: Error; times: number }[] = [];

  /** The next `times` calls matching `match` throw `error` (before doing anything). */
  failOn(match: Partial<Call>, error: Error = new KubeError(500, 'injected failure'), times = 1): void {
    this.failures.push({
      match: (c) => Object.entries(match).every(([k, v]) => (c as unknown as Record<string, unknown>)[k] === v),
      error,
      times,
    });
  }

  /** Mutating calls (create, patch, replace, delete, patchStatus), for "nothing changed" assertions. */
  writes(): Call[] {
    return this.calls.filter((c) => c.op !== 'get' && c.op !== 'list' && c.op !== 'createEvent');
  }

  private key(kind: Kind, ns: string, name: string): string {
    return `${kind}/${ns}/${name}`;
  }

  private enter(call: Call): void {
    this.calls.push(call);
    const f = this.failures.find((x) => x.times > 0 && x.match(call));
    if (f) {
      f.times--;
      throw f.error;
    }
  }

  /** A copy of every object and counter (no calls, events or failures): for forking a test world. */
  copyFrom(other: FakeKube): void {
    this.objects.clear();
    for (const [k, v] of other.objects) this.objects.set(k, clone(v));
    this.rv = other.rv;
    this.uid = other.uid;
  }

  /** Drops injected failures (a restarted process finds a working API server). */
  clearFailures(): void {
    this.failures.length = 0;
  }

  /** Direct access for tests (no call log, no failures). */
  peek<K extends Kind>(kind: K, ns: string, name: string): KindMap[K] | undefined {
    const o = this.objects.get(this.key(kind, ns, name));
    return o === undefined ? undefined : (clone(o) as KindMap[K]);
  }

  all<K extends Kind>(kind: K, ns?: string): KindMap[K][] {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`${kind}/${ns === undefined ? '' : `${ns}/`}`))
      .map(([, o]) => clone(o) as KindMap[K]);
  }

  /** Stores an object as a controller would (no call log): pods, a StatefulSet's status. */
  put<K extends Kind>(kind: K, obj: KindMap[K]): KindMap[K] {
    const o = clone(obj) as Obj;
    const meta = (o.metadata ??= {});
    const ns = meta.namespace ?? 'default';
    meta.namespace = ns;
    const existing = this.objects.get(this.key(kind, ns, meta.name!));
    meta.uid ??= existing?.metadata?.uid ?? `uid-${++this.uid}`;
    meta.creationTimestamp ??= existing?.metadata?.creationTimestamp ?? new Date(0);
    meta.generation = existing?.metadata?.generation ?? 1;
    if (existing !== undefined && JSON.stringify(existing.spec) !== JSON.stringify(o.spec)) meta.generation++;
    meta.resourceVersion = String(++this.rv);
    this.objects.set(this.key(kind, ns, meta.name!), o);
    return clone(o) as KindMap[K];
  }

  remove(kind: Kind, ns: string, name: string): boolean {
    return this.objects.delete(this.key(kind, ns, name));
  }

  async get<K extends Kind>(kind: K, namespace: string, name: string): Promise<KindMap[K] | null> {
    this.enter({ op: 'get', kind, name });
    return this.peek(kind, namespace, name) ?? null;
  }

  async list<K extends ListableKind>(kind: K, namespace: string | undefined, labelSelector?: string): Promise<KindMap[K][]> {
    this.enter({ op: 'list', kind });
    const wanted = (labelSelector ?? '')
      .split(',')
      .filter((s) => s !== '')
      .map((s) => s.split('=') as [string, string]);
    return this.all(kind, namespace).filter((o) => {
      const labels = (o as Obj).metadata?.labels ?? {};
      return wanted.every(([k, v]) => labels[k] === v);
    });
  }

  async create<K extends Kind>(kind: K, obj: KindMap[K]): Promise<KindMap[K]> {
    const meta = (obj as Obj).metadata!;
    this.enter({ op: 'create', kind, name: meta.name });
    const ns = meta.namespace ?? 'default';
    if (this.objects.has(this.key(kind, ns, meta.name!))) {
      throw new KubeError(409, `${kind} "${meta.name}" already exists`, 'AlreadyExists');
    }
    const o = clone(obj) as Obj;
    delete o.metadata!.resourceVersion;
    return this.put(kind, o as KindMap[K]);
  }

  async patch<K extends Kind>(kind: K, namespace: string, name: string, patch: Patch): Promise<KindMap[K]> {
    this.enter({ op: 'patch', kind, name });
    const existing = this.objects.get(this.key(kind, namespace, name));
    if (existing === undefined) throw new KubeError(404, `${kind} "${name}" not found`, 'NotFound');
    const next = patch.type === 'merge' ? mergePatch(clone(existing), patch.body) : jsonPatch(clone(existing), patch.ops);
    return this.put(kind, next as KindMap[K]);
  }

  async replace<K extends 'Lease'>(kind: K, obj: KindMap[K]): Promise<KindMap[K]> {
    const meta = (obj as Obj).metadata!;
    this.enter({ op: 'replace', kind, name: meta.name });
    const ns = meta.namespace ?? 'default';
    const existing = this.objects.get(this.key(kind, ns, meta.name!));
    if (existing === undefined) throw new KubeError(404, `${kind} "${meta.name}" not found`, 'NotFound');
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== existing.metadata?.resourceVersion) {
      throw new KubeError(409, `the object has been modified; please apply your changes to the latest version`, 'Conflict');
    }
    return this.put(kind, obj);
  }

  async delete(kind: Kind, namespace: string, name: string, options?: { uid?: string }): Promise<boolean> {
    this.enter({ op: 'delete', kind, name });
    const existing = this.objects.get(this.key(kind, namespace, name));
    if (existing === undefined) return false;
    if (options?.uid !== undefined && existing.metadata?.uid !== options.uid) {
      throw new KubeError(409, `Precondition failed: UID in precondition: ${options.uid}, UID in object meta: ${existing.metadata?.uid}`, 'Conflict');
    }
    this.objects.delete(this.key(kind, namespace, name));
    return true;
  }

  async patchStatus(namespace: string, name: string, status: NullablePartial<ConfluxClusterStatus>): Promise<ConfluxCluster> {
    this.enter({ op: 'patchStatus', kind: 'ConfluxCluster', name });
    const existing = this.objects.get(this.key('ConfluxCluster', namespace, name));
    if (existing === undefined) throw new KubeError(404, `ConfluxCluster "${name}" not found`, 'NotFound');
    const next = mergePatch(clone(existing), { status }) as Obj;
    // The status subresource does not bump generation.
    next.metadata!.resourceVersion = String(++this.rv);
    this.objects.set(this.key('ConfluxCluster', namespace, name), next);
    return clone(next) as ConfluxCluster;
  }

  async createEvent(event: CoreV1Event): Promise<void> {
    this.enter({ op: 'createEvent', kind: 'Event', name: event.metadata?.name });
    this.events.push(clone(event));
  }

  /** Event reasons in order, e.g. ['AuthSecretCreated', 'StatefulSetCreated', 'Bootstrapped']. */
  eventReasons(): string[] {
    return this.events.map((e) => e.reason ?? '');
  }
}

/** RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 add/replace/remove/test on objects (and array indexes). */
export function jsonPatch(target: unknown, ops: JsonPatchOp[]): unknown {
  let doc = target;
  for (const op of ops) {
    const path = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (path.length === 0) {
      if (op.op === 'remove') throw new KubeError(422, 'cannot remove the root');
      doc = clone(op.value);
      continue;
    }
    const parentPath = path.slice(0, -1);
    const last = path[path.length - 1]!;
    let parent: unknown = doc;
    for (const seg of parentPath) {
      parent = (parent as Record<string, unknown> | undefined)?.[seg];
      if (parent === undefined || parent === null || typeof parent !== 'object') throw new KubeError(422, `path ${op.path}: ${seg} does not exist`);
    }
    const p = parent as Record<string, unknown>;
    if (op.op === 'test') {
      if (JSON.stringify(p[last]) !== JSON.stringify(op.value)) throw new KubeError(422, `test failed at ${op.path}`);
    } else if (op.op === 'remove' || op.op === 'replace') {
      if (!(last in p)) throw new KubeError(422, `path ${op.path} does not exist`);
      if (op.op === 'remove') delete p[last];
      else p[last] = clone(op.value);
    } else {
      p[last] = clone(op.value);
    }
  }
  return doc;
}
