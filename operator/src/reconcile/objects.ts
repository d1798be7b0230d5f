// Create-or-patch of an owned object: compare the desired object with the observed one and patch
// only what differs. Objects with an owned name that this cluster does not control are never
// touched (a user's Service named like ours is reported, not overwritten).
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { isConflict, type KindMap, type OwnedKind } from '../kube.js';
import { isOwnedBy, SPEC_HASH_ANNOTATION } from '../specs/names.js';
import { requeue, type ReconcileContext, type ReconcileState, type StepResult } from './types.js';

/** Every field set in `desired` has the same value in `actual` (extra fields in `actual` are server defaults). */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(desired).every(([k, v]) => isSubset(v, (actual as Record<string, unknown>)[k]));
  }
  return desired === actual;
}

export type Ensured<K extends OwnedKind> =
  | { kind: 'ok'; object: KindMap[K]; changed: 'created' | 'patched' | 'unchanged' }
  | { kind: 'stop'; result: StepResult };

const hashOf = (meta: V1ObjectMeta | undefined) => meta?.annotations?.[SPEC_HASH_ANNOTATION];

/**
 * Creates `desired` when absent; when present and owned, merge-patches labels, the hash
 * annotation and `spec` if the hash changed or `compare` (default: the desired spec is a subset of
 * the observed one) finds drift.
 */
export async function ensureOwned<K extends OwnedKind>(
  ctx: ReconcileContext,
  state: ReconcileState,
  kind: K,
  desired: KindMap[K],
  compare: (desired: KindMap[K], actual: KindMap[K]) => boolean = (d, a) => isSubset((d as { spec?: unknown }).spec, (a as { spec?: unknown }).spec),
): Promise<Ensured<K>> {
  const meta = desired.metadata!;
  const ns = meta.namespace!;
  const name = meta.name!;
  const existing = await ctx.kube.get(kind, ns, name);
  if (existing === null) {
    try {
      const created = await ctx.kube.create(kind, desired);
      ctx.logger.info('created', { kind, name });
      return { kind: 'ok', object: created, changed: 'created' };
    } catch (err) {
      // Someone created it between our read and our write: read it again next pass.
      if (isConflict(err)) return { kind: 'stop', result: requeue(ctx.options.afterChangeMs, `${kind} ${name} appeared while creating it`) };
      throw err;
    }
  }
  if (!isOwnedBy(existing, state.cluster)) {
    state.issues.Degraded.push({ reason: 'ObjectConflict', message: `${kind} ${name} exists and is not owned by this ConfluxCluster` });
    return { kind: 'stop', result: requeue(ctx.options.slowMs, `${kind} ${name} is not ours`) };
  }
  const labelsOk = isSubset(meta.labels, existing.metadata?.labels);
  if (hashOf(meta) === hashOf(existing.metadata) && labelsOk && compare(desired, existing)) {
    return { kind: 'ok', object: existing, changed: 'unchanged' };
  }
  const body: Record<string, unknown> = {
    metadata: { labels: meta.labels, annotations: meta.annotations },
    spec: (desired as { spec?: unknown }).spec,
  };
  const patched = await ctx.kube.patch(kind, ns, name, { type: 'merge', body });
  ctx.logger.info('patched', { kind, name });
  return { kind: 'ok', object: patched, changed: 'patched' };
}
