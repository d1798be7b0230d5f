// helm lint and helm template of both charts, with default and non-default values: what they
// render (security, resources, RBAC equal to what the operator calls, monitors, the alert rules
// and dashboard as shipped), and what values.schema.json refuses. Server-side validation of the
// same output against a real API server is in charts.k8s.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { OPERATOR_API_CALLS } from '../operator/api-calls.js';
import { CLUSTER_CHART, find, helm, HelmTemplateError, OPERATOR_CHART, REPO, template, valuesFile, type K8sObject } from './helm.js';
import { NON_DEFAULT_CLUSTER_VALUES, NON_DEFAULT_OPERATOR_VALUES } from './values.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Every (group, resource, verb) a set of rules grants, as sorted strings. */
function grants(rules: Rule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}${r.resourceNames ? `@${r.resourceNames.join(',')}` : ''}`);
  return [...out].sort();
}

const schemaError = (chart: string, values: unknown): string => {
  try {
    template(chart, { values });
  } catch (err) {
    if (err instanceof HelmTemplateError) return err.message;
    throw err;
  }
  throw new Error(`values were accepted: ${JSON.stringify(values)}`);
};

describe('helm lint', () => {
  for (const [chart, values] of [
    [OPERATOR_CHART, NON_DEFAULT_OPERATOR_VALUES],
    [CLUSTER_CHART, NON_DEFAULT_CLUSTER_VALUES],
  ] as const) {
    it(`${chart.slice(REPO.length + 1)}: default and non-default values, --strict`, () => {
      const def = helm(['lint', '--strict', chart]);
      expect(def.stdout + def.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(def.status).toBe(0);
      const v = valuesFile(values);
      try {
        const other = helm(['lint', '--strict', chart, '--values', v.path]);
        expect(other.stdout + other.stderr).toContain('0 chart(s) failed');
        expect(other.status).toBe(0);
      } finally {
        v.cleanup();
      }
    });
  }

  it('fails on values the schema refuses (so the lint above can fail)', () => {
    const v = valuesFile({ operator: { logLevel: 'loud' } });
    try {
      const r = helm(['lint', OPERATOR_CHART, '--values', v.path]);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/logLevel/);
    } finally {
      v.cleanup();
    }
  });
});

describe('conflux-operator chart: defaults', () => {
  const { objects } = template(OPERATOR_CHART);
  const deployment = find(objects, 'Deployment')[0] as K8sObject & { spec: any };
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('renders a ServiceAccount, ClusterRole(+Binding), metrics Service and one Deployment; no monitors by default', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Service', 'ServiceAccount']);
    expect(objects.every((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'Helm')).toBe(true);
  });

  it('runs one replica without leader election, Recreate (never two operators at once)', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(container.args).not.toContain('--leader-elect');
    expect(container.image).toBe('conflux-operator:0.1.0');
  });

  it('non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('has resource requests and limits and probes on /healthz', () => {
    expect(container.resources).toEqual({ requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
  });

  it('passes flags the operator accepts', async () => {
    const { parseOperatorFlags } = await import('../../operator/src/cli.js');
    const args = (container.args as string[]).map((a) => a.replace('$(POD_NAME)', 'pod-x'));
    const flags = parseOperatorFlags(args, {});
    expect(flags.config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(flags.config.leaderElection).toBeUndefined();
    expect(flags.config.namespace).toBeUndefined();
  });

  it('grants only the calls the operator makes, never more than operator/examples/rbac.yaml; no Lease without election', () => {
    const example = loadAllYaml(readFileSync(join(REPO, 'operator/examples/rbac.yaml'), 'utf8')) as { kind: string; rules?: Rule[] }[];
    const exampleGrants = grants(example.find((d) => d.kind === 'ClusterRole')!.rules!);
    const role = find(objects, 'ClusterRole')[0] as K8sObject & { rules: Rule[] };
    expect(grants(role.rules)).toEqual(OPERATOR_API_CALLS.flatMap(([g, r, verbs]) => verbs.map((v) => `${g}/${r}:${v}`)).sort());
    for (const g of grants(role.rules)) expect(exampleGrants, g).toContain(g);
    // Without election, no Lease permission at all.
    expect(grants(role.rules).some((g) => g.startsWith('coordination.k8s.io/'))).toBe(false);
    const binding = find(objects, 'ClusterRoleBinding')[0] as K8sObject & { subjects: unknown[]; roleRef: { name: string } };
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'conflux-conflux-operator', namespace: 'conflux-system' }]);
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(pod.serviceAccountName).toBe('conflux-conflux-operator');
  });
});

describe('conflux-operator chart: non-default values', () => {
  const { objects } = template(OPERATOR_CHART, { values: NON_DEFAULT_OPERATOR_VALUES });
  const deployment = find(objects, 'Deployment')[0] as K8sObject & { spec: any };
  const container = deployment.spec.template.spec.containers[0];

  it('two replicas with leader election: RollingUpdate with surge, a PodDisruptionBudget, flags for the Lease', async () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(find(objects, 'PodDisruptionBudget')[0]).toMatchObject({ spec: { minAvailable: 1 } });
    const { parseOperatorFlags } = await import('../../operator/src/cli.js');
    const flags = parseOperatorFlags((container.args as string[]).map((a) => a.replace('$(POD_NAME)', 'pod-x').replace('$(POD_IP)', '127.0.0.9')), {});
    expect(flags.config.leaderElection).toMatchObject({ namespace: 'conflux-system', name: 'conflux-operator-lock', identity: 'pod-x' });
    expect(flags.config.namespace).toBe('team-a');
    expect(flags.config.listen).toEqual({ host: '127.0.0.9', port: 9090 });
    expect(flags.config.reconcile).toMatchObject({ podAddress: 'dns', listenOnPodIP: true });
    expect(flags.config.workers).toBe(4);
    expect(flags.logFormat).toBe('text');
    expect(container.image).toBe('registry.example.com/conflux-operator:0.1.1');
    expect(container.env).toContainEqual({ name: 'EXTRA', value: '1' });
  });

  it('with watchNamespace: a Role in that namespace instead of a ClusterRole; the Lease Role names its Lease', () => {
    expect(find(objects, 'ClusterRole')).toEqual([]);
    const role = find(objects, 'Role', 'conflux-conflux-operator')[0] as K8sObject & { rules: Rule[] };
    expect(role.metadata.namespace).toBe('team-a');
    const lease = find(objects, 'Role', 'conflux-conflux-operator-leader-election')[0] as K8sObject & { rules: Rule[] };
    expect(lease.metadata.namespace).toBe('conflux-system');
    expect(grants(lease.rules)).toEqual([
      'coordination.k8s.io/leases:create',
      'coordination.k8s.io/leases:get@conflux-operator-lock',
      'coordination.k8s.io/leases:update@conflux-operator-lock',
    ]);
    const bindings = find(objects, 'RoleBinding') as (K8sObject & { subjects: { namespace: string }[] })[];
    expect(bindings.map((b) => [b.metadata.namespace, b.subjects[0]!.namespace]).sort()).toEqual([
      ['conflux-system', 'conflux-system'],
      ['team-a', 'conflux-system'],
    ]);
  });

  it('ServiceMonitor for the operator, PodMonitor for the Conflux node pods (conflux_cluster from the instance label)', () => {
    const sm = find(objects, 'ServiceMonitor')[0] as K8sObject & { spec: any };
    expect(sm.metadata.labels?.release).toBe('prometheus');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    const service = find(objects, 'Service')[0] as K8sObject & { spec: any };
    expect(service.spec.ports[0]).toMatchObject({ name: 'metrics', port: 9090, targetPort: 'metrics' });
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) expect(service.metadata.labels?.[k]).toBe(v);

    const pm = find(objects, 'PodMonitor')[0] as K8sObject & { spec: any };
    // The labels the operator puts on node pods (operator/src/specs/names.ts).
    expect(pm.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'conflux', 'app.kubernetes.io/component': 'node' });
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: ['team-a'] });
    expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'client', path: '/metrics' });
    expect(pm.spec.podMetricsEndpoints[0].relabelings).toContainEqual({ sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_instance'], targetLabel: 'conflux_cluster' });
  });

  it('PrometheusRule: the rule file as shipped, plus the alert labels (never over the severity) and the runbook base URL', () => {
    const rule = find(objects, 'PrometheusRule')[0] as K8sObject & { spec: { groups: { name: string; rules: any[] }[] } };
    expect(rule.metadata.labels?.release).toBe('prometheus');
    const shipped = loadYaml<{ groups: { name: string; rules: any[] }[] }>(readFileSync(join(OPERATOR_CHART, 'files/conflux-alerts.yaml'), 'utf8'));
    const expected = shipped.groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) => ({
        ...r,
        labels: { team: 'platform', ...r.labels },
        annotations: { ...r.annotations, runbook_url: `https://runbooks.example.com/conflux#${(r.alert as string).toLowerCase()}` },
      })),
    }));
    expect(rule.spec.groups).toEqual(expected);
    expect(rule.spec.groups[0]!.rules.every((r) => r.labels.severity !== 'ignored')).toBe(true);
  });

  it('dashboard ConfigMap: the JSON file byte for byte, with the Grafana sidecar label, in the chosen namespace', () => {
    const cm = find(objects, 'ConfigMap')[0] as K8sObject & { data: Record<string, string> };
    expect(cm.metadata.namespace).toBe('monitoring');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Conflux' });
    expect(cm.data['conflux.json']).toBe(readFileSync(join(OPERATOR_CHART, 'dashboards/conflux.json'), 'utf8').trimEnd());
    expect(JSON.parse(cm.data['conflux.json']!).uid).toBe('conflux-overview');
  });
});

