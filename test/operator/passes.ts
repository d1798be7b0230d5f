// Drives the reconciler over a fake World the way the controller would: one pass, then one
// simulated second, with the fakes (pods, Jobs, the Conflux admin API) catching up in between.
// Shared by the operator's scenario tests (backup, restore, quorum loss, rolling update).
import { reconcile } from '../../operator/src/reconcile/reconcile.js';
import type { ReconcileContext } from '../../operator/src/reconcile/types.js';
import type { World } from './fake-world.js';

/** The ConfluxCluster every World holds. */
export const ref = { namespace: 'conflux', name: 'demo' };

/** Reconciles until a pass is done and changes nothing (no Kubernetes write, no membership change). */
/** Without ctx, each pass gets a fresh w.ctx(), as the controller builds one per pass. */
export async function converge(w: World, ctx?: ReconcileContext, maxPasses = 60): Promise<void> {
  for (let i = 0; i < maxPasses; i++) {
    w.sync();
    const before = w.kube.writes().length + w.conflux.changes.length;
    const r = await reconcile(ctx ?? w.ctx(), ref);
    w.nowMs += 1000;
    w.sync();
    if (r.kind === 'done' && w.kube.writes().length + w.conflux.changes.length === before) return;
  }
  throw new Error(`no convergence after ${maxPasses} passes`);
}

/** Exactly n passes, one simulated second apart, whatever they do. */
export async function passes(w: World, n: number, ctx?: ReconcileContext): Promise<void> {
  for (let i = 0; i < n; i++) {
    w.sync();
    await reconcile(ctx ?? w.ctx(), ref);
    w.nowMs += 1000;
  }
}
