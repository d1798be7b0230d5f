// The Kubernetes API calls the operator makes, as [apiGroup, resource, verbs]: what operator/src
// calls through kube-client.ts (get/list/create/patch/replace/delete/patchStatus/createEvent) and
// watches (main.ts informers). One list for every RBAC check (operator/examples/rbac.yaml in
// test/operator/examples.test.ts, the operator chart in test/charts/charts.test.ts): a new call
// is added here once, and both fail until their rules grant it.
export type ApiCall = [group: string, resource: string, verbs: string[]];

/** Every call but the leader-election Lease. */
export const OPERATOR_API_CALLS: readonly ApiCall[] = [
  ['conflux.io', 'confluxclusters', ['get', 'list', 'watch']],
  ['conflux.io', 'confluxclusters/status', ['patch']],
  ['apps', 'statefulsets', ['get', 'list', 'watch', 'create', 'patch']],
  ['', 'services', ['get', 'create', 'patch']],
  ['', 'secrets', ['get', 'create', 'patch']],
  ['', 'pods', ['list', 'watch', 'delete']],
  ['policy', 'poddisruptionbudgets', ['get', 'create', 'patch']],
  ['', 'events', ['create']],
  ['batch', 'cronjobs', ['get', 'create', 'patch', 'delete']],
  ['batch', 'jobs', ['get', 'list', 'watch', 'create', 'patch']],
  ['', 'persistentvolumeclaims', ['get', 'create']],
];

/** The Lease of --leader-elect. */
export const LEASE_CALLS: ApiCall = ['coordination.k8s.io', 'leases', ['get', 'create', 'update']];
