// One reconcile pass of one ConfluxCluster: read it, run the steps in order until one asks to stop,
// and write the status in a `finally`, whatever happened (style point 12). An exception is
// rethrown after the status is written: the controller retries with back-off.
import { resolveSpec, validateSpec, type ConfluxCluster } from '../api/types.js';
import { metaName, metaNamespace } from '../specs/names.js';
import { computeStatus, errorMessage, statusPatch } from './status.js';
import { recordEvent, STEPS } from './steps.js';
import { newState, type ReconcileContext, type ReconcileState, type Step, type StepResult } from './types.js';
import { stableJson } from '../specs/names.js';

export interface ClusterRef {
  namespace: string;
  name: string;
}

export async function reconcile(ctx: ReconcileContext, ref: ClusterRef, steps: readonly Step[] = STEPS): Promise<StepResult> {
  const cluster = await ctx.kube.get('ConfluxCluster', ref.namespace, ref.name);
  // Deleted: the garbage collector removes what it owned (owner references).
  if (cluster === null || cluster.metadata.deletionTimestamp) return { kind: 'done' };
  const spec = resolveSpec(cluster.spec);
  const state = newState(cluster, spec);
  const log = ctx.logger.child({ cluster: `${metaNamespace(cluster)}/${metaName(cluster)}` });
  const stepCtx: ReconcileContext = { ...ctx, logger: log };

  const problems = validateSpec(spec);
  if (problems.length > 0) {
    state.issues.Degraded.push({ reason: 'InvalidSpec', message: problems.join('; ') });
    await writeStatus(stepCtx, state);
    // Nothing to retry until the spec changes (which the watch reports).
    return { kind: 'done' };
  }

  let result: StepResult = { kind: 'done' };
  try {
    for (const step of steps) {
      const started = performance.now();
      let r: StepResult;
      try {
        r = await step.run(stepCtx, state);
      } catch (err) {
        ctx.metrics?.step(step.name, 'error', (performance.now() - started) / 1000);
        log.warn('step failed', { step: step.name, error: errorMessage(err) });
        throw err;
      }
      ctx.metrics?.step(step.name, r.kind, (performance.now() - started) / 1000);
      if (r.kind !== 'continue') {
        log.debug('step stopped the pass', { step: step.name, result: r.kind, ...(r.kind === 'requeue' ? { reason: r.reason, afterMs: r.afterMs } : {}) });
        result = r;
        break;
      }
    }
    return result;
  } catch (err) {
    state.error = err;
    throw err;
  } finally {
    await writeStatus(stepCtx, state);
  }
}

/** Writes the computed status when it differs, and records Events for condition changes. */
export async function writeStatus(ctx: ReconcileContext, state: ReconcileState): Promise<void> {
  const { cluster } = state;
  const before = cluster.status ?? {};
  const after = computeStatus(state, new Date(ctx.nowMs()).toISOString());
  if (stableJson(before) === stableJson(after)) return;
  try {
    const updated = await ctx.kube.patchStatus(metaNamespace(cluster), metaName(cluster), statusPatch(after));
    state.cluster = updated;
  } catch (err) {
    ctx.logger.warn('cannot write status', { error: errorMessage(err) });
    // Rethrow only when nothing else failed: the step's error is the one to report.
    if (state.error === undefined) throw err;
    return;
  }
  await conditionEvents(ctx, cluster, before, after);
}

async function conditionEvents(ctx: ReconcileContext, cluster: ConfluxCluster, before: ConfluxCluster['status'] & object, after: ConfluxCluster['status'] & object): Promise<void> {
  const find = (s: typeof before, type: string) => s.conditions?.find((c) => c.type === type);
  const d0 = find(before, 'Degraded');
  const d1 = find(after, 'Degraded');
  if (d1?.status === 'True' && (d0?.status !== 'True' || d0.reason !== d1.reason)) {
    await recordEvent(ctx, cluster, 'Warning', d1.reason, d1.message);
  }
  const a0 = find(before, 'Available');
  const a1 = find(after, 'Available');
  if (a1 !== undefined && a1.status !== a0?.status) {
    if (a1.status === 'True') await recordEvent(ctx, cluster, 'Normal', 'Available', a1.message);
    else if (a0?.status === 'True') await recordEvent(ctx, cluster, 'Warning', a1.reason, a1.message);
  }
}