describe('conflux-operator chart: values.schema.json refuses', () => {
  it.each([
    ['an unknown top-level key', { replicas: 2 }, /additional properties 'replicas' not allowed|replicas/],
    ['two replicas without leader election', { replicaCount: 2 }, /leaderElection|enabled/],
    ['an unknown log level', { operator: { logLevel: 'loud' } }, /logLevel/],
    ['a port out of range', { operator: { metricsPort: 70000 } }, /metricsPort/],
    ['a bad scrape interval', { monitoring: { podMonitor: { enabled: true, interval: 'often' } } }, /interval/],
    ['a bad resource quantity', { resources: { limits: { memory: 'lots' } } }, /memory/],
  ])('%s', (_what, values, message) => {
    expect(schemaError(OPERATOR_CHART, values)).toMatch(message);
  });

  it('and the template refuses two replicas without election even when the schema is skipped', () => {
    expect(() => template(OPERATOR_CHART, { values: { replicaCount: 2 }, extraArgs: ['--skip-schema-validation'] })).toThrow(/replicaCount > 1 needs leaderElection.enabled=true/);
  });
});

describe('conflux-cluster chart', () => {
  it('renders one ConfluxCluster named after the release, with the default spec', () => {
    const { objects } = template(CLUSTER_CHART, { release: 'demo', namespace: 'default' });
    expect(objects).toHaveLength(1);
    const cc = objects[0] as K8sObject & { spec: any };
    expect(cc).toMatchObject({ apiVersion: 'conflux.io/v1alpha1', kind: 'ConfluxCluster', metadata: { name: 'demo', namespace: 'default' } });
    expect(cc.spec).toMatchObject({ replicas: 3, image: 'conflux:0.1.0', storage: { size: '1Gi' }, logLevel: 'info' });
  });

  it('renders the non-default values as given', () => {
    const { objects } = template(CLUSTER_CHART, { release: 'x', namespace: 'team-a', values: NON_DEFAULT_CLUSTER_VALUES });
    const cc = objects[0] as K8sObject & { spec: any };
    expect(cc.metadata).toMatchObject({ name: 'orders', namespace: 'team-a', labels: { team: 'platform', 'app.kubernetes.io/instance': 'orders' } });
    expect(cc.spec).toEqual({ ...NON_DEFAULT_CLUSTER_VALUES.spec, imagePullPolicy: 'IfNotPresent', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } } });
  });

  it.each([
    ['a misspelt spec field', { spec: { replica: 3 } }, /replica/],
    ['zero replicas', { spec: { replicas: 0 } }, /replicas/],
    ['ten replicas', { spec: { replicas: 10 } }, /replicas/],
    ['an unknown log level', { spec: { logLevel: 'loud' } }, /logLevel/],
    ['a bad storage size', { spec: { storage: { size: '1 GB' } } }, /size/],
    ['a bad name', { name: 'Orders' }, /name/],
  ])('refuses %s', (_what, values, message) => {
    expect(schemaError(CLUSTER_CHART, values)).toMatch(message);
  });
});
