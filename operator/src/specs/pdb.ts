// A PodDisruptionBudget that keeps quorum: voluntary evictions (drains) may take down at most
// floor((n-1)/2) pods of n voters, so a majority always stays. With 1 or 2 voters that is 0:
// a drain waits until the cluster is scaled (losing either pod loses the quorum).
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { ConfluxCluster } from '../api/types.js';
import { labelsFor, metaNamespace, namesOf, ownerReference, selectorLabels, withHash } from './names.js';

export function maxUnavailableFor(voters: number): number {
  return Math.max(0, Math.floor((voters - 1) / 2));
}

/**
 * `voters`: the voters the cluster has now (during a scale-up the new pods are not voters yet, and
 * counting them would allow evicting a majority of the real voters).
 */
export function buildPodDisruptionBudget(cluster: ConfluxCluster, voters: number): V1PodDisruptionBudget {
  return withHash<V1PodDisruptionBudget>({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: namesOf(cluster).podDisruptionBudget,
      namespace: metaNamespace(cluster),
      labels: labelsFor(cluster, 'disruption-budget'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      maxUnavailable: maxUnavailableFor(voters),
      selector: { matchLabels: selectorLabels(cluster) },
    },
  });
}
