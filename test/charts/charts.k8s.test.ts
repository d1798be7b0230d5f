// The charts against a real API server (test/k8s/control-plane.ts: kube-apiserver 1.34, etcd,
// controller-manager, scheduler on 127.0.0.1) and the process kubelet (test/k8s/kubelet):
//   1. kubectl apply --dry-run=server of the CRD and of both charts rendered with default and
//      non-default values (the API server validates every object, the ConfluxCluster against the
//      CRD's schema and CEL rules; monitoring.coreos.com kinds are left out: the test API server
//      has no Prometheus Operator CRDs, charts.test.ts checks them);
//   2. helm install --wait of the operator chart (2 replicas, leader election) and of a cluster,
//      which the operator brings to Available with 3 voters on the kubelet's pods;
//      Prometheus scrapes those pods with the labels the chart's monitors give (one leader);
//      promtool check metrics on the deployed operator's and a node's /metrics;
//   3. helm upgrade of the operator with a changed value: the Deployment rolls out new pods with it;
//   4. helm uninstall of both: nothing left of either release but what charts/README.md documents
//      (the CRD, the cluster's PVCs, the operator's Lease).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../k8s/control-plane.js';
import { ProcessKubelet } from '../k8s/kubelet/kubelet.js';
import { ALERTS_PATH, alertRules } from '../observability/dashboard.js';
import { promtoolCheckMetrics, TestPrometheus } from '../observability/prometheus.js';
import { waitFor } from '../support/process-cluster.js';
import { NON_DEFAULT_CLUSTER_VALUES, NON_DEFAULT_OPERATOR_VALUES } from './values.js';
import { CLUSTER_CHART, KUBE_VERSION, OPERATOR_CHART, REPO, valuesFile } from './helm.js';

const MIN = 60_000;
const OP_NS = 'conflux-system';
const CLUSTER_NS = 'apps';
const CRD = join(REPO, 'charts/conflux-operator/crds/confluxclusters.yaml');

/** The operator on the process kubelet: pods share the host's network, so they listen on their pod IP. */
const PROCESS_KUBELET_OPERATOR_VALUES = {
  replicaCount: 2,
  leaderElection: { enabled: true },
  operator: { listenHost: '$(POD_IP)', listenOnPodIP: true, resyncMs: 5000 },
};

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  status?: any;
}

