// The two Services: a headless one that gives every pod a DNS name from the moment it starts
// (peers must reach a node that is not a member, hence not ready, yet), and the client Service
// that load-balances over ready pods.
import type { V1Service } from '@kubernetes/client-node';
import type { ConfluxCluster } from '../api/types.js';
import { labelsFor, metaNamespace, namesOf, ownerReference, PORT_NAMES, PORTS, selectorLabels, withHash } from './names.js';

export function buildPeerService(cluster: ConfluxCluster): V1Service {
  const spec: V1Service['spec'] = {
    clusterIP: 'None',
    // Pods resolve before they are ready: a joining node must be reachable to be added.
    publishNotReadyAddresses: true,
    selector: selectorLabels(cluster),
    ports: [
      { name: PORT_NAMES.peer, port: PORTS.peer, targetPort: PORT_NAMES.peer, protocol: 'TCP' },
      { name: PORT_NAMES.client, port: PORTS.client, targetPort: PORT_NAMES.client, protocol: 'TCP' },
    ],
  };
  return withHash<V1Service>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: namesOf(cluster).peerService,
      namespace: metaNamespace(cluster),
      labels: labelsFor(cluster, 'peer-service'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec,
  });
}

export function buildClientService(cluster: ConfluxCluster): V1Service {
  return withHash<V1Service>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: namesOf(cluster).clientService,
      namespace: metaNamespace(cluster),
      labels: labelsFor(cluster, 'client-service'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cluster),
      ports: [{ name: PORT_NAMES.client, port: PORTS.client, targetPort: PORT_NAMES.client, protocol: 'TCP' }],
    },
  });
}
