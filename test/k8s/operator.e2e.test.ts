// The operator end to end: a real control plane (kube-apiserver, controller-manager, scheduler,
// etcd; test/k8s/control-plane.ts), the process kubelet running the pods (test/k8s/kubelet), and
// the operator as a local process. Scenarios run in order on one ConfluxCluster (issue #7):
//   1. kubectl apply -f operator/examples/confluxcluster.yaml -> Available, 3 voters, reads/writes
//   2+3. scale 3 -> 5 -> 3 while a client writes continuously; the operator crashes (exits at the
//        injected point, as a SIGKILL would) right after adding a member and right after removing
//        one, and a fresh operator process finishes the work
//   2b. the same scalings with the operator process SIGKILLed as soon as it logs a membership change
//   4. delete the leader pod -> a new leader; the pod returns as the same member (incarnation)
//   5. delete a pod with its PVC -> the member is replaced (new incarnation), Available again
//   6. delete the ConfluxCluster -> every owned object is garbage-collected
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadYaml } from '@kubernetes/client-node';
import { waitFor } from '../support/process-cluster.js';
import type { ControlPlane } from './control-plane.js';
import type { ProcessKubelet } from './kubelet/kubelet.js';
import type { KubeRest } from './kubelet/rest.js';
import { ClusterView, ContinuousWriter, lostWrites, sleep } from './support/cluster-helpers.js';
import { printLogsIfFailed, startE2eBase, stopAll } from './support/e2e-lifecycle.js';
import { OperatorProcess } from './support/operator-process.js';

const REPO = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(REPO, 'operator/examples/confluxcluster.yaml');
const example = loadYaml<{ metadata: { name: string; namespace: string } }>(readFileSync(EXAMPLE, 'utf8'));
const NAME = example.metadata.name;
const NS = example.metadata.namespace;

const MIN = 60_000;