describe('charts on the test control plane', () => {
  let cp: ControlPlane;
  let kubelet: ProcessKubelet | null = null;
  let prom: TestPrometheus | null = null;
  let dir: string;
  const kubeletLog: string[] = [];

  const kubectl = (args: string[], input?: string) => cp.kubectlOk(args, input);
  const helmOk = async (args: string[]) => {
    const r = await cp.helm(args);
    if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: exit ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const getJson = async <T>(args: string[]): Promise<T> => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
  const list = async (kind: string, ns?: string, selector?: string): Promise<Obj[]> =>
    (await getJson<{ items: Obj[] }>(['get', kind, ...(ns ? ['-n', ns] : ['-A']), ...(selector ? ['-l', selector] : [])])).items;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conflux-charts-e2e-'));
    cp = await startControlPlane();
    for (const ns of [OP_NS, CLUSTER_NS, 'team-a', 'monitoring']) await kubectl(['create', 'namespace', ns]);
  }, 6 * MIN);

  afterAll(async () => {
    await prom?.stop();
    await kubelet?.stop();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 3 * MIN);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !kubelet) return;
    const tail = (s: string, n = 40) => s.split('\n').slice(-n).join('\n');
    console.error(`--- kubelet log (tail)\n${kubeletLog.slice(-40).join('\n')}`);
    for (const p of kubelet.runningPods()) console.error(`--- pod ${p.namespace}/${p.name} ${p.ip}\n${tail(kubelet.logs(p.namespace, p.name))}`);
  });

  /** `helm template` output minus the kinds this API server does not know (Prometheus Operator CRDs). */
  async function rendered(chart: string, namespace: string, values?: unknown): Promise<{ yaml: string; kinds: string[] }> {
    const v = values === undefined ? null : valuesFile(values);
    try {
      const out = await helmOk(['template', 'conflux', chart, '--namespace', namespace, '--kube-version', KUBE_VERSION, ...(v ? ['--values', v.path] : [])]);
      const docs = out.split(/^---\s*$/m).filter((d) => /^kind:/m.test(d));
      const kept = docs.filter((d) => !/^apiVersion: monitoring\.coreos\.com\//m.test(d));
      return { yaml: kept.join('\n---\n'), kinds: kept.map((d) => /^kind: (\S+)/m.exec(d)![1]!) };
    } finally {
      v?.cleanup();
    }
  }

  it('kubectl apply --dry-run=server accepts the CRD and both charts, default and non-default values', async () => {
    expect(await kubectl(['apply', '--dry-run=server', '-f', CRD])).toContain('customresourcedefinition.apiextensions.k8s.io/confluxclusters.conflux.io created (server dry run)');
    // The ConfluxClusters need the CRD for real.
    await kubectl(['apply', '--server-side', '-f', CRD]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/confluxclusters.conflux.io']);
    const cases: [string, string, unknown][] = [
      [OPERATOR_CHART, OP_NS, undefined],
      [OPERATOR_CHART, OP_NS, NON_DEFAULT_OPERATOR_VALUES],
      [CLUSTER_CHART, CLUSTER_NS, undefined],
      [CLUSTER_CHART, 'team-a', NON_DEFAULT_CLUSTER_VALUES],
    ];
    for (const [chart, ns, values] of cases) {
      const { yaml, kinds } = await rendered(chart, ns, values);
      const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
      const lines = out.trim().split('\n');
      expect(lines, `${chart} ${JSON.stringify(values)}`).toHaveLength(kinds.length);
      for (const l of lines) expect(l).toMatch(/ (created|configured|unchanged) \(server dry run\)$/);
    }
    // The server really validates: a ConfluxCluster the CRD refuses (rendered without the chart's schema).
    const bad = await helmOk(['template', 'bad', CLUSTER_CHART, '--namespace', CLUSTER_NS, '--kube-version', KUBE_VERSION, '--skip-schema-validation', '--set', 'spec.replicas=0']);
    const r = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.replicas/);
  }, 5 * MIN);

  it('helm install --wait: the operator (2 replicas, one leader) and a cluster it brings to 3 voters', async () => {
    kubelet = new ProcessKubelet({ kubeConfig: cp.kubeConfig(), nodeName: 'charts-node', log: (l) => kubeletLog.push(`${new Date().toISOString()} ${l}`) });
    await kubelet.start();
    const v = valuesFile(PROCESS_KUBELET_OPERATOR_VALUES);
    try {
      const out = await helmOk(['install', 'conflux-operator', OPERATOR_CHART, '--namespace', OP_NS, '--values', v.path, '--wait', '--timeout', '5m']);
      expect(out).toContain('STATUS: deployed');
      // NOTES.txt tells the user what to do next.
      expect(out).toContain('helm install demo charts/conflux-cluster');
    } finally {
      v.cleanup();
    }
    const pods = await list('pods', OP_NS, 'app.kubernetes.io/instance=conflux-operator');
    expect(pods.filter((p) => p.status?.phase === 'Running')).toHaveLength(2);
    // One of them holds the Lease.
    const lease = await waitFor('the operator Lease held', async () => {
      const l = await getJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', 'conflux-operator', '-n', OP_NS]).catch(() => null);
      return l?.spec.holderIdentity ? l : null;
    }, 2 * MIN, 500);
    expect(pods.map((p) => p.metadata.name)).toContain(lease.spec.holderIdentity);

    await helmOk(['install', 'demo', CLUSTER_CHART, '--namespace', CLUSTER_NS, '--wait', '--timeout', '2m']);
    const cluster = await waitFor('ConfluxCluster demo Available with 3 voters', async () => {
      const c = await getJson<Obj>(['get', 'confluxcluster', 'demo', '-n', CLUSTER_NS]);
      const available = (c.status?.conditions ?? []).some((x: { type: string; status: string }) => x.type === 'Available' && x.status === 'True');
      const voters = (c.status?.members ?? []).filter((m: { role: string; healthy: boolean }) => m.role === 'voter' && m.healthy).length;
      return available && voters === 3 ? c : null;
    }, 6 * MIN, 1000);
    expect(cluster.status.leader).toMatch(/^demo-[0-2]$/);
    // The chart's RBAC is enough for everything the operator did (its watches included).
    for (const p of pods) expect(kubelet.logs(OP_NS, p.metadata.name), p.metadata.name).not.toMatch(/forbidden/i);
  }, 15 * MIN);

  it('Prometheus scrapes the pods as the chart\'s monitors would; promtool accepts the deployed operator\'s and nodes\' /metrics', async () => {
    const nodePods = await list('pods', CLUSTER_NS, 'app.kubernetes.io/name=conflux,app.kubernetes.io/component=node');
    const operatorPods = await list('pods', OP_NS, 'app.kubernetes.io/instance=conflux-operator');
    expect(nodePods).toHaveLength(3);
    // Pod addresses are the kubelet's 127.x addresses: nothing here dials a Service ClusterIP.
    const nodeTargets = nodePods.map((p) => `${p.status.podIP}:7070`);
    const operatorTargets = operatorPods.map((p) => `${p.status.podIP}:8080`);
    for (const t of [...nodeTargets, ...operatorTargets]) expect(t).toMatch(/^127\.\d+\.\d+\.\d+:\d+$/);
    const known = /^(conflux_operator_)?nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    for (const t of [nodeTargets[0]!, operatorTargets[0]!]) {
      const { status, findings } = promtoolCheckMetrics(await (await fetch(`http://${t}/metrics`)).text());
      expect([0, 3]).toContain(status);
      expect(findings.filter((f) => !known.test(f))).toEqual([]);
    }
    // The labels the PodMonitor's relabeling and the ServiceMonitor give.
    prom = new TestPrometheus(join(dir, 'prometheus'), [
      { name: 'conflux-nodes', groups: [{ targets: nodeTargets, labels: { namespace: CLUSTER_NS, conflux_cluster: 'demo' } }] },
      { name: 'conflux-operator', groups: [{ targets: operatorTargets, labels: { namespace: OP_NS } }] },
    ], [ALERTS_PATH]);
    await prom.start();
    const leaders = await waitFor('one leader seen by Prometheus', async () => {
      const s = await prom!.query('sum by (conflux_cluster) (conflux_raft_is_leader)');
      return s.length === 1 && s[0]!.value[1] === '1' ? s : null;
    }, 2 * MIN, 500);
    expect(leaders[0]!.metric).toEqual({ conflux_cluster: 'demo' });
    // Both operator replicas scraped, one of them leading.
    const operators = await waitFor('both operators scraped, one leading', async () => {
      const s = await prom!.query('conflux_operator_is_leader');
      return s.length === 2 && s.filter((x) => x.value[1] === '1').length === 1 ? s : null;
    }, MIN, 500);
    expect(operators.map((x) => x.value[1]).sort()).toEqual(['0', '1']);
    // A healthy cluster: every rule evaluates, and no alert is pending or firing.
    await waitFor('three healthy voters seen', async () => (await prom!.query('sum(conflux_member_healthy{role="voter"}) == 3')).length === 1, MIN, 500);
    // (The first evaluations may run before every target was scraped once: wait for them to settle.)
    let rules: Awaited<ReturnType<TestPrometheus['rules']>> = [];
    await waitFor('every rule evaluated ok and inactive', async () => {
      rules = await prom!.rules();
      return rules.length === alertRules().length && rules.every((x) => x.health === 'ok' && x.state === 'inactive');
    }, MIN, 500).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(rules.map((r) => [r.name, r.health, r.state]))}`);
    });
    await prom.stop();
    prom = null;
  }, 5 * MIN);

  it('helm upgrade with a changed value rolls the operator out', async () => {
    const before = (await list('pods', OP_NS, 'app.kubernetes.io/instance=conflux-operator')).map((p) => p.metadata.name).sort();
    const v = valuesFile({ ...PROCESS_KUBELET_OPERATOR_VALUES, operator: { ...PROCESS_KUBELET_OPERATOR_VALUES.operator, logLevel: 'debug' } });
    try {
      const out = await helmOk(['upgrade', 'conflux-operator', OPERATOR_CHART, '--namespace', OP_NS, '--values', v.path, '--wait', '--timeout', '5m']);
      expect(out).toContain('REVISION: 2');
    } finally {
      v.cleanup();
    }
    const after = await waitFor('only new operator pods, running', async () => {
      const pods = await list('pods', OP_NS, 'app.kubernetes.io/instance=conflux-operator');
      const names = pods.map((p) => p.metadata.name);
      return pods.length === 2 && names.every((n) => !before.includes(n)) && pods.every((p) => p.status?.phase === 'Running') ? pods : null;
    }, 5 * MIN, 1000);
    for (const p of after) expect(p.spec.containers[0].args).toContain('--log-level=debug');
    // The new operators keep the cluster: still Available.
    const c = await getJson<Obj>(['get', 'confluxcluster', 'demo', '-n', CLUSTER_NS]);
    expect((c.status?.conditions ?? []).find((x: { type: string }) => x.type === 'Available')?.status).toBe('True');
  }, 8 * MIN);

  it('helm uninstall leaves only what is documented: the CRD, the PVCs, the Lease', async () => {
    await helmOk(['uninstall', 'demo', '--namespace', CLUSTER_NS, '--wait', '--timeout', '3m']);
    // The ConfluxCluster's objects go with it (owner references), except the PVCs (whenDeleted: Retain).
    await waitFor('the cluster objects garbage-collected', async () => {
      const left = [
        ...(await list('statefulsets', CLUSTER_NS)),
        ...(await list('services', CLUSTER_NS)),
        ...(await list('poddisruptionbudgets', CLUSTER_NS)),
        ...(await list('secrets', CLUSTER_NS, 'app.kubernetes.io/instance=demo')),
        ...(await list('pods', CLUSTER_NS)),
        ...(await list('confluxclusters', CLUSTER_NS)),
      ];
      return left.length === 0;
    }, 4 * MIN, 1000);
    const pvcs = await list('persistentvolumeclaims', CLUSTER_NS);
    expect(pvcs.map((p) => p.metadata.name).sort()).toEqual(['data-demo-0', 'data-demo-1', 'data-demo-2']);

    await helmOk(['uninstall', 'conflux-operator', '--namespace', OP_NS, '--wait', '--timeout', '3m']);
    const selector = 'app.kubernetes.io/instance=conflux-operator';
    await waitFor('the operator release gone', async () => {
      const left = [];
      for (const kind of ['deployments', 'replicasets', 'pods', 'services', 'serviceaccounts', 'roles', 'rolebindings', 'poddisruptionbudgets', 'configmaps']) {
        left.push(...(await list(kind, OP_NS, selector)));
      }
      for (const kind of ['clusterroles', 'clusterrolebindings']) left.push(...(await getJson<{ items: Obj[] }>(['get', kind, '-l', selector])).items);
      return left.length === 0;
    }, 3 * MIN, 1000);
    // What stays, as charts/README.md says.
    expect((await getJson<Obj>(['get', 'crd', 'confluxclusters.conflux.io'])).metadata.name).toBe('confluxclusters.conflux.io');
    expect((await getJson<Obj>(['get', 'lease', 'conflux-operator', '-n', OP_NS])).metadata.name).toBe('conflux-operator');
    // Helm's own release records are gone too, and no pod of either release runs on the kubelet.
    expect(await list('secrets', OP_NS, 'owner=helm')).toEqual([]);
    expect(await list('secrets', CLUSTER_NS, 'owner=helm')).toEqual([]);
    await waitFor('no pod left on the kubelet', () => kubelet!.runningPods().filter((p) => p.namespace === OP_NS || p.namespace === CLUSTER_NS).length === 0, MIN, 500);
  }, 8 * MIN);
});
