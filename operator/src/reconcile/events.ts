// Kubernetes Events on a ConfluxCluster.
import type { ConfluxCluster } from '../api/types.js';
import { metaName, metaNamespace } from '../specs/names.js';
import { errorMessage } from './status.js';
import type { ReconcileContext } from './types.js';

/** A Kubernetes Event on the ConfluxCluster. Failing to record one never fails the pass. */
export async function recordEvent(ctx: ReconcileContext, cluster: ConfluxCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
  const now = new Date(ctx.nowMs());
  try {
    await ctx.kube.createEvent({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${metaName(cluster)}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: metaNamespace(cluster) },
      involvedObject: {
        apiVersion: cluster.apiVersion,
        kind: cluster.kind,
        name: metaName(cluster),
        namespace: metaNamespace(cluster),
        uid: cluster.metadata.uid,
        resourceVersion: cluster.metadata.resourceVersion,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: 'conflux-operator' },
      reportingComponent: 'conflux.io/operator',
    });
  } catch (err) {
    ctx.logger.warn('cannot record event', { reason, error: errorMessage(err) });
  }
}