describe('operator end to end (real control plane, process kubelet)', () => {
  let cp: ControlPlane;
  let kubelet: ProcessKubelet;
  let operator: OperatorProcess;
  let view: ClusterView;
  let dir: string;
  const kubeletLog: string[] = [];

  const kubectl = (...args: string[]) => cp.kubectlOk(args);
  const startOperator = async (extraArgs: string[] = []) => {
    operator = await OperatorProcess.start({ kubeconfigPath: cp.kubeconfigPath, logFile: join(dir, 'operator.log'), extraArgs });
    return operator;
  };
  const converged = (voters: number, timeoutMs = 4 * MIN) => waitFor(`${voters} healthy voters, Available`, () => view.converged(voters), timeoutMs, 500);
  const tokenP = () => view.adminToken();
  const firstEndpoint = async () => [...(await view.endpoints()).values()][0]!;

  beforeAll(async () => {
    let rest: KubeRest;
    ({ dir, cp, kubelet, rest } = await startE2eBase('operator-e2e-', kubeletLog));
    view = new ClusterView(rest, NS, NAME);
    await startOperator();
  }, 5 * MIN);

  afterAll(() => stopAll({ operator, kubelet, cp, dir, kubeletLog }), 2 * MIN);

  afterEach((ctx) => printLogsIfFailed(ctx.task.result?.state, { operator, kubelet, kubeletLog }));

  it('1. kubectl apply of the example: Available with 3 voters, writes and reads through the pods', async () => {
    await kubectl('apply', '-f', EXAMPLE);
    const c = await converged(3);
    expect(c.status?.clusterId).toBeTruthy();
    expect(c.status?.leader).toMatch(new RegExp(`^${NAME}-[0-2]$`));
    const token = await tokenP();
    const endpoints = [...(await view.endpoints()).values()];
    expect(endpoints).toHaveLength(3);
    // Every pod's address is its own 127.x address; no Service ClusterIP is involved.
    for (const url of endpoints) expect(url).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+:7070$/);
    for (const [i, url] of endpoints.entries()) {
      const r = await waitFor(`write through ${url}`, async () => {
        const res = await fetch(`${url}/v1/kv/e2e/hello-${i}`, { method: 'PUT', body: `world-${i}`, headers: { authorization: `Bearer ${token}` } });
        return res.status === 503 ? null : res;
      }, MIN, 200);
      expect([200, 201]).toContain(r.status);
    }
    for (const url of endpoints) {
      for (let i = 0; i < endpoints.length; i++) {
        const r = await fetch(`${url}/v1/kv/e2e/hello-${i}`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(`world-${i}`);
      }
    }
    // Without a token the node refuses: the generated admin token really protects it.
    expect((await fetch(`${endpoints[0]}/v1/kv/e2e/hello-0`)).status).toBe(401);
  }, 6 * MIN);

  it('2+3. scale 3 -> 5 -> 3 under continuous writes, the operator crashing after a member change each way', async () => {
    const token = await tokenP();
    // The writer uses pods 0-2 only: they stay through both scalings.
    const stable = async () => [...(await view.endpoints()).entries()].filter(([n]) => /-[0-2]$/.test(n)).map(([, u]) => u);
    const writer = new ContinuousWriter(stable, token, 'e2e/scale');
    writer.start();
    try {
      await sleep(2000);
      // Up: the operator exits right after adding a member (before the scale finishes); a new one takes over.
      await operator.stop();
      await startOperator(['--crash-after=add-learner']);
      await kubectl('scale', `confluxcluster/${NAME}`, '--replicas=5');
      expect(await waitFor('operator crash after add-learner', async () => (operator.running ? null : { code: await operator.exited }), 4 * MIN, 200)).toEqual({ code: 3 });
      await startOperator();
      await converged(5);
      expect((await view.members()).members.filter((m) => m.role === 'voter')).toHaveLength(5);

      // Down: the operator exits right after removing a member (before the StatefulSet shrinks).
      await operator.stop();
      await startOperator(['--crash-after=remove']);
      await kubectl('scale', `confluxcluster/${NAME}`, '--replicas=3');
      expect(await waitFor('operator crash after remove', async () => (operator.running ? null : { code: await operator.exited }), 4 * MIN, 200)).toEqual({ code: 3 });
      await startOperator();
      await converged(3);
      await sleep(2000);
    } finally {
      await writer.stop();
    }
    const report = writer.report;
    console.log(`scale 3-5-3 with operator crashes: ${report.acknowledged.size} writes acknowledged in ${report.attempts} attempts; failures ${JSON.stringify(Object.fromEntries(report.failures))}`);
    expect(report.acknowledged.size).toBeGreaterThan(20);
    // Only 503s ("not applied, retry") may be seen by the client.
    expect(Object.fromEntries([...report.failures].filter(([k]) => k !== '503'))).toEqual({});
    expect(await lostWrites(await firstEndpoint(), token, report.acknowledged)).toEqual([]);

    const members = await view.members();
    expect(members.members.map((m) => m.id).sort()).toEqual([`${NAME}-0`, `${NAME}-1`, `${NAME}-2`]);
    // The removed pods are gone, and their PVCs with them (whenScaled: Delete), PVs and directories too.
    await waitFor('pods 3 and 4 gone', async () => (await view.pods()).length === 3, 2 * MIN, 500);
    await waitFor('PVCs of pods 3 and 4 deleted', async () => {
      const names = (await view.claims()).map((c) => c.metadata!.name).sort();
      return JSON.stringify(names) === JSON.stringify([`data-${NAME}-0`, `data-${NAME}-1`, `data-${NAME}-2`]);
    }, 2 * MIN, 500);
    await waitFor('their volumes deleted', async () => (await view.volumes()).filter((v) => v.spec?.claimRef?.name?.startsWith(`data-${NAME}-`)).length === 3, 2 * MIN, 500);
  }, 15 * MIN);

  it('2b. SIGKILL of the operator process right after a membership change, growing and shrinking', async () => {
    const token = await tokenP();
    const stable = async () => [...(await view.endpoints()).entries()].filter(([n]) => /-[0-2]$/.test(n)).map(([, u]) => u);
    const writer = new ContinuousWriter(stable, token, 'e2e/kill');
    writer.start();
    // The operator logs each change once the leader accepted it; it is killed as soon as the line appears.
    const killAfterChange = async (changes: RegExp) => {
      const from = operator.logs().length;
      await waitFor(`operator log: membership changed ${changes.source}`, () => {
        const line = operator.logs().slice(from).split('\n').find((l) => l.includes('membership changed') && changes.test(l));
        return line ?? null;
      }, 4 * MIN, 20);
      await operator.kill();
      await startOperator();
    };
    try {
      await kubectl('scale', `confluxcluster/${NAME}`, '--replicas=5');
      await killAfterChange(/"change":"(add-learner|promote)"/);
      await converged(5);
      await kubectl('scale', `confluxcluster/${NAME}`, '--replicas=3');
      await killAfterChange(/"change":"remove"/);
      await converged(3);
    } finally {
      await writer.stop();
    }
    const report = writer.report;
    console.log(`scale 3-5-3 with SIGKILLed operators: ${report.acknowledged.size} writes acknowledged in ${report.attempts} attempts; failures ${JSON.stringify(Object.fromEntries(report.failures))}`);
    expect(Object.fromEntries([...report.failures].filter(([k]) => k !== '503'))).toEqual({});
    expect(await lostWrites(await firstEndpoint(), token, report.acknowledged)).toEqual([]);
    expect((await view.members()).members.map((m) => m.id).sort()).toEqual([`${NAME}-0`, `${NAME}-1`, `${NAME}-2`]);
    await waitFor('pods 3 and 4 gone again', async () => (await view.pods()).length === 3, 2 * MIN, 500);
  }, 12 * MIN);

  it('4. deleting the leader pod: a new leader, the pod returns and rejoins as the same member', async () => {
    const before = await view.members();
    const leader = before.leaderId;
    const incarnation = before.members.find((m) => m.id === leader)!.incarnation;
    const oldUid = (await view.pod(leader))!.metadata!.uid;
    await kubectl('delete', 'pod', leader, '-n', NS, '--wait=false');
    await waitFor('another leader', async () => {
      const c = await view.cluster();
      const l = c?.status?.leader;
      return l !== undefined && l !== leader && c?.status?.conditions?.find((x) => x.type === 'Available')?.status === 'True';
    }, 3 * MIN, 500);
    await waitFor(`${leader} re-created`, async () => {
      const p = await view.pod(leader);
      return p !== null && p.metadata!.uid !== oldUid;
    }, 3 * MIN, 500);
    await converged(3);
    const after = await view.members();
    const member = after.members.find((m) => m.id === leader);
    expect(member?.incarnation).toBe(incarnation);
    expect(member?.role).toBe('voter');
    expect(after.members).toHaveLength(3);
    const token = await tokenP();
    const r = await fetch(`${await firstEndpoint()}/v1/kv/e2e/hello-0`, { headers: { authorization: `Bearer ${token}` } });
    expect(await r.text()).toBe('world-0');
  }, 8 * MIN);

  it('5. deleting a pod with its PVC: the member is replaced by a new incarnation, Available again', async () => {
    const before = await view.members();
    const victim = before.members.find((m) => m.id !== before.leaderId)!;
    const claim = `data-${victim.id}`;
    const oldClaimUid = (await view.claims()).find((c) => c.metadata!.name === claim)!.metadata!.uid;
    await kubectl('delete', 'pvc', claim, '-n', NS, '--wait=false');
    await kubectl('delete', 'pod', victim.id, '-n', NS, '--wait=false');
    await waitFor(`a new PVC ${claim}`, async () => {
      const c = (await view.claims()).find((x) => x.metadata!.name === claim);
      return c !== undefined && c.metadata!.uid !== oldClaimUid && c.status?.phase === 'Bound';
    }, 4 * MIN, 500);
    await waitFor(`${victim.id} a member again with a new incarnation`, async () => {
      const m = (await view.members()).members.find((x) => x.id === victim.id);
      return m !== undefined && m.incarnation !== victim.incarnation && m.role === 'voter';
    }, 4 * MIN, 500);
    await converged(3);
    const token = await tokenP();
    const url = (await view.endpoints()).get(victim.id)!;
    const r = await waitFor('the replaced member serves', async () => {
      const res = await fetch(`${url}/v1/kv/e2e/hello-1`, { headers: { authorization: `Bearer ${token}` } });
      return res.status === 503 ? null : res;
    }, MIN, 200);
    expect(await r.text()).toBe('world-1');
  }, 10 * MIN);

  it('6. deleting the ConfluxCluster garbage-collects every owned object', async () => {
    const c = (await view.cluster())!;
    const uid = c.metadata.uid!;
    await kubectl('delete', 'confluxcluster', NAME, '-n', NS, '--wait=true', '--timeout=120s');
    const owned = async () => {
      const kinds = ['/apis/apps/v1/namespaces/NS/statefulsets', '/api/v1/namespaces/NS/services', '/api/v1/namespaces/NS/secrets', '/apis/policy/v1/namespaces/NS/poddisruptionbudgets', '/api/v1/namespaces/NS/pods'];
      const left: string[] = [];
      for (const k of kinds) {
        const list = await view.rest.get<{ items: { metadata: { name: string; ownerReferences?: { uid: string }[] } }[] }>(k.replace('NS', NS));
        for (const o of list.items) if ((o.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) left.push(`${k.split('/').pop()}/${o.metadata.name}`);
      }
      left.push(...(await view.pods()).map((p) => `pods/${p.metadata!.name}`));
      return left;
    };
    await waitFor('owned objects gone', async () => (await owned()).length === 0, 3 * MIN, 500);
    expect(await owned()).toEqual([]);
    // whenDeleted: Retain keeps the data volumes (documented); the test removes them itself.
    const claims = (await view.claims()).map((x) => x.metadata!.name!);
    expect(claims.sort()).toEqual([`data-${NAME}-0`, `data-${NAME}-1`, `data-${NAME}-2`]);
    await kubectl('delete', 'pvc', '-n', NS, ...claims, '--wait=true', '--timeout=60s');
    await waitFor('the kubelet released every volume', async () => (await view.volumes()).length === 0, MIN, 500);
    expect(kubelet.runningPods()).toEqual([]);
  }, 6 * MIN);
});
