// Non-default values of both charts, shared by the template tests and the control-plane tests.

export const NON_DEFAULT_OPERATOR_VALUES = {
  replicaCount: 2,
  leaderElection: { enabled: true, leaseName: 'conflux-operator-lock' },
  watchNamespace: 'team-a',
  image: { repository: 'registry.example.com/conflux-operator', tag: '0.1.1', pullPolicy: 'Always' },
  imagePullSecrets: [{ name: 'registry' }],
  operator: { logLevel: 'debug', logFormat: 'text', workers: 4, podAddress: 'dns', listenOnPodIP: true, listenHost: '$(POD_IP)', metricsPort: 9090 },
  extraEnv: [{ name: 'EXTRA', value: '1' }],
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: 1, memory: '512Mi' } },
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  monitoring: {
    serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prometheus' } },
    podMonitor: { enabled: true, namespaces: ['team-a'] },
    prometheusRule: { enabled: true, labels: { release: 'prometheus' }, alertLabels: { team: 'platform', severity: 'ignored' }, runbookBaseUrl: 'https://runbooks.example.com/conflux' },
    dashboard: { enabled: true, namespace: 'monitoring', annotations: { grafana_folder: 'Conflux' } },
  },
};

export const NON_DEFAULT_CLUSTER_VALUES = {
  name: 'orders',
  labels: { team: 'platform' },
  spec: {
    replicas: 5,
    image: 'registry.example.com/conflux:0.1.1',
    storage: { size: '10Gi', storageClassName: 'fast-ssd', retention: { whenScaled: 'Retain', whenDeleted: 'Delete' } },
    raft: { heartbeatIntervalMs: 200, electionTicksMin: 10, electionTicksMax: 30 },
    logLevel: 'debug',
    maxValueBytes: 2097152,
    podTemplate: { metadata: { labels: { tier: 'config' } }, spec: { priorityClassName: 'high' } },
  },
};
