// ConfluxCluster objects for the operator's tests.
import type { ConfluxCluster, ConfluxClusterSpec } from '../../operator/src/api/types.js';

export function makeCluster(spec: Partial<ConfluxClusterSpec> = {}, name = 'demo', namespace = 'conflux'): ConfluxCluster {
  return {
    apiVersion: 'conflux.io/v1alpha1',
    kind: 'ConfluxCluster',
    metadata: { name, namespace, uid: `uid-of-${name}`, generation: 1 },
    spec: { replicas: 3, image: 'conflux:0.1.0', storage: { size: '1Gi' }, ...spec },
  };
}
